"""What an estate holds, in numbers (a handful of GROUP BY queries)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Engine, text


@dataclass
class EstateSummary:
    homes: int = 0
    hubs: int = 0
    hubs_without_han_ota: int = 0
    devices: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    by_region: dict[str, int] = field(default_factory=dict)
    by_type_status: dict[str, dict[str, int]] = field(default_factory=dict)
    ihd_without_firmware: int = 0
    prepayment_homes: int = 0
    gas_homes: int = 0
    homes_two_suppliers: int = 0
    users_by_role: dict[str, int] = field(default_factory=dict)
    cpl_by_status: dict[str, int] = field(default_factory=dict)
    cpl_entries: int = 0


def summarise(engine: Engine) -> EstateSummary:
    s = EstateSummary()
    with engine.connect() as c:
        s.homes = c.execute(text("SELECT count(*) FROM premises")).scalar_one()
        s.hubs = c.execute(text("SELECT count(*) FROM comms_hubs")).scalar_one()
        s.hubs_without_han_ota = c.execute(
            text("SELECT count(*) FROM comms_hubs WHERE han_ota = :f"), {"f": False}
        ).scalar_one()
        s.prepayment_homes = c.execute(
            text("SELECT count(*) FROM premises WHERE prepayment = :t"), {"t": True}
        ).scalar_one()
        by_ts: dict[str, dict[str, int]] = defaultdict(dict)
        for dtype, status, n in c.execute(
            text("SELECT device_type, coalesce(smi_status, '-'), count(*) FROM devices GROUP BY 1, 2")
        ):
            by_ts[dtype][status] = n
        s.by_type_status = {k: dict(sorted(v.items())) for k, v in sorted(by_ts.items())}
        s.by_type = {k: sum(v.values()) for k, v in s.by_type_status.items()}
        s.devices = sum(s.by_type.values())
        s.by_region = dict(
            c.execute(
                text(
                    "SELECT h.region, count(*) FROM devices d JOIN comms_hubs h ON h.chf_id = d.hub_id "
                    "GROUP BY h.region ORDER BY h.region"
                )
            ).all()
        )
        s.ihd_without_firmware = c.execute(
            text("SELECT count(*) FROM devices WHERE device_type = 'IHD' AND firmware_version IS NULL")
        ).scalar_one()
        s.gas_homes = c.execute(
            text("SELECT count(DISTINCT premises_id) FROM devices WHERE device_type = 'GSME'")
        ).scalar_one()
        s.homes_two_suppliers = c.execute(
            text(
                "SELECT count(*) FROM (SELECT d.premises_id FROM supplier_registrations r "
                "JOIN devices d ON d.device_id = r.device_id WHERE r.effective_to IS NULL "
                "GROUP BY d.premises_id HAVING count(DISTINCT r.supplier_eui) = 2) x"
            )
        ).scalar_one()
        roles: dict[str, int] = defaultdict(int)
        for (role_str,) in c.execute(text("SELECT roles FROM users")):
            for r in role_str.split():
                roles[r] += 1
        s.users_by_role = dict(sorted(roles.items()))
        s.cpl_by_status = dict(
            c.execute(text("SELECT status, count(*) FROM cpl_entries GROUP BY 1 ORDER BY 1")).all()
        )
        s.cpl_entries = sum(s.cpl_by_status.values())
    return s
