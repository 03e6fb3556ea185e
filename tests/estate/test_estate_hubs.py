"""The estate's Comms Hubs: 4G hubs and dual-band hubs in their catalogue shares, every hub's CHTS version,
HAN variant and connectivity recorded, the same seed the same hubs; and an 8.2 reports them as DCC Boxed does."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.duis.requests import ReadInventory
from hanota.duis.values import Connectivity, CSPRegion, DeviceType
from hanota.estate import catalogue as cat
from hanota.estate.generate import generate
from hanota.inventory.read import read_inventory

HOMES = 30_000


def _fresh(tmp_path: Path, name: str) -> Engine:
    url = f"sqlite:///{tmp_path / name}"
    upgrade(url)
    return make_engine(url)


def _hubs(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT h.chf_id, h.region, p.region, h.chts_version, h.han_variant, h.connectivity, "
                "h.gbcs_version FROM comms_hubs h JOIN premises p ON p.id = h.premises_id ORDER BY h.chf_id"
            )
        ).all()
    return [tuple(r) for r in rows]


def _within(count: int, n: int, share: float) -> bool:
    """`count` of `n` is within five binomial standard deviations of `share` (never flaky, still tight)."""
    sd = math.sqrt(n * share * (1 - share))
    return abs(count - n * share) <= 5 * sd + 1


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[object, ...]]:
    engine = _fresh(tmp_path_factory.mktemp("hubs"), "big.db")
    generate(engine, homes=HOMES, seed=11)
    hubs = _hubs(engine)
    engine.dispose()
    return hubs


def test_4g_hubs_per_region_in_their_catalogue_share(big: list[tuple[object, ...]]) -> None:
    """Each region has 4G Comms Hubs in its catalogue share (within sampling error), and every hub is reported
    in its home's region or, if 4G, in that region's 4G region."""
    homes = Counter(str(r[2]) for r in big)
    four_g = Counter(str(r[2]) for r in big if str(r[1]).startswith("4G "))
    for region, share in cat.FOUR_G_SHARE.items():
        assert four_g[region] > 0, f"no 4G hub in {region}"
        assert _within(four_g[region], homes[region], share), (region, four_g[region], homes[region])
    # a 4G hub is reported in the 4G region of its home's region, every other hub in its home's region
    for _, hub_region, home_region, *_ in big:
        assert hub_region in (home_region, f"4G {home_region}")


def test_every_hub_records_chts_version_han_variant_and_connectivity(big: list[tuple[object, ...]]) -> None:
    """Every hub records the CHTS version of its GBCS version, a HAN variant (dual band in the catalogue's
    share) and its connectivity: none for a long-range-radio hub in the North, Cellular for the others."""
    variants = Counter(str(r[4]) for r in big)
    assert set(variants) == {"Single Band", "Dual Band"}
    assert _within(variants["Dual Band"], len(big), cat.DUAL_BAND_SHARE)
    for _, region, _, chts, _, connectivity, gbcs in big:
        assert chts == cat.CHTS_VERSION_OF_GBCS.get(str(gbcs), cat.CHTS_VERSION_OLDER)
        if region == "North":
            assert connectivity is None, "a long-range-radio hub has no DUIS Connectivity"
        else:
            assert connectivity == "Cellular", region


def test_same_seed_same_hubs_other_seed_other_hubs(tmp_path: Path) -> None:
    """The same seed generates the same hubs with the same facts, another seed other ones, and some are 4G
    hubs."""
    a, b, c = (_fresh(tmp_path, f"{n}.db") for n in "abc")
    for engine, seed in ((a, 5), (b, 5), (c, 6)):
        generate(engine, homes=2_000, seed=seed)
    assert _hubs(a) == _hubs(b)
    assert _hubs(a) != _hubs(c)
    assert any(str(r[1]).startswith("4G ") for r in _hubs(a))


def test_read_inventory_of_a_4g_hub_is_shaped_like_dcc_boxed(engine: Engine) -> None:
    """DCC Boxed (read-inventory-response-5.4.xml): CHF and GPF carry SMETSCHTSVersion, the CHF alone
    HANVariant and Connectivity, every device on a 4G hub the `4G <region>` CSPRegion."""
    generate(engine, homes=600, seed=2)
    with engine.connect() as conn:
        chf, region = conn.execute(
            text("SELECT chf_id, region FROM comms_hubs WHERE region LIKE '4G %' ORDER BY chf_id")
        ).first() or pytest.fail("no 4G hub in the estate")
        inventory = read_inventory(conn, ReadInventory(device_id=str(chf)))
    by_type = {d.device_type: d for d in inventory.devices}
    assert {d.csp_region for d in inventory.devices} == {CSPRegion(region)}
    hub = by_type[DeviceType.CHF]
    assert hub.device_id == chf
    assert hub.smets_chts_version in ("CHTS V1.4", "CHTS V1.2")
    assert hub.han_variant in ("Single Band", "Dual Band")
    assert hub.connectivity is Connectivity.CELLULAR
    gpf = by_type[DeviceType.GPF]
    assert gpf.smets_chts_version == hub.smets_chts_version
    assert gpf.han_variant is None and gpf.connectivity is None
    for d in inventory.devices:
        if d.device_type not in (DeviceType.CHF, DeviceType.GPF):
            assert (d.smets_chts_version, d.han_variant, d.connectivity) == (None, None, None)
