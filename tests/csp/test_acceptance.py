"""What a CSP gateway accepts, from the DSP→CSP file alone: it reads no table of the DSP (its store here has
no Comms Hub and no device), rejects an unknown hub, a hub of another region and a device not on the hub's
HAN, takes a 4G hub of its region, and keeps in its own `csp_targets` what its network runner needs."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import Engine, func, select

from hanota.clock import ManualClock
from hanota.csp.acceptance import Gateway
from hanota.csp.interface import Distribution, PriorityClass, RejectReason, Target, region_key
from hanota.db.models import CommsHub, CSPTarget, Device

HUB, OTHER_HUB = "AA-00-00-00-00-00-00-01", "AA-00-00-00-00-00-00-02"


def _target(n: int, hub_region: str | None, han_hub: str | None, hw: int | None = 0x1111) -> Target:
    return Target(
        device_id=f"BB-00-00-00-00-00-00-{n:02X}", chf_id=HUB, device_type="PPMID",
        hub_region=hub_region, han_hub_id=han_hub, hardware_version=hw,
    )  # fmt: skip


def _dist(targets: list[Target]) -> Distribution:
    return Distribution(
        distribution_id="d-1", request_id="r-1", priority=PriorityClass.HAN, firmware_version="00000002",
        firmware_hash="ab" * 32, image=base64.b64encode(b"image").decode(), targets=targets,
    )  # fmt: skip


@pytest.fixture
def gateway(engine: Engine) -> Gateway:
    return Gateway("Central", engine, ManualClock(), region_key("test-secret", "Central"))


def test_the_gateway_decides_from_the_file_on_a_store_without_the_dsp_s_inventory(gateway: Gateway) -> None:
    """On a store with no Comms Hubs and no devices, each target is accepted or rejected by what the file
    says of its hub and device; a repeated device ID counts once."""
    with gateway.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CommsHub)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(Device)).scalar_one() == 0
    targets = [
        _target(1, "Central", HUB),
        _target(2, "4G Central", HUB),
        _target(3, None, None),
        _target(4, "North", HUB),
        _target(5, "4G South", HUB),
        _target(6, "Central", OTHER_HUB),
        _target(7, "Central", None),
        _target(1, "North", HUB),  # a repeat of device 1: the first one counts
    ]
    answer = gateway.accept(_dist(targets))
    assert answer.accepted == 2
    assert [(r.device_id[-2:], r.reason) for r in answer.rejected] == [
        ("03", RejectReason.UNKNOWN_HUB),
        ("04", RejectReason.HUB_NOT_IN_REGION),
        ("05", RejectReason.HUB_NOT_IN_REGION),
        ("06", RejectReason.DEVICE_NOT_ON_HUB),
        ("07", RejectReason.DEVICE_NOT_ON_HUB),
    ]


def test_the_gateway_keeps_each_accepted_target_s_hub_region_and_hardware_version(gateway: Gateway) -> None:
    """The facts its runner needs (the hub's region, hence 4G or not, and the hardware version) are stored
    with each queued target in `csp_targets`."""
    gateway.accept(_dist([_target(1, "Central", HUB, 0x1211), _target(2, "4G Central", HUB, None)]))
    with gateway.engine.connect() as conn:
        rows = conn.execute(
            select(CSPTarget.device_id, CSPTarget.state, CSPTarget.hub_region, CSPTarget.hardware_version)
            .order_by(CSPTarget.device_id)
        ).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [
        ("BB-00-00-00-00-00-00-01", "queued", "Central", 0x1211),
        ("BB-00-00-00-00-00-00-02", "queued", "4G Central", None),
    ]
