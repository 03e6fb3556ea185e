"""The synthetic estate: deterministic, realistic in shape, and exactly as promised for DCC Boxed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.db.models import CommsHub, CPLEntry, Device, SupplierRegistration, User
from hanota.estate import catalogue as cat
from hanota.estate import dccboxed
from hanota.estate.generate import EstateExists, generate
from hanota.estate.summary import summarise
from hanota.firmware import parse_image

HOMES = 3_000


def _dump(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as c:
        devices = c.execute(text("SELECT * FROM devices ORDER BY device_id")).all()
        regs = c.execute(
            text(
                "SELECT device_id, supplier_eui, role, effective_from, effective_to "
                "FROM supplier_registrations ORDER BY 1, 4"
            )
        ).all()
        hubs = c.execute(text("SELECT * FROM comms_hubs ORDER BY chf_id")).all()
    return [tuple(r) for r in (*devices, *regs, *hubs)]


def _fresh(tmp_path: Path, name: str) -> Engine:
    url = f"sqlite:///{tmp_path / name}"
    upgrade(url)
    return make_engine(url)


def test_same_seed_same_estate_other_seed_other_estate(tmp_path: Path) -> None:
    """The same seed generates the same estate, row for row; another seed another one."""
    a, b, c = (_fresh(tmp_path, f"{n}.db") for n in "abc")
    generate(a, homes=500, seed=7)
    generate(b, homes=500, seed=7)
    generate(c, homes=500, seed=8)
    assert _dump(a) == _dump(b)
    assert _dump(a) != _dump(c)


@pytest.fixture
def estate(engine: Engine) -> Engine:
    generate(engine, homes=HOMES, seed=3, dccboxed=True)
    return engine


def test_every_ihd_and_ppmid_hangs_off_a_hub_in_its_homes_region(estate: Engine) -> None:
    """Every IHD and PPMID is on a Comms Hub of its own home, in the home's CSP region (or its 4G region), and
    every hub is in one of the six CSP regions."""
    with estate.connect() as c:
        orphans = c.execute(
            text(
                "SELECT count(*) FROM devices d LEFT JOIN comms_hubs h ON h.chf_id = d.hub_id "
                "JOIN premises p ON p.id = d.premises_id "
                "WHERE d.device_type IN ('IHD', 'PPMID') "
                "AND (h.chf_id IS NULL OR h.premises_id <> d.premises_id "
                "     OR (h.region <> p.region AND h.region <> '4G ' || p.region) "
                "     OR h.region NOT IN ('North', 'Central', 'South', '4G North', '4G Central', '4G South'))"
            )
        ).scalar_one()
    assert orphans == 0


def test_interested_suppliers_of_every_ihd_and_ppmid_are_one_or_two(estate: Engine) -> None:
    """The import supplier of the ESME and the gas supplier of the GSME on the same hub (domain §6)."""
    with estate.connect() as c:
        rows = c.execute(
            text(
                "SELECT d.device_id, count(DISTINCT r.supplier_eui), "
                "       sum(CASE WHEN m.device_type = 'ESME' AND r.role = 'IS' THEN 1 ELSE 0 END), "
                "       sum(CASE WHEN m.device_type = 'GSME' AND r.role = 'GS' THEN 1 ELSE 0 END) "
                "FROM devices d "
                "JOIN devices m ON m.hub_id = d.hub_id AND m.device_type IN ('ESME', 'GSME') "
                "JOIN supplier_registrations r ON r.device_id = m.device_id AND r.effective_to IS NULL "
                "WHERE d.device_type IN ('IHD', 'PPMID') GROUP BY d.device_id"
            )
        ).all()
        displays = c.execute(
            text("SELECT count(*) FROM devices WHERE device_type IN ('IHD', 'PPMID')")
        ).scalar_one()
        roles = dict(c.execute(text("SELECT eui, roles FROM users")).all())
        bad_roles = c.execute(
            text(
                "SELECT r.supplier_eui, r.role FROM supplier_registrations r "
                "JOIN devices m ON m.device_id = r.device_id WHERE NOT ("
                "(m.device_type = 'ESME' AND r.role = 'IS') OR (m.device_type = 'GSME' AND r.role = 'GS'))"
            )
        ).all()
    assert len(rows) == displays, "every display has at least one interested supplier"
    counts = Counter(n for _, n, _, _ in rows)
    assert set(counts) <= {1, 2}
    assert counts[1] > 0 and counts[2] > 0, "both single- and two-supplier homes exist"
    assert all(is_ == 1 and gs <= 1 for _, _, is_, gs in rows), (
        "one import supplier, at most one gas supplier"
    )
    assert bad_roles == []
    with estate.connect() as c:
        for eui, role in c.execute(text("SELECT supplier_eui, role FROM supplier_registrations")).all():
            assert role in roles[eui].split()


def test_shape_follows_the_catalogue(estate: Engine) -> None:
    """The estate's shares follow the catalogue: one hub and one ESME per home, gas and prepayment homes, hubs
    without HAN OTA and the regions within a few points of their shares; IHDs without an SMI status,
    some PPMIDs not Commissioned, about twenty suppliers of unequal size, some changes of supplier,
    several manufacturers, CPL entries of every status and combined PPMID/IHDs (A-003)."""
    s = summarise(estate)
    homes = HOMES  # the DCC Boxed home is left out of the shares below
    assert s.homes == homes + 1
    assert s.hubs == s.homes
    assert abs(s.gas_homes / s.homes - cat.GAS_SHARE) < 0.03
    assert abs(s.prepayment_homes / s.homes - cat.PREPAY_SHARE) < 0.03
    assert abs(s.hubs_without_han_ota / s.hubs - cat.HUB_NO_HAN_OTA) < 0.03
    for region in ("North", "Central", "South"):
        assert abs(s.by_region[region] / s.devices - 1 / 3) < 0.04
    assert s.by_type["CHF"] == s.by_type["GPF"] == s.hubs
    assert s.by_type["ESME"] == s.homes
    assert 0 < s.ihd_without_firmware < s.by_type["IHD"]
    assert set(s.cpl_by_status) == {"Active", "Cancelled", "Expired", "Withdrawn"}
    assert "-" in s.by_type_status["IHD"] and len(s.by_type_status["IHD"]) == 1, "IHDs have no SMI status"
    assert len(s.by_type_status["PPMID"]) > 1, "some PPMIDs are not Commissioned"
    with estate.connect() as c:
        suppliers = c.execute(
            text(
                "SELECT supplier_eui, count(*) FROM supplier_registrations "
                "WHERE role = 'IS' AND effective_to IS NULL GROUP BY 1"
            )
        ).all()
        ended = c.execute(
            text("SELECT count(*) FROM supplier_registrations WHERE effective_to IS NOT NULL")
        ).scalar_one()
        manufacturers = c.execute(text("SELECT count(DISTINCT manufacturer) FROM devices")).scalar_one()
        combined = c.execute(
            text(
                "SELECT count(*) FROM premises p WHERE p.prepayment = :t AND NOT EXISTS "
                "(SELECT 1 FROM devices d WHERE d.premises_id = p.id AND d.device_type = 'IHD')"
            ),
            {"t": True},
        ).scalar_one()
    shares = sorted((n for _, n in suppliers), reverse=True)
    assert len(shares) >= 15 and shares[0] > 5 * shares[-1], "about 20 suppliers, unequal shares"
    assert ended > 0, "some homes changed supplier"
    assert manufacturers >= 5
    assert combined > 0, "some prepayment homes have a combined PPMID/IHD as their only display (A-003)"


def test_dccboxed_home_is_exactly_as_specified(estate: Engine) -> None:
    """The DCC Boxed home is generated exactly: its five devices Commissioned on its hub (with HAN OTA), its
    supplier registered for both fuels, and its PPMID of the public sample image's manufacturer and
    hardware range, whose version is an Active, upgradeable CPL entry of its model."""
    with estate.connect() as c:
        devs = {
            d.device_id: d
            for d in c.execute(select(Device).where(Device.device_id.like("00-DB-12-34-56-78-90-A%")))
        }
        hub = c.execute(select(CommsHub).where(CommsHub.chf_id == dccboxed.CHF)).one()
        regs = c.execute(
            select(
                SupplierRegistration.device_id, SupplierRegistration.supplier_eui, SupplierRegistration.role
            )
        ).all()
        cpl = c.execute(
            select(CPLEntry).where(CPLEntry.firmware_version == "00000000", CPLEntry.device_type == "PPMID")
        ).one()
        supplier = c.execute(select(User).where(User.eui == dccboxed.SUPPLIER_EUI)).one()
    assert {k: v.device_type for k, v in devs.items()} == {
        "00-DB-12-34-56-78-90-A0": "ESME",
        "00-DB-12-34-56-78-90-A1": "GSME",
        "00-DB-12-34-56-78-90-A2": "CHF",
        "00-DB-12-34-56-78-90-A3": "GPF",
        "00-DB-12-34-56-78-90-A4": "PPMID",
    }
    assert all(d.smi_status == "Commissioned" and d.hub_id == dccboxed.CHF for d in devs.values())
    assert hub.han_ota and hub.gpf_id == dccboxed.GPF
    assert (dccboxed.ESME, dccboxed.SUPPLIER_EUI, "IS") in regs
    assert (dccboxed.GSME, dccboxed.SUPPLIER_EUI, "GS") in regs
    assert set(supplier.roles.split()) == {"IS", "GS"}
    ppmid = devs[dccboxed.PPMID]
    image = parse_image(dccboxed.SAMPLE_PPMID_IMAGE)
    assert ppmid.manufacturer == f"{image.header.manufacturer_code:04X}"
    assert image.applies_to_hardware(ppmid.hardware_version)
    assert cpl.status == "Active" and cpl.upgradeable and cpl.device_type == "PPMID"
    assert cpl.model == ppmid.model and cpl.firmware_hash == image.firmware_hash


@pytest.mark.shared
def test_embedded_sample_image_is_the_public_sample(shared_dir: Path) -> None:
    """The OTA image embedded for the DCC Boxed home is byte for byte the one in the public 11.4 sample
    request."""
    import base64
    import re

    xml = (shared_dir / "duis/samples/requests/11.4_UPDATE_PPMID_FIRMWARE_REQUEST_DUIS.XML").read_text()
    m = re.search(r"<sr:FirmwareImage>(.*?)</sr:FirmwareImage>", xml, re.S)
    assert m is not None
    assert base64.b64decode(m.group(1)) == dccboxed.SAMPLE_PPMID_IMAGE


def test_cpl_hashes_are_those_of_the_synthetic_images(estate: Engine) -> None:
    """The CPL holds at most one entry per model and version (A-005), each (but the public sample's) with the
    hash of the synthetic image of its version and device type."""
    with estate.connect() as c:
        keyed = c.execute(select(CPLEntry.manufacturer, CPLEntry.model, CPLEntry.firmware_version)).all()
        rows = c.execute(
            select(CPLEntry.firmware_version, CPLEntry.firmware_hash, CPLEntry.device_type)
        ).all()
    assert len(keyed) == len(set(keyed)), "at most one CPL entry per model and firmware version (A-005)"
    for version, digest, dtype in rows:
        if version != dccboxed.SAMPLE_FIRMWARE_VERSION:
            assert digest == cat.synthetic_firmware_hash(version, dtype)


def test_an_existing_estate_is_not_overwritten_unless_asked(estate: Engine) -> None:
    """Generating into a store that holds an estate is refused (EstateExists) unless replacing is asked for,
    which leaves only the new estate."""
    with pytest.raises(EstateExists):
        generate(estate, homes=10, seed=1)
    n = generate(estate, homes=10, seed=1, replace=True)
    with estate.connect() as c:
        assert c.execute(select(func.count()).select_from(Device)).scalar_one() == n


def test_generation_is_one_transaction(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure half-way leaves the store empty."""
    from hanota.estate import generate as gen_mod

    calls = {"n": 0}
    real = gen_mod.BulkLoader.rows

    def failing(self: gen_mod.BulkLoader, table: str, cols: object, rows: object) -> int:
        calls["n"] += 1
        if table == "supplier_registrations":
            raise RuntimeError("disk on fire")
        return real(self, table, cols, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(gen_mod.BulkLoader, "rows", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        generate(engine, homes=50, seed=1)
    with engine.connect() as c:
        for table in ("users", "devices", "premises", "comms_hubs", "cpl_entries"):
            assert c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0  # noqa: S608
