"""Realistic firmware campaigns on a synthetic estate: which supplier sends, to which devices, which image.

A supplier updates one model at a time (an image is for one manufacturer's image type and hardware range),
so a campaign is: the supplier interested in the most devices of the model that need the update, those of
its devices (listed in no particular order), and a real OTA file of the model's newest Active release,
whose Manufacturer Image is the catalogue's synthetic one (so its hash is the CPL's).

A device needs the update unless the inventory says it already runs the release: a supplier knows its
devices' versions (activation alerts, SR 8.2), and the DSP would exclude such a device anyway (our rule,
`hanota.duis.codes.EXCLUSIONS`). Otherwise not every listed device will be accepted: like a real
supplier's list, it holds IHDs with no recorded firmware version (A-001), devices on hubs without HAN OTA,
hardware outside the image's range, and so on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import Engine, bindparam, text

from hanota.db.types import UTCDateTime
from hanota.estate.catalogue import IMAGE_SIZE, MODELS, Model, synthetic_manufacturer_image
from hanota.firmware import build_image
from hanota.inventory.interest import INTERESTED_FROM

# the model's devices that need the release (not recorded as running it; no recorded version counts as needing
# it), with the suppliers interested in them
_INTERESTED = INTERESTED_FROM + (
    "WHERE d.device_type = :type AND d.manufacturer = :mfr AND d.model = :model"
    " AND (d.firmware_version IS NULL OR d.firmware_version <> :version)"
)


@dataclass(frozen=True)
class Campaign:
    srv: str
    sender: str
    model: Model
    firmware_version: str
    image: bytes
    device_ids: tuple[str, ...]


def model_of(device_type: str, index: int = 0) -> Model:
    """The `index`-th most common model of a device type in the catalogue."""
    models = sorted((m for m in MODELS if m.device_type == device_type), key=lambda m: -m.share)
    return models[index]


def release_image(
    model: Model, *, signing_key: ec.EllipticCurvePrivateKey | None = None
) -> tuple[bytes, str]:
    """A real OTA file for the model's newest Active release, and the release's version.

    ESME/GSME images (SR 11.1) carry the GBCS supplier signature trailer: an ECDSA P-256 signature (r‖s)
    over the Manufacturer Image, made with `signing_key` (a fresh key when none is given)."""
    release = [r for r in model.releases if r.status == "Active"][-1]
    manufacturer_image = synthetic_manufacturer_image(release.version, IMAGE_SIZE[model.device_type])
    signature = None
    if model.device_type in ("ESME", "GSME"):
        key = signing_key or ec.generate_private_key(ec.SECP256R1())
        r, s = decode_dss_signature(key.sign(manufacturer_image, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    image = build_image(
        manufacturer_code=int(model.manufacturer, 16),
        image_type=model.image_type,
        file_version=int(release.version, 16),
        manufacturer_image=manufacturer_image,
        header_string=f"hanota {model.device_type} {release.version}",
        minimum_hardware_version=model.hw_min,
        maximum_hardware_version=model.hw_max,
        supplier_signature=signature,
    )
    return image, release.version


def plan(
    engine: Engine, model: Model, n: int, now: datetime, *, sender: str | None = None, seed: int = 1
) -> Campaign:
    """Up to `n` devices of `model` that `sender` (default: the supplier with the most of them) supplies and
    that are not already on the campaign's release."""
    image, version = release_image(model)
    params = {
        "now": now,
        "type": model.device_type,
        "mfr": model.manufacturer,
        "model": model.model,
        "version": version,
    }
    now_param = bindparam("now", type_=UTCDateTime())
    with engine.connect() as conn:
        if sender is None:
            top = conn.execute(
                text(
                    f"SELECT r.supplier_eui, COUNT(DISTINCT d.device_id) {_INTERESTED} "
                    "GROUP BY r.supplier_eui ORDER BY 2 DESC, 1 LIMIT 1"
                ).bindparams(now_param),
                params,
            ).first()
            if top is None:
                raise LookupError(f"no {model.device_type} of model {model.model} has a supplier")
            sender = str(top[0])
        ids = sorted(
            str(r[0])
            for r in conn.execute(
                text(f"SELECT DISTINCT d.device_id {_INTERESTED} AND r.supplier_eui = :sender").bindparams(
                    now_param
                ),
                {**params, "sender": sender},
            )
        )
    rng = random.Random(seed)  # noqa: S311 - a shuffle, not a secret
    rng.shuffle(ids)  # a real list is in no particular order
    srv = "11.1" if model.device_type in ("ESME", "GSME") else "11.4"
    return Campaign(srv, sender, model, version, image, tuple(ids[:n]))
