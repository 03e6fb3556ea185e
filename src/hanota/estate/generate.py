"""`hanota estate generate`: a synthetic GB estate, deterministic by seed, realistic in shape.

Each home has a Comms Hub (CHF + GPF) in one CSP region (a share of them 4G Comms Hubs, in the region
`4G <region>`; each hub with its CHTS version, HAN variant and connectivity), an ESME, usually a GSME, usually an IHD and, in
prepayment homes, a PPMID (sometimes a combined PPMID/IHD registered as a PPMID, A-003). The import
supplier of the ESME and the gas supplier of the GSME are the home's interested suppliers. Shares and their
sources are in `catalogue`.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from hanota.db.bulk import BulkLoader, ts
from hanota.db.models import Device, HANVariant
from hanota.duis.values import Connectivity
from hanota.errors import HanotaError
from hanota.estate import catalogue as cat
from hanota.estate.columns import (
    CPL_COLS,
    DEVICE_COLS,
    HUB_COLS,
    HUB_FACT_COLS,
    PREMISES_COLS,
    REG_COLS,
    USER_COLS,
)
from hanota.estate.dccboxed import add_dccboxed_home
from hanota.lifecycle import FOUR_G_PREFIX, Region, is_4g

_POSTCODE_AREAS: dict[str, tuple[str, ...]] = {
    Region.NORTH: ("AB", "DD", "EH", "G", "IV", "KY", "NE", "DH", "CA", "LA"),
    Region.CENTRAL: ("B", "CV", "LE", "NG", "DE", "ST", "WV", "M", "L", "LS"),
    Region.SOUTH: ("SO", "BN", "PO", "CT", "EX", "PL", "BS", "RG", "SW", "SE"),
}
_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_EPOCH = date(2019, 1, 1)
_SPAN_DAYS = (date(2026, 6, 30) - _EPOCH).days
CHUNK_HOMES = 20_000


class EstateExists(HanotaError):
    """The store already holds an estate; pass `replace=True` to wipe it first. A refusal of the `hanota`
    command, never answered in DUIS: it prints as its message alone, without the code."""

    def __str__(self) -> str:
        return self.message


@dataclass
class _Weighted:
    """Fast weighted choice by bisecting a cumulative table."""

    items: Sequence[Any]
    cum: list[float] = field(init=False)

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        self.items = items
        self.cum = list(itertools.accumulate(weights))

    def pick(self, rng: random.Random) -> Any:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


def hub_facts(region: str, gbcs_version: str, *, dual_band: bool = False) -> tuple[str, str, str | None]:
    """(CHTS version, HAN variant, connectivity) of a real hub in CSP region `region` (see `catalogue`).

    Connectivity is Cellular for a cellular hub (4G anywhere; 2G/3G in Central and South) and None for a
    long-range-radio hub in the North: DUIS's Connectivity has no value for radio."""
    chts = cat.CHTS_VERSION_OF_GBCS.get(gbcs_version, cat.CHTS_VERSION_OLDER)
    variant = HANVariant.DUAL_BAND if dual_band else HANVariant.SINGLE_BAND
    connectivity = Connectivity.CELLULAR.value if is_4g(region) or region != Region.NORTH else None
    return chts, variant.value, connectivity


# The same rule as `hub_facts`, in SQL, for a hub written without its facts (constants only, no input).
MISSING_HUB_FACTS_SQL = (
    "UPDATE comms_hubs SET chts_version = CASE "  # noqa: S608 - catalogue constants
    + " ".join(f"WHEN gbcs_version = '{g}' THEN '{v}'" for g, v in cat.CHTS_VERSION_OF_GBCS.items())
    + f" ELSE '{cat.CHTS_VERSION_OLDER}' END, han_variant = '{HANVariant.SINGLE_BAND.value}', "
    f"connectivity = CASE WHEN region = '{Region.NORTH.value}' THEN NULL ELSE '{Connectivity.CELLULAR.value}' END "
    "WHERE chts_version IS NULL"
)


def _eui(oui: str, serial: int) -> str:
    s = f"{serial:010X}"
    return f"{oui}-{s[0:2]}-{s[2:4]}-{s[4:6]}-{s[6:8]}-{s[8:10]}"


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not cryptography
        # the hubs' WAN and HAN facts draw from their own stream, so that adding them left every other
        # fact of a seed's estate as it was
        self.hub_rng = random.Random(f"{seed}:hub facts")  # noqa: S311 - synthetic data
        self.serial = itertools.count(0x0100000000)
        self.region = _Weighted([str(r) for r in cat.REGION_SHARE], list(cat.REGION_SHARE.values()))
        self.elec = _Weighted(cat.SUPPLIERS, [s.share for s in cat.SUPPLIERS])
        gas = [s for s in cat.SUPPLIERS if "GS" in s.roles.split()]
        self.gas = _Weighted(gas, [s.share for s in gas])
        self.status = _Weighted([s for s, _ in cat.STATUS_MIX], [w for _, w in cat.STATUS_MIX])
        self.models = {
            t: _Weighted(cat.models_of(t), [m.share for m in cat.models_of(t)])
            for t in ("ESME", "GSME", "CHF", "GPF", "PPMID", "IHD")
        }
        self.releases = {m.model: _Weighted(m.releases, [r.weight for r in m.releases]) for m in cat.MODELS}

    def device(
        self, dtype: str, hub: str | None, premises: int, *, status: str | None = ""
    ) -> tuple[Any, ...]:
        rng = self.rng
        model: cat.Model = self.models[dtype].pick(rng)
        if rng.random() < cat.OFF_RANGE_HARDWARE:
            hw = model.hw_max + 1 + rng.randrange(16)
        else:
            hw = rng.randint(model.hw_min, model.hw_max)
        release: cat.FirmwareRelease = self.releases[model.model].pick(rng)
        version: str | None = release.version
        if dtype == "IHD" and rng.random() < cat.IHD_NO_FIRMWARE:
            version = None
        if status == "":
            status = self.status.pick(rng)
        commissioned = None
        if status == "Commissioned" or dtype == "IHD":
            commissioned = (_EPOCH + timedelta(days=rng.randrange(_SPAN_DAYS))).isoformat()
        did = _eui(model.oui, next(self.serial))
        return (did, dtype, status, model.manufacturer, model.model, hw, version, hub, premises, commissioned)

    def homes(self, first_id: int, count: int) -> Iterator[tuple[list[Any], list[Any], list[Any], list[Any]]]:
        """Yield (premises, hubs, devices, registrations) row lists, one chunk at a time."""
        rng = self.rng
        premises: list[Any] = []
        hubs: list[Any] = []
        devices: list[Any] = []
        regs: list[Any] = []
        for pid in range(first_id, first_id + count):
            region: str = self.region.pick(rng)
            prepay = rng.random() < cat.PREPAY_SHARE
            area = rng.choice(_POSTCODE_AREAS[region])
            inward = f"{rng.randint(1, 9)}{rng.choice(_LETTERS)}{rng.choice(_LETTERS)}"
            postcode = f"{area}{rng.randint(1, 29)} {inward}"
            premises.append((pid, f"{100_000_000_000 + pid:012d}", postcode, region, int(prepay)))

            chf = self.device("CHF", None, pid, status="Commissioned")
            han_ota = rng.random() >= cat.HUB_NO_HAN_OTA
            chf_id = chf[0]
            gpf = self.device("GPF", chf_id, pid, status="Commissioned")
            hub_region = (
                FOUR_G_PREFIX + region if self.hub_rng.random() < cat.FOUR_G_SHARE[region] else region
            )
            gbcs = "4.2" if han_ota else "3.2"
            dual = self.hub_rng.random() < cat.DUAL_BAND_SHARE
            hubs.append(
                (
                    chf_id, gpf[0], pid, hub_region,
                    cat.HUB_FIRMWARE_HAN_OTA if han_ota else cat.HUB_FIRMWARE_NO_HAN_OTA,
                    gbcs, int(han_ota), *hub_facts(hub_region, gbcs, dual_band=dual),
                )
            )  # fmt: skip
            devices.append((*chf[:7], chf_id, *chf[8:]))
            devices.append(gpf)

            since = datetime(2019, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(_SPAN_DAYS))
            esme = self.device("ESME", chf_id, pid)
            devices.append(esme)
            elec: cat.Supplier = self.elec.pick(rng)
            if rng.random() < cat.CHANGE_OF_SUPPLIER:
                before: cat.Supplier = self.elec.pick(rng)
                if before.eui != elec.eui:
                    regs.append((esme[0], before.eui, "IS", ts(since - timedelta(days=400)), ts(since)))
            regs.append((esme[0], elec.eui, "IS", ts(since), None))
            if rng.random() < cat.GAS_SHARE:
                gsme = self.device("GSME", chf_id, pid)
                devices.append(gsme)
                same = rng.random() < cat.DUAL_FUEL_SAME_SUPPLIER and "GS" in elec.roles.split()
                gas: cat.Supplier = elec if same else self.gas.pick(rng)
                regs.append((gsme[0], gas.eui, "GS", ts(since), None))
            has_ihd = rng.random() < cat.IHD_SHARE
            if prepay:
                devices.append(self.device("PPMID", chf_id, pid))
                if rng.random() < cat.COMBINED_PPMID_IHD:
                    has_ihd = False  # the PPMID is the display
            if has_ihd:
                devices.append(self.device("IHD", chf_id, pid, status=None))
            if len(premises) >= CHUNK_HOMES:
                yield premises, hubs, devices, regs
                premises, hubs, devices, regs = [], [], [], []
        if premises:
            yield premises, hubs, devices, regs


def _wipe(load: BulkLoader) -> None:
    for table in (
        "firmware_history", "supplier_registrations", "devices", "comms_hubs", "premises", "cpl_entries",
        "certificates", "request_counters", "users",
    ):  # fmt: skip
        load.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names


def cpl_rows() -> list[tuple[Any, ...]]:
    """One CPL entry per synthetic firmware release (hash = SHA-256 of its synthetic Manufacturer Image)."""
    return [
        (
            m.device_type, m.manufacturer, m.model, m.hw_min, m.hw_max, r.version,
            cat.synthetic_firmware_hash(r.version, m.device_type), m.gbcs_version, r.status,
            int(r.upgradeable), m.image_type,
        )
        for m in cat.MODELS
        for r in m.releases
    ]  # fmt: skip


def user_rows() -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = [(s.eui, s.name, s.roles, "Active", None, s.share) for s in cat.SUPPLIERS]
    rows += [(eui, name, roles, "Active", None, None) for eui, name, roles in cat.OTHER_USERS]
    return rows


def generate(
    engine: Engine, *, homes: int, seed: int = 1, dccboxed: bool = False, replace: bool = False
) -> int:
    """Write a synthetic estate of `homes` homes into the (migrated) store; return the device count.

    The whole estate is written in one transaction: an interrupted run leaves the store as it was.
    """
    if homes < 0:
        raise ValueError("homes must be >= 0")
    with engine.connect() as conn:
        existing = conn.execute(select(func.count()).select_from(Device)).scalar_one()
    if existing and not replace:
        raise EstateExists(f"the store already holds {existing} devices; use --replace to start again")
    gen = _Generator(seed)
    with BulkLoader(engine) as load:
        if existing:
            _wipe(load)
        load.rows("users", USER_COLS, user_rows())
        load.rows("cpl_entries", CPL_COLS, cpl_rows())
        for premises, hubs, devices, regs in gen.homes(1, homes):
            load.rows("premises", PREMISES_COLS, premises)
            load.rows("comms_hubs", HUB_COLS + HUB_FACT_COLS, hubs)
            load.rows("devices", DEVICE_COLS, devices)
            load.rows("supplier_registrations", REG_COLS, regs)
        if dccboxed:
            add_dccboxed_home(load, premises_id=homes + 1)
            # a hub written without its facts (the DCC Boxed home's) gets those of a single-band real hub
            load.execute(MISSING_HUB_FACTS_SQL)
        return load.counts.get("devices", 0)
