"""Threshold anomaly detection and quarantine (SEC; domain.md §6, seed A-007).

The interface other entry points (the JSON API, the CLI, the web SSI) call directly — each function takes
a `Connection` in the caller's transaction and the time from the caller's clock:

- `hanota.anomaly.thresholds`: the model and its defaults (module docstring);
  `effective_thresholds(conn, user_eui)`, `user_threshold`, `set_user_threshold`, `clear_user_threshold`
  (a User on its own, or a DCC operator), `dcc_policy`, `dcc_policies`, `set_dcc_policy`, `reset_dcc_policy`
  (operator only).
- `hanota.anomaly.quarantine`: `list_quarantined`, `get_quarantined`, `signed_request`, `release`, `delete`
  (operator only; the User is told; audited).
- `hanota.anomaly.counting`: rolling windows over hourly buckets, race-free (`window_usage` for a screen).
- `hanota.anomaly.audit`: `list_audit` — who, when, what, why.
- `hanota.anomaly.access`: operators (role DCC) and the JSON API's bearer tokens.
- `hanota.anomaly.guard`: `AnomalyGuard.admit`, the check the DSP runs on every request.

Refusals are `hanota.anomaly.errors` exceptions (NotPermitted, NotFound, OutOfBounds, AlreadyDecided), each
with the HTTP status the JSON API gives it.
"""
