"""SR 11.4 / 11.1 validation: request-level checks in order, and every device in exactly one place."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

import crafted as c
from hanota.db.models import DistributionJob, RequestDevice, ServiceRequest
from hanota.dsp.update_firmware import (
    ACCEPTED,
    SR_11_1,
    SR_11_4,
    record,
    validate,
)
from hanota.errors import ValidationError
from hanota.firmware import build_image


@pytest.fixture
def estate(engine: Engine) -> Engine:
    c.build(engine)
    return engine


def run(engine: Engine, ids: list[str], *, sender: str = c.S1, image: bytes = c.NEW_IMAGE,
        version: str = c.NEW_VERSION, commit: bool = False, rid: str = "x:y:1") -> tuple[str, dict[str, str]]:  # fmt: skip
    with engine.begin() as conn:
        v = validate(
            SR_11_4,
            conn,
            sender=sender,
            image_bytes=image,
            firmware_version=version,
            device_ids=ids,
            now=c.NOW,
        )
        if commit:
            record(
                conn, v, request_id=rid, sender=sender, image_bytes=image, firmware_version=version, now=c.NOW
            )
    return v.response_code, {o.device_id: o.outcome for o in v.outcomes}


def test_mixed_list_puts_every_device_in_its_expected_list(estate: Engine) -> None:
    ids = [e.device_id for e in c.MIXED]
    code, outcomes = run(estate, ids)
    assert outcomes == {e.device_id: e.outcome for e in c.MIXED}
    assert code == "W110401"


def test_duplicates_are_answered_once_in_request_order(estate: Engine) -> None:
    code, outcomes = run(estate, [c.P_OK, c.UNKNOWN, c.P_OK, c.UNKNOWN, c.I_OK])
    assert list(outcomes) == [c.P_OK, c.UNKNOWN, c.I_OK]
    assert code == "W110401"


def test_all_accepted_is_i0(estate: Engine) -> None:
    assert run(estate, [c.P_OK, c.I_OK])[0] == "I0"


def test_the_gas_supplier_is_interested_too(estate: Engine) -> None:
    """S2 supplies gas on H1: it may update H1's displays as well (A-008: both requests go through)."""
    assert run(estate, [c.P_OK, c.I_OK], sender=c.S2)[0] == "I0"


def test_an_ended_registration_gives_no_interest(estate: Engine) -> None:
    assert run(estate, [c.P_NOTMINE], sender=c.S2) == ("E110405", {c.P_NOTMINE: "InvalidDeviceIDList"})


def test_no_device_left_is_an_error(estate: Engine) -> None:
    assert run(estate, [c.UNKNOWN, c.E1])[0] == "E110405"


@pytest.mark.parametrize(
    ("image", "version", "code", "message"),
    [
        (b"not an OTA file at all", c.NEW_VERSION, "E110401", "not a valid OTA file"),
        (c.NEW_IMAGE + b"x", c.NEW_VERSION, "E110401", "not a valid OTA file"),
        (c.UNLISTED_IMAGE, c.NEW_VERSION, "E110402", "not on the CPL"),
        (c.WITHDRAWN_IMAGE, c.WITHDRAWN_VERSION, "E110402", "on the CPL as Withdrawn"),
        (c.NEW_IMAGE, c.OLD_VERSION, "E110403", "not the CPL entry's version"),
    ],
)
def test_request_level_checks(estate: Engine, image: bytes, version: str, code: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as e:
        run(estate, [c.P_OK], image=image, version=version)
    assert e.value.code == code


def test_image_for_another_device_type_is_refused(estate: Engine) -> None:
    """The CPL entry of the image must be for the SR's device types (11.1 cannot carry a PPMID image)."""
    signed = build_image(
        manufacturer_code=0x121D, image_type=0x0084, file_version=0x0A000002,
        manufacturer_image=b"crafted PPMID firmware " + b"new" * 64, header_string="crafted PPMID image",
        minimum_hardware_version=c.HW_LO, maximum_hardware_version=c.HW_HI, supplier_signature=b"s" * 64,
    )  # fmt: skip
    with estate.begin() as conn, pytest.raises(ValidationError, match=r"not a target of SR 11\.1") as e:
        validate(SR_11_1, conn, sender=c.S1, image_bytes=signed, firmware_version=c.NEW_VERSION,
                 device_ids=[c.E1], now=c.NOW)  # fmt: skip
    assert e.value.code == "E110106"


def test_header_must_match_the_cpl_entry(estate: Engine) -> None:
    other_type = build_image(
        manufacturer_code=0x121D, image_type=0x0099, file_version=1,
        manufacturer_image=b"crafted PPMID firmware " + b"new" * 64, header_string="crafted PPMID image",
        minimum_hardware_version=c.HW_LO, maximum_hardware_version=c.HW_HI,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="image type") as e:
        run(estate, [c.P_OK], image=other_type)
    assert e.value.code == "E11"


def test_header_hardware_range_excludes_devices(estate: Engine) -> None:
    """A device inside the CPL range but outside the image header's range is not applicable."""
    _, outcomes = run(estate, [c.P_OK, c.I_OFFHDR], image=c.NARROW_IMAGE, version=c.NARROW_VERSION)
    assert outcomes == {
        c.P_OK: "NotApplicableFirmwareDeviceIDList",
        c.I_OFFHDR: "NotApplicableFirmwareDeviceIDList",
    }


def test_same_sender_same_image_in_flight_is_other_request_in_progress(estate: Engine) -> None:
    run(estate, [c.P_OK, c.I_OK], commit=True, rid="a:b:1")
    _, outcomes = run(estate, [c.P_OK, c.P_GAS])
    assert outcomes == {c.P_OK: "OtherRequestInProgressList", c.P_GAS: ACCEPTED}
    # another supplier's request for the same device is forwarded
    assert run(estate, [c.P_OK], sender=c.S2)[1] == {c.P_OK: ACCEPTED}


def test_record_writes_request_outcomes_and_one_job_per_region(estate: Engine) -> None:
    ids = [e.device_id for e in c.MIXED]
    run(estate, ids, commit=True, rid="r:1:1")
    with estate.connect() as conn:
        req = conn.execute(select(ServiceRequest)).one()
        rows = conn.execute(select(RequestDevice.device_id, RequestDevice.outcome, RequestDevice.state)).all()
        jobs = conn.execute(select(DistributionJob.region, DistributionJob.target_count)).all()
        n = conn.execute(select(func.count()).select_from(RequestDevice)).scalar_one()
    assert req.status == "accepted" and req.response_code == "W110401"
    assert req.device_count == len(c.MIXED) == n
    assert req.accepted_count == 3
    assert {d: (o, s) for d, o, s in rows} == {
        e.device_id: (e.outcome, "accepted" if e.outcome == ACCEPTED else "rejected") for e in c.MIXED
    }
    assert jobs == [("Central", 3)]


def test_a_failure_before_commit_leaves_nothing(estate: Engine) -> None:
    ids = [e.device_id for e in c.MIXED]
    with pytest.raises(RuntimeError), estate.begin() as conn:  # noqa: PT012 - the crash is the point
        v = validate(SR_11_4, conn, sender=c.S1, image_bytes=c.NEW_IMAGE, firmware_version=c.NEW_VERSION,
                     device_ids=ids, now=c.NOW)  # fmt: skip
        record(conn, v, request_id="x:y:9", sender=c.S1, image_bytes=c.NEW_IMAGE,
               firmware_version=c.NEW_VERSION, now=c.NOW)  # fmt: skip
        raise RuntimeError("crash after the inserts, before the commit")
    with estate.connect() as conn:
        for table in (ServiceRequest, RequestDevice, DistributionJob):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
