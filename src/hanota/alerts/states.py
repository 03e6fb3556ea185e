"""Where an alert of the outbox stands in its delivery (`alert_outbox`: `delivered_at`, `dead_at`,
`mailbox`), as the SSI's alert inbox filters them and `hanota.alerts.delivery` moves them.

These words are the alert delivery's, not a distribution job's (`hanota.lifecycle.JobStatus` happens to
use 'pending' and 'dead' too): an alert is pending until its endpoint takes it, dead-lettered after its
tries (`hanota alerts redeliver` makes it pending again), or in the mailbox when its User has no endpoint.
"""

from __future__ import annotations

from enum import StrEnum


class AlertDelivery(StrEnum):
    """An alert's delivery, in the order the SSI's inbox offers them as filters."""

    PENDING = "pending"  # not delivered, not dead-lettered, not in the mailbox: waits for its next try
    DEAD = "dead"  # dead-lettered (`dead_at`) and not delivered since
    MAILBOX = "mailbox"  # not delivered: its User has no endpoint and pulls it from the mailbox
    DELIVERED = "delivered"  # an endpoint answered 2xx (`delivered_at`)
