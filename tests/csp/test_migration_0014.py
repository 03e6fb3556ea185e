"""Migration 0014 (CSP target facts) on a populated store, both backends: the targets a gateway queued
before it get the hub region and hardware version the runner used to read from the DSP's tables (NULL
where those tables know nothing), and the way down drops the two columns and keeps every row."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text

from hanota.db.engine import make_engine
from hanota.db.migrate import current_revision, downgrade, upgrade

HUB, HUB_4G, UNKNOWN_HUB = "AA-00-00-00-00-00-01-01", "AA-00-00-00-00-00-02-01", "AA-00-00-00-00-00-09-01"
P1, P2, P_UNKNOWN = "BB-00-00-00-00-00-00-01", "BB-00-00-00-00-00-00-02", "BB-00-00-00-00-00-00-09"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _populate_at_0013(url: str) -> None:
    upgrade(url, "0013")
    eng = make_engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO premises (id, uprn, postcode, region, prepayment) "
                    "VALUES (1, '000000000001', 'T1 1AA', 'Central', false)"
                )
            )
            for chf, region in ((HUB, "Central"), (HUB_4G, "4G Central")):
                conn.execute(
                    text(
                        "INSERT INTO comms_hubs (chf_id, gpf_id, premises_id, region, firmware_version, "
                        "gbcs_version, han_ota) VALUES (:chf, :gpf, 1, :region, '02000000', '4.2', true)"
                    ),
                    {"chf": chf, "gpf": chf[:-2] + "02", "region": region},
                )
            for device, hub, hw in ((P1, HUB, 0x1200), (P2, HUB_4G, None)):
                conn.execute(
                    text(
                        "INSERT INTO devices (device_id, device_type, smi_status, manufacturer, model, "
                        "hardware_version, hub_id, premises_id) "
                        "VALUES (:d, 'PPMID', 'Commissioned', '121D', '00840001', :hw, :hub, 1)"
                    ),
                    {"d": device, "hw": hw, "hub": hub},
                )
            conn.execute(
                text(
                    "INSERT INTO csp_distributions (id, region, distribution_id, request_id, priority, "
                    "firmware_version, firmware_hash, image_size, image, received_at, accepted_count, answer) "
                    "VALUES (1, 'Central', 'dsp-job-1', 'r-1', 'HAN', '00000002', :hash, 5, :image, :now, 3, '{}')"
                ),
                {"hash": "ab" * 32, "image": b"image", "now": NOW},
            )
            for device, hub in ((P1, HUB), (P2, HUB_4G), (P_UNKNOWN, UNKNOWN_HUB)):
                conn.execute(
                    text(
                        "INSERT INTO csp_targets (distribution_pk, device_id, chf_id, device_type, state, "
                        "updated_at) VALUES (1, :d, :hub, 'PPMID', 'queued', :now)"
                    ),
                    {"d": device, "hub": hub, "now": NOW},
                )
    finally:
        eng.dispose()


def _targets(url: str, columns: str) -> dict[str, tuple[object, ...]]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(text(f"SELECT device_id, {columns} FROM csp_targets")).all()  # noqa: S608
    finally:
        eng.dispose()
    return {r[0]: tuple(r[1:]) for r in rows}


def _columns(url: str) -> set[str]:
    eng = make_engine(url)
    try:
        return {c["name"] for c in inspect(eng).get_columns("csp_targets")}
    finally:
        eng.dispose()


def test_0014_backfills_queued_targets_facts_and_goes_back_down(db_url: str) -> None:
    """Going up fills each queued target's hub region (4G included) and hardware version from the store's
    hubs and devices, NULL for a hub or device it does not know; going down drops both columns and keeps
    the targets; going up again fills them back."""
    _populate_at_0013(db_url)
    assert "hub_region" not in _columns(db_url)
    upgrade(db_url, "0014")
    assert current_revision(db_url) == "0014"
    expected = {
        P1: ("queued", "Central", 0x1200),
        P2: ("queued", "4G Central", None),
        P_UNKNOWN: ("queued", None, None),
    }
    assert _targets(db_url, "state, hub_region, hardware_version") == expected
    downgrade(db_url, "0013")
    assert current_revision(db_url) == "0013"
    assert {"hub_region", "hardware_version"} & _columns(db_url) == set()
    assert _targets(db_url, "state, chf_id") == {P1: ("queued", HUB), P2: ("queued", HUB_4G),
                                                 P_UNKNOWN: ("queued", UNKNOWN_HUB)}  # fmt: skip
    upgrade(db_url, "0014")
    assert _targets(db_url, "state, hub_region, hardware_version") == expected
