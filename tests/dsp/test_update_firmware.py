"""SR 11.4 / 11.1 validation: request-level checks in order, and every device in exactly one place."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session

import crafted as c
from hanota.db.models import (
    CommsHub,
    CPLEntry,
    Device,
    DistributionJob,
    RequestDevice,
    ServiceRequest,
    SupplierRegistration,
)
from hanota.dsp.update_firmware import (
    ACCEPTED,
    ALREADY_ON_VERSION,
    SR_11_1,
    SR_11_4,
    DeviceOutcome,
    FirmwareSR,
    classify,
    classify_all,
    fetch_facts,
    record,
    validate,
)
from hanota.errors import ValidationError
from hanota.firmware import FirmwareImage, build_image, parse_image
from hanota.inventory.interest import (
    METER_TYPES,
    SENDER_METERS_CTE,
    interested_exists_sql,
    interested_join_sql,
    interested_sql,
    now_param,
)
from hanota.lifecycle import IN_FLIGHT, DeviceState


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
    """Every device of the crafted mixed list lands in the list its case expects, and the request answers
    W110401 (some devices excluded)."""
    ids = [e.device_id for e in c.MIXED]
    code, outcomes = run(estate, ids)
    assert outcomes == {e.device_id: e.outcome for e in c.MIXED}
    assert code == "W110401"


def test_duplicates_are_answered_once_in_request_order(estate: Engine) -> None:
    """A device ID given twice is answered once, at its first place in the request."""
    code, outcomes = run(estate, [c.P_OK, c.UNKNOWN, c.P_OK, c.UNKNOWN, c.I_OK])
    assert list(outcomes) == [c.P_OK, c.UNKNOWN, c.I_OK]
    assert code == "W110401"


def test_all_accepted_is_i0(estate: Engine) -> None:
    """A request whose every device is accepted answers I0."""
    assert run(estate, [c.P_OK, c.I_OK])[0] == "I0"


def test_the_gas_supplier_is_interested_too(estate: Engine) -> None:
    """S2 supplies gas on H1: it may update H1's displays as well (A-008: both requests go through)."""
    assert run(estate, [c.P_OK, c.I_OK], sender=c.S2)[0] == "I0"


def test_an_ended_registration_gives_no_interest(estate: Engine) -> None:
    """A supplier whose registration on the hub has ended is no interested supplier: its device goes to
    InvalidDeviceIDList, and with none left the request is E110405."""
    assert run(estate, [c.P_NOTMINE], sender=c.S2) == ("E110405", {c.P_NOTMINE: "InvalidDeviceIDList"})


def test_no_device_left_is_an_error(estate: Engine) -> None:
    """A request that leaves no device after the checks (an unknown one, one of another SR's type) is refused
    with E110405."""
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
    """An image that is not a valid OTA file, not on the CPL, Withdrawn there, or not of the request's
    FirmwareVersion refuses the whole request with its code and reason."""
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
    """An image whose header's image type is not the CPL entry's is refused with E11."""
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


def _set_firmware(engine: Engine, versions: dict[str, str]) -> None:
    with engine.begin() as conn:
        for device_id, version in versions.items():
            conn.execute(
                text("UPDATE devices SET firmware_version = :v WHERE device_id = :d"),
                {"v": version, "d": device_id},
            )


def test_a_device_already_on_the_requests_version_is_excluded_with_its_reason(estate: Engine) -> None:
    """A device already running the request's firmware version is not "upgraded" again: it goes to
    NotApplicableFirmwareDeviceIDList with its own reason, is not counted as accepted and gets no job."""
    _set_firmware(estate, {c.P_OK: c.NEW_VERSION})
    with estate.begin() as conn:
        v = validate(SR_11_4, conn, sender=c.S1, image_bytes=c.NEW_IMAGE, firmware_version=c.NEW_VERSION,
                     device_ids=[c.P_OK, c.I_OK], now=c.NOW)  # fmt: skip
        record(conn, v, request_id="s:v:1", sender=c.S1, image_bytes=c.NEW_IMAGE,
               firmware_version=c.NEW_VERSION, now=c.NOW)  # fmt: skip
    why = {o.device_id: (o.outcome, o.reason) for o in v.outcomes}
    assert why == {
        c.P_OK: (
            "NotApplicableFirmwareDeviceIDList",
            f"current firmware {c.NEW_VERSION} is already the request's version: nothing to update",
        ),
        c.I_OK: (ACCEPTED, None),
    }
    assert v.response_code == "W110401"
    assert v.lists() == {"NotApplicableFirmwareDeviceIDList": [c.P_OK]}
    with estate.connect() as conn:
        req = conn.execute(select(ServiceRequest)).one()
        jobs = conn.execute(select(DistributionJob.region, DistributionJob.target_count)).all()
        stored = dict(conn.execute(select(RequestDevice.device_id, RequestDevice.reason)).all())
    assert (req.device_count, req.accepted_count) == (2, 1)
    assert jobs == [("Central", 1)]
    assert stored[c.P_OK] == why[c.P_OK][1]


def test_a_list_of_devices_all_on_the_requests_version_leaves_no_device(estate: Engine) -> None:
    """When every device already runs the request's version, each is excluded
    (NotApplicableFirmwareDeviceIDList) and the request leaves no device (E110405)."""
    _set_firmware(estate, {c.P_OK: c.NEW_VERSION, c.I_OK: c.NEW_VERSION})
    assert run(estate, [c.P_OK, c.I_OK]) == (
        "E110405",
        {c.P_OK: "NotApplicableFirmwareDeviceIDList", c.I_OK: "NotApplicableFirmwareDeviceIDList"},
    )


@pytest.mark.parametrize(("sr", "device_id"), [(SR_11_4, c.P_OK), (SR_11_1, c.E1)], ids=["11.4", "11.1"])
def test_same_version_rule_in_sql_and_in_python(estate: Engine, sr: FirmwareSR, device_id: str) -> None:
    """Both SRs, both forms of the rules: a device otherwise accepted is excluded exactly when it runs the
    request's version (on the previous version it is accepted)."""
    with estate.begin() as conn:  # E1 made an ESME of the image's model and range, so only versions differ
        conn.execute(
            text(
                "UPDATE devices SET manufacturer = :m, model = :model, hardware_version = :hw WHERE device_id = :d"
            ),
            {"m": c.MFR, "model": c.MODEL, "hw": 0x1200, "d": device_id},
        )
    image = parse_image(c.NEW_IMAGE)
    for version, expected in (
        (c.OLD_VERSION, (ACCEPTED, None)),
        (
            c.NEW_VERSION,
            ("NotApplicableFirmwareDeviceIDList", f"current firmware {c.NEW_VERSION} {ALREADY_ON_VERSION}"),
        ),
    ):
        _set_firmware(estate, {device_id: version})
        with estate.connect() as conn:
            cpl = (
                Session(bind=conn)
                .scalars(select(CPLEntry).where(CPLEntry.firmware_version == c.NEW_VERSION))
                .one()
            )
            got = classify_all(sr, conn, [device_id], sender=c.S1, cpl=cpl, image=image, now=c.NOW)
            assert got == reference(conn, sr, [device_id], c.S1, cpl, image)
        assert (got[0].outcome, got[0].reason) == expected, version


def test_same_sender_same_image_in_flight_is_other_request_in_progress(estate: Engine) -> None:
    """A device the same sender has in flight with the same image goes to OtherRequestInProgressList, while
    the rest are accepted; another supplier's request for it is forwarded (A-008)."""
    run(estate, [c.P_OK, c.I_OK], commit=True, rid="a:b:1")
    _, outcomes = run(estate, [c.P_OK, c.P_GAS])
    assert outcomes == {c.P_OK: "OtherRequestInProgressList", c.P_GAS: ACCEPTED}
    # another supplier's request for the same device is forwarded
    assert run(estate, [c.P_OK], sender=c.S2)[1] == {c.P_OK: ACCEPTED}


def test_record_writes_request_outcomes_and_one_job_per_region(estate: Engine) -> None:
    """Recording writes the request with its code and counts, one request_devices row per device with its
    outcome and first state (accepted, or rejected into a warning list), and one distribution job per
    region with its accepted devices."""
    ids = [e.device_id for e in c.MIXED]
    run(estate, ids, commit=True, rid="r:1:1")
    with estate.connect() as conn:
        req = conn.execute(select(ServiceRequest)).one()
        rows = conn.execute(select(RequestDevice.device_id, RequestDevice.outcome, RequestDevice.state)).all()
        jobs = conn.execute(select(DistributionJob.region, DistributionJob.target_count)).all()
        n = conn.execute(select(func.count()).select_from(RequestDevice)).scalar_one()
        stamps = set(conn.execute(select(RequestDevice.request_pk, RequestDevice.updated_at)).all())
    assert req.status == "accepted" and req.response_code == "W110401"
    assert req.device_count == len(c.MIXED) == n
    assert req.accepted_count == 3
    assert {d: (o, s) for d, o, s in rows} == {
        e.device_id: (e.outcome, "accepted" if e.outcome == ACCEPTED else "rejected") for e in c.MIXED
    }
    assert jobs == [("Central", 3)]
    assert stamps == {(req.id, c.NOW)}, "every row of the request, stamped with the time it was recorded"


def test_a_failure_before_commit_leaves_nothing(estate: Engine) -> None:
    """A crash after the request's inserts and before the commit leaves no request, device outcome or job."""
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


# --- the SQL classification against the rules written in Python ------------------------------------------

TYPES = ("ESME", "GSME", "PPMID", "IHD", "CAD", "HCALCS")
NO_RANGE_IMAGE = build_image(
    manufacturer_code=int(c.MFR, 16), image_type=0x0084, file_version=0x0A000002,
    manufacturer_image=b"crafted PPMID firmware " + b"new" * 64, header_string="crafted PPMID image",
)  # fmt: skip


def random_estate(engine: Engine, seed: int) -> list[str]:
    """The crafted estate plus a few hundred devices whose every fact is drawn at random (types, hubs with
    and without HAN OTA or none at all, SMI statuses, letter case of manufacturer and model, hardware and
    firmware versions on and off the CPL, current, ended, future and mismatched registrations of three
    suppliers, some devices already in flight for S1 and S2). Returns the IDs to ask about, shuffled,
    including unknown ones."""
    rng = random.Random(seed)
    c.build(engine)
    hubs = [c.H1, c.H2, c.H3]
    with Session(engine) as s, s.begin():
        for n in range(30):
            hub = f"CC-00-00-00-00-{seed:02X}-{n:02X}-01"
            hubs.append(hub)
            s.add(
                CommsHub(
                    chf_id=hub, gpf_id=hub[:-2] + "02", premises_id=rng.choice([1, 2, 3]),
                    region=rng.choice(["North", "Central", "South"]), firmware_version="02000000",
                    gbcs_version="4.2", han_ota=rng.random() < 0.7,
                )
            )  # fmt: skip
        s.flush()
        ids: list[str] = []
        for n in range(300):
            did = f"DD-00-00-00-00-{seed:02X}-{n >> 8:02X}-{n & 255:02X}"
            ids.append(did)
            s.add(
                Device(
                    device_id=did, device_type=rng.choice(TYPES), premises_id=1,
                    smi_status=rng.choice([None, "Commissioned", "Commissioned", "Commissioned", "Pending",
                                           "Suspended"]),
                    manufacturer=rng.choice([c.MFR, c.MFR.lower(), "1234"]),
                    model=rng.choice([c.MODEL, c.MODEL.lower(), c.OTHER_MODEL]),
                    hardware_version=rng.choice([None, c.HW_LO, 0x1140, 0x1200, c.HW_HI, 0x1100, 0x1300]),
                    firmware_version=rng.choice([None, c.OLD_VERSION, c.STUCK_VERSION, c.NEW_VERSION, c.NARROW_VERSION,
                                                   c.NEW_VERSION.lower(), "DEADBEEF"]),
                    hub_id=rng.choice([*hubs, None]),
                )
            )  # fmt: skip
        s.flush()
        meters = [d for d in s.scalars(select(Device)).all() if d.device_type in METER_TYPES]
        for m in meters:
            for _ in range(rng.choice([0, 1, 1, 2])):
                start = c.NOW + timedelta(days=rng.choice([-900, -30, 30]))
                end = rng.choice([None, None, c.NOW - timedelta(days=1), c.NOW + timedelta(days=10)])
                s.add(
                    SupplierRegistration(
                        device_id=m.device_id, supplier_eui=rng.choice([c.S1, c.S2, c.S3]),
                        role=rng.choice(["IS", "GS", "IS" if m.device_type == "ESME" else "GS"]),
                        effective_from=start, effective_to=end,
                    )
                )  # fmt: skip
        # and, so that every SR meets the same-version rule whatever the draws, devices otherwise accepted for
        # S1 (the image's model and range, on H1) already running one of the images' versions
        for n, (dtype, version) in enumerate(
            (t, v) for t in ("ESME", "GSME", "PPMID", "IHD") for v in (c.NEW_VERSION, c.NARROW_VERSION)
        ):
            did = f"DD-00-00-00-00-{seed:02X}-F0-{n:02X}"
            ids.append(did)
            s.add(
                Device(
                    device_id=did, device_type=dtype, premises_id=1, smi_status=None if dtype == "IHD" else "Commissioned",
                    manufacturer=c.MFR, model=c.MODEL, hardware_version=0x1200, firmware_version=version, hub_id=c.H1,
                )
            )  # fmt: skip
            if dtype in METER_TYPES:
                s.flush()
                s.add(
                    SupplierRegistration(device_id=did, supplier_eui=c.S1, role="IS" if dtype == "ESME" else "GS",
                                         effective_from=c.SINCE)
                )  # fmt: skip
        s.flush()
        new_hash = parse_image(c.NEW_IMAGE).firmware_hash
        for k, (sender, digest) in enumerate([(c.S1, new_hash), (c.S2, new_hash), (c.S1, "44" * 32)]):
            req = ServiceRequest(
                request_id=f"r:{seed}:{k}", originator_eui=sender, srv="11.4", received_at=c.NOW, status="accepted",
                response_code="W110401", firmware_version=c.NEW_VERSION, firmware_hash=digest,
            )  # fmt: skip
            s.add(req)
            s.flush()
            for did in [*rng.sample(ids, 40), *([c.P_OK, c.I_OK] if k == 0 else [])]:
                state = rng.choice(
                    [*IN_FLIGHT, DeviceState.REJECTED, DeviceState.ACTIVATED, DeviceState.CSP_REJECTED]
                )
                # P_OK (otherwise accepted) always in flight for S1, so OtherRequestInProgressList is reached
                # whatever the draws (devices already on the image's version never get that far)
                s.add(
                    RequestDevice(
                        request_pk=req.id, device_id=did, outcome=ACCEPTED, updated_at=c.NOW,
                        state="sent" if did == c.P_OK else state,
                    )
                )  # fmt: skip
    asked = ids + [m.device_id for m in c.MIXED] + [f"EE-00-00-00-00-00-00-{n:02X}" for n in range(5)]
    asked = list(dict.fromkeys(asked))
    rng.shuffle(asked)
    return asked


def reference(conn: Connection, sr: FirmwareSR, ids: list[str], sender: str, cpl: CPLEntry,
              image: FirmwareImage) -> list[DeviceOutcome]:  # fmt: skip
    """The outcomes by the rules written out in Python (`classify` over `fetch_facts`)."""
    facts = fetch_facts(conn, ids, sender=sender, firmware_hash=image.firmware_hash, now=c.NOW)
    return [
        DeviceOutcome(f.device_id, f.device_type, f.hub_id, f.region, *classify(sr, f, cpl, image))
        for f in facts
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_sql_classification_agrees_with_the_rules_in_python(engine: Engine, seed: int) -> None:
    """`classify_all` (one statement, the rules in SQL, devices visited in storage order) gives every device
    the same list AND the same reason as `classify` over `fetch_facts` (the rules written out in Python,
    request order), for both SRs, three senders and images with a narrow, a wide and no hardware range,
    on a random estate. The answer comes back in request order."""
    ids = random_estate(engine, seed)
    with engine.connect() as conn:
        cpls = {e.firmware_version: e for e in Session(bind=conn).scalars(select(CPLEntry))}
        cases = [
            (c.NEW_IMAGE, c.NEW_VERSION),
            (c.NARROW_IMAGE, c.NARROW_VERSION),
            (NO_RANGE_IMAGE, c.NEW_VERSION),
        ]
        seen: set[str] = set()
        same_version: dict[str, int] = {}
        for image_bytes, version in cases:
            image, cpl = parse_image(image_bytes), cpls[version]
            for sr in (SR_11_4, SR_11_1):
                for sender in (c.S1, c.S2, c.S3):
                    got = classify_all(sr, conn, ids, sender=sender, cpl=cpl, image=image, now=c.NOW)
                    assert got == reference(conn, sr, ids, sender, cpl, image)
                    seen |= {o.outcome for o in got}
                    n = sum(o.reason == f"current firmware {version} {ALREADY_ON_VERSION}" for o in got)
                    same_version[sr.srv] = same_version.get(sr.srv, 0) + n
    # the estate exercises every list, and the same-version rule of both SRs
    assert seen == {ACCEPTED, "InvalidDeviceIDList", "NotCommissionedDeviceIDList",
                    "NotApplicableFirmwareDeviceIDList", "InvalidGBCSVersionList", "OtherRequestInProgressList"}  # fmt: skip
    assert same_version["11.4"] and same_version["11.1"], same_version


def test_interest_fragments_agree_with_interested_sql(engine: Engine) -> None:
    """The device-driven EXISTS (SQLite's path) and the join form (PostgreSQL's) of the interest rule say
    the same as `interested_sql` for every device of every type and every sender, whatever types the
    fragment is specialised for (a meter is judged by its own registration, anything else by its hub)."""
    random_estate(engine, 3)
    for types in ({"PPMID", "IHD"}, {"ESME", "GSME"}, set(TYPES)):
        joins, joined = interested_join_sql(types, "d")
        in_types = ", ".join(f"'{t}'" for t in sorted(types))
        sql = f"""
            WITH {SENDER_METERS_CTE}
            SELECT d.device_id,
                   CASE WHEN {interested_sql("d")} THEN 1 ELSE 0 END,
                   CASE WHEN {interested_exists_sql(types, "d")} THEN 1 ELSE 0 END,
                   CASE WHEN {joined} THEN 1 ELSE 0 END
            FROM devices d {joins}
            WHERE d.device_type IN ({in_types})
        """  # noqa: S608 - test constants only
        with engine.connect() as conn:
            for sender in (c.S1, c.S2, c.S3):
                rows = conn.execute(text(sql).bindparams(now_param()), {"sender": sender, "now": c.NOW}).all()
                assert rows and sum(r[1] for r in rows) > 0
                assert [(r[0], r[1], r[1]) for r in rows] == [(r[0], r[2], r[3]) for r in rows]


def test_duplicates_and_order_survive_the_storage_order_visit(estate: Engine) -> None:
    """The IDs are looked up in storage order, the outcomes come back in request order (first occurrence)."""
    ids = [c.I_OK, c.UNKNOWN, c.P_OK, c.E1, c.I_OK, c.P_NOOTA, c.UNKNOWN, c.P_GAS]
    code, outcomes = run(estate, ids)
    assert list(outcomes) == [c.I_OK, c.UNKNOWN, c.P_OK, c.E1, c.P_NOOTA, c.P_GAS]
    assert code == "W110401"


def test_reasons_name_the_facts(estate: Engine) -> None:
    """Each excluded device's recorded reason names the fact that excluded it."""
    ids = [e.device_id for e in c.MIXED]
    with estate.begin() as conn:
        v = validate(SR_11_4, conn, sender=c.S1, image_bytes=c.NEW_IMAGE, firmware_version=c.NEW_VERSION,
                     device_ids=ids, now=c.NOW)  # fmt: skip
    why = {o.device_id: o.reason for o in v.outcomes}
    assert why[c.P_OK] is None
    assert why[c.UNKNOWN] == "not in the inventory"
    assert why[c.E1] == "a ESME is not a target of SR 11.4"
    assert why[c.P_NOTMINE] == "the sender is not an interested supplier of this device"
    assert why[c.P_PENDING] == "SMI status Pending"
    assert why[c.P_HW] == "hardware version 0x1300 outside the CPL entry's 0x1111–0x1211"
    assert why[c.P_MODEL] == f"model {c.MFR}/{c.OTHER_MODEL} is not the CPL entry's {c.MFR}/{c.MODEL}"
    assert why[c.P_OLDFW] == f"current firmware {c.STUCK_VERSION} is not upgradeable"
    assert why[c.I_NOFW] == "no recorded firmware version: not upgradeable (A-001)"
    assert why[c.P_NOOTA] == f"hub {c.H2} does not support HAN-device OTA"
