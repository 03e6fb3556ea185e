"""The errors of anomaly detection's operator and User interface (thresholds, quarantine decisions).

Each carries the HTTP status the JSON API answers it with; none of them is a DUIS answer (a quarantined DUIS
request is answered E43, see `hanota.anomaly.guard`)::

    AnomalyError (HanotaError)       400
    ├── NotPermitted                 403  the actor may not do this (not the User itself, not a DCC operator)
    ├── NotFound                     404  no such User, SRV served here, or quarantine event
    ├── OutOfBounds                  422  a threshold or policy value outside the DCC's bounds
    └── AlreadyDecided               409  the quarantined request was already released or deleted
"""

from __future__ import annotations

from hanota.errors import HanotaError


class AnomalyError(HanotaError):
    """Base of the anomaly interface's refusals; `http_status` is what the JSON API answers."""

    http_status = 400


class NotPermitted(AnomalyError):
    http_status = 403


class NotFound(AnomalyError):
    http_status = 404


class OutOfBounds(AnomalyError):
    http_status = 422


class AlreadyDecided(AnomalyError):
    http_status = 409
