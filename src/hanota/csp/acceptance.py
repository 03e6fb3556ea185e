"""A CSP gateway for one region: accepts distributions, rejects targets it does not recognise, and records
accepted work in its durable queue (`csp_targets`, state `queued`). No HTTP here: its refusals are
`DistributionRefused` errors and `Rejection` values, which `hanota.csp.gateway` (the HTTP interface) answers.

It checks each target against what the file says of it (`hanota.csp.interface.Target`: the inventory's facts
about the hub and the device at the time of sending, which stand for the CSP's own hub records): an unknown
CHF, a hub in another region, or a device not on that hub's HAN is rejected. The gateway reads and writes
only its own `csp_*` tables, so it may run on a database of its own (`hanota csp serve`).

4G Comms Hubs: a hub that DUIS reports in `4G <region>` is served by the gateway of `<region>`, over that
region's 4G WAN link in the network model (`hanota.network`, `wan.lte`). So there are still three gateways,
three HTTP interfaces, three event streams and one distribution job per geographic region and request; the
DSP routes a 4G hub's devices by `hanota.lifecycle.gateway_region` ('4G Central' → 'Central'). Why not
separate 4G gateways: the 4G service is a new network beside the old ones in the same regions (the DCC's
CH&N consultation runs 2G/3G and 4G hubs "in parallel in Central and South"), and one gateway per region
keeps the CSP HTTP boundary, its keys, URLs and event cursors as they are, with the difference that matters
for delivery (a faster WAN with its own capacity) modelled where delivery is modelled, in the network.
"""

from __future__ import annotations

import base64
import binascii

from sqlalchemy import Engine, insert, select

from hanota.clock import Clock
from hanota.csp.interface import Distribution, DistributionAnswer, Rejection, RejectReason, Target
from hanota.db.bulk import insert_rows, ts
from hanota.db.models import CSPDistribution
from hanota.errors import HTTPRefusal
from hanota.lifecycle import Region, TargetState, gateway_region

REGIONS: tuple[str, ...] = tuple(r.value for r in Region)


class DistributionRefused(HTTPRefusal):
    """The whole distribution is refused (its image is not base64); the HTTP layer answers `http_status`.
    A target the gateway does not recognise is not an error: it is a `Rejection` in the answer."""

    http_status = 422


class Gateway:
    def __init__(self, region: str, engine: Engine, clock: Clock, key: bytes) -> None:
        if region not in REGIONS:
            raise ValueError(f"unknown CSP region {region!r}")
        self.region = region
        self.engine = engine
        self.clock = clock
        self.key = key

    def accept(self, dist: Distribution) -> DistributionAnswer:
        """Validate the targets, queue the accepted ones; idempotent by distribution_id."""
        try:
            image = base64.b64decode(dist.image, validate=True)
        except (binascii.Error, ValueError) as e:
            raise DistributionRefused("image is not base64") from e
        now = self.clock.now()
        with self.engine.begin() as conn:
            previous = conn.execute(
                select(CSPDistribution.answer).where(
                    CSPDistribution.region == self.region,
                    CSPDistribution.distribution_id == dist.distribution_id,
                )
            ).scalar_one_or_none()
            if previous is not None:
                return DistributionAnswer.model_validate_json(previous)
            rejected, accepted = self._check(dist)
            answer = DistributionAnswer(
                distribution_id=dist.distribution_id,
                region=self.region,
                accepted=len(accepted),
                rejected=rejected,
            )
            pk = conn.execute(
                insert(CSPDistribution)
                .values(
                    region=self.region, distribution_id=dist.distribution_id, request_id=dist.request_id,
                    priority=dist.priority.value, firmware_version=dist.firmware_version,
                    firmware_hash=dist.firmware_hash, image_size=len(image), image=image, received_at=now,
                    accepted_count=len(accepted), answer=answer.model_dump_json(),
                )
                .returning(CSPDistribution.id)
            ).scalar_one()  # fmt: skip
            stamp = ts(now)
            insert_rows(
                conn,
                "csp_targets",
                ("distribution_pk", "device_id", "chf_id", "device_type", "state", "updated_at", "hub_region",
                 "hardware_version"),
                [(pk, t.device_id, t.chf_id, t.device_type, TargetState.QUEUED.value, stamp, t.hub_region,
                  t.hardware_version) for t in accepted],
            )  # fmt: skip
        return answer

    def _check(self, dist: Distribution) -> tuple[list[Rejection], list[Target]]:
        """Each target once (the first of repeated device IDs), rejected with a reason or accepted, from what
        the file says of its hub and its device."""
        rejected: list[Rejection] = []
        accepted: list[Target] = []
        seen: set[str] = set()
        for t in dist.targets:
            if t.device_id in seen:
                continue
            seen.add(t.device_id)
            if t.hub_region is None:
                rejected.append(Rejection(device_id=t.device_id, reason=RejectReason.UNKNOWN_HUB))
            elif gateway_region(t.hub_region) != self.region:
                rejected.append(Rejection(device_id=t.device_id, reason=RejectReason.HUB_NOT_IN_REGION))
            elif t.han_hub_id != t.chf_id:
                rejected.append(Rejection(device_id=t.device_id, reason=RejectReason.DEVICE_NOT_ON_HUB))
            else:
                accepted.append(t)
        return rejected, accepted
