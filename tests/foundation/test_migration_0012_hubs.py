"""Migration 0012 (hub WAN facts) on a populated store, both backends: the backfill, a 4G hub fits, and the
way down keeps every row (a 4G hub goes back to its geographic region)."""

from __future__ import annotations

from sqlalchemy import inspect, text

from hanota.db.engine import make_engine
from hanota.db.migrate import current_revision, downgrade, upgrade

HUBS = (
    # chf, gpf, premises, region, gbcs
    ("AA-00-00-00-00-00-01-01", "AA-00-00-00-00-00-01-02", 1, "North", "3.2"),
    ("AA-00-00-00-00-00-02-01", "AA-00-00-00-00-00-02-02", 2, "Central", "4.2"),
    ("AA-00-00-00-00-00-03-01", "AA-00-00-00-00-00-03-02", 3, "South", "3.2"),
)
HUB_4G = ("AA-00-00-00-00-00-04-01", "AA-00-00-00-00-00-04-02", 4, "4G Central", "4.2")


def _populate_at_0011(url: str) -> None:
    upgrade(url, "0011")
    eng = make_engine(url)
    try:
        with eng.begin() as conn:
            for pid, region in ((1, "North"), (2, "Central"), (3, "South"), (4, "Central")):
                conn.execute(
                    text(
                        "INSERT INTO premises (id, uprn, postcode, region, prepayment) "
                        "VALUES (:id, :uprn, :pc, :region, :pp)"
                    ),
                    {"id": pid, "uprn": f"{pid:012d}", "pc": f"T{pid} 1AA", "region": region, "pp": False},
                )
            for chf, gpf, pid, region, gbcs in HUBS:
                conn.execute(
                    text(
                        "INSERT INTO comms_hubs (chf_id, gpf_id, premises_id, region, firmware_version, "
                        "gbcs_version, han_ota) VALUES (:chf, :gpf, :pid, :region, '02000000', :gbcs, :ota)"
                    ),
                    {
                        "chf": chf,
                        "gpf": gpf,
                        "pid": pid,
                        "region": region,
                        "gbcs": gbcs,
                        "ota": gbcs == "4.2",
                    },
                )
                conn.execute(
                    text(
                        "INSERT INTO devices (device_id, device_type, smi_status, manufacturer, model, "
                        "hub_id, premises_id) VALUES (:d, 'CHF', 'Commissioned', '106C', '433100AC', :d, :pid)"
                    ),
                    {"d": chf, "pid": pid},
                )
    finally:
        eng.dispose()


def _hubs(url: str) -> dict[str, tuple[object, ...]]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(
                text("SELECT chf_id, region, chts_version, han_variant, connectivity FROM comms_hubs")
            ).all()
    finally:
        eng.dispose()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_0012_backfills_hubs_takes_4g_regions_and_goes_back_down(db_url: str) -> None:
    """Migration 0012 fills each existing hub's WAN facts (CHTS version, HAN variant, connectivity: none for
    long-range radio) and lets a 4G region be stored; going down drops the facts and folds 4G regions into
    their region, and going up again fills them back."""
    _populate_at_0011(db_url)
    upgrade(db_url, "0012")
    assert current_revision(db_url) == "0012"
    assert _hubs(db_url) == {
        HUBS[0][0]: ("North", "CHTS V1.2", "Single Band", None),  # long-range radio: no Connectivity value
        HUBS[1][0]: ("Central", "CHTS V1.4", "Single Band", "Cellular"),
        HUBS[2][0]: ("South", "CHTS V1.2", "Single Band", "Cellular"),
    }

    # a 4G hub and a request device on it now fit (VARCHAR(8) refused "4G Central" on PostgreSQL)
    eng = make_engine(db_url)
    try:
        with eng.begin() as conn:
            chf, gpf, pid, region, gbcs = HUB_4G
            conn.execute(
                text(
                    "INSERT INTO comms_hubs (chf_id, gpf_id, premises_id, region, firmware_version, gbcs_version, "
                    "han_ota, chts_version, han_variant, connectivity) VALUES (:chf, :gpf, :pid, :region, "
                    "'02000000', :gbcs, :ota, 'CHTS V1.4', 'Dual Band', 'Cellular')"
                ),
                {"chf": chf, "gpf": gpf, "pid": pid, "region": region, "gbcs": gbcs, "ota": True},
            )
            conn.execute(
                text(
                    "INSERT INTO service_requests (request_id, originator_eui, srv, received_at, status, "
                    "response_code, device_count, accepted_count) VALUES ('r-1', 'AA-00-00-00-00-00-00-01', "
                    "'11.4', '2026-01-01 00:00:00', 'accepted', 'I0', 1, 1)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO request_devices (request_pk, device_id, device_type, hub_id, region, outcome, "
                    "state, updated_at) SELECT id, 'BB-00-00-00-00-00-00-01', 'PPMID', :chf, '4G Central', "
                    "'Accepted', 'accepted', '2026-01-01 00:00:00' FROM service_requests"
                ),
                {"chf": chf},
            )
    finally:
        eng.dispose()

    downgrade(db_url, "0011")
    assert current_revision(db_url) == "0011"
    eng = make_engine(db_url)
    try:
        columns = {c["name"] for c in inspect(eng).get_columns("comms_hubs")}
        assert not columns & {"chts_version", "han_variant", "connectivity"}
        with eng.connect() as conn:
            regions = dict(conn.execute(text("SELECT chf_id, region FROM comms_hubs")).all())
            rd_region = conn.execute(text("SELECT region FROM request_devices")).scalar_one()
            devices = conn.execute(text("SELECT count(*) FROM devices")).scalar_one()
    finally:
        eng.dispose()
    assert regions == {HUBS[0][0]: "North", HUBS[1][0]: "Central", HUBS[2][0]: "South", HUB_4G[0]: "Central"}
    assert rd_region == "Central" and devices == 3

    upgrade(db_url)  # and up again (to the newest): the backfill fills the hubs the way down emptied
    assert _hubs(db_url)[HUB_4G[0]] == ("Central", "CHTS V1.4", "Single Band", "Cellular")
