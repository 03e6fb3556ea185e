"""`hanota firmware sample`: a real OTA image to send in an SR 11.4 or 11.1 (`hanota sr build --image`).

Two kinds, both on the CPL of the estates `hanota estate generate` makes:

- `--dccboxed`: the image of the public 11.4 sample request (PPMID, version 00000000), for the DCC Boxed
  PPMID `00-DB-12-34-56-78-90-A4` (an estate generated with `--dccboxed`);
- otherwise: the newest Active release of a catalogue model (by default the most common IHD), the same file
  the demo's campaign sends; `--devices-file` also writes the devices of that model its supplier may
  update, from the store, and names that supplier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hanota.cli.common import console, fail, load_settings, migrated_engine
from hanota.clock import SystemClock
from hanota.duis.values import MAX_DEVICE_IDS
from hanota.estate import catalogue
from hanota.estate.campaign import plan, release_image
from hanota.estate.dccboxed import PPMID, SAMPLE_FIRMWARE_VERSION, SAMPLE_PPMID_IMAGE, SUPPLIER_EUI
from hanota.firmware import parse_image

firmware_app = typer.Typer(
    help="Firmware images for SR 11.4 (PPMID, IHD) and SR 11.1 (ESME, GSME).", no_args_is_help=True
)

SRV_OF_TYPE = {"PPMID": "11.4", "IHD": "11.4", "ESME": "11.1", "GSME": "11.1"}


def _write(out: Path, data: bytes) -> None:
    """Write `out` whole or not at all."""
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out)


@firmware_app.command("sample")
def firmware_sample(
    out: Annotated[Path, typer.Argument(help="the image file to write")],
    device_type: Annotated[str, typer.Option(help="IHD or PPMID (SR 11.4), ESME or GSME (SR 11.1)")] = "IHD",
    rank: Annotated[
        int,
        typer.Option(min=0, help="which model of that type: 0 the most common, 1 the next one, and so on"),
    ] = 0,
    dccboxed: Annotated[
        bool,
        typer.Option(
            "--dccboxed",
            help="the public 11.4 sample's PPMID image instead (version 00000000, for the DCC Boxed PPMID)",
        ),
    ] = False,
    devices_file: Annotated[
        Path | None,
        typer.Option(
            help="also write the store's devices of that model that its biggest supplier may update "
            f"(at most {MAX_DEVICE_IDS:,}), one per line"
        ),
    ] = None,
) -> None:
    """Write a firmware image on the CPL of generated estates, and print how to send it with `hanota sr`."""
    if dccboxed:
        _write(out, SAMPLE_PPMID_IMAGE)
        console.print(
            f"wrote {out}: the public 11.4 sample's PPMID image, firmware version {SAMPLE_FIRMWARE_VERSION}, "
            f"SHA-256 {parse_image(SAMPLE_PPMID_IMAGE).firmware_hash} (on the CPL of an estate generated "
            f"with --dccboxed, for {PPMID})"
        )
        console.print(
            f"send it: hanota sr build 11.4 --originator {SUPPLIER_EUI} --image {out} "
            f"--firmware-version {SAMPLE_FIRMWARE_VERSION} --device {PPMID} -o r.xml"
        )
        return
    kind = device_type.upper()
    if kind not in SRV_OF_TYPE:
        fail(f"--device-type {device_type!r}: IHD, PPMID, ESME or GSME")
    models = sorted(catalogue.models_of(kind), key=lambda m: -m.share)
    if rank >= len(models):
        fail(f"the catalogue has {len(models)} {kind} models: --rank 0 to {len(models) - 1}")
    model = models[rank]
    image, version = release_image(model)
    srv = SRV_OF_TYPE[kind]
    sender = "SUPPLIER"
    devices = ""
    if devices_file is not None:
        engine = migrated_engine(load_settings())
        try:
            campaign = plan(engine, model, MAX_DEVICE_IDS, SystemClock().now())
        except LookupError as e:
            fail(
                f"{e} in the store (generate an estate, or a bigger one, or choose another --device-type/--rank)"
            )
        finally:
            engine.dispose()
        _write(devices_file, "".join(f"{d}\n" for d in campaign.device_ids).encode())
        sender = campaign.sender
        devices = f" --devices-file {devices_file}"
    _write(out, image)
    console.print(
        f"wrote {out}: {kind} image for manufacturer {model.manufacturer} model {model.model} (hardware "
        f"{model.hw_min:#06x}–{model.hw_max:#06x}), firmware version {version}, SHA-256 "
        f"{parse_image(image).firmware_hash} (Active on the CPL of every generated estate)"
    )
    if devices_file is not None:
        console.print(
            f"wrote {devices_file}: {len(campaign.device_ids):,} devices of that model; supplier {sender}"
        )
    console.print(
        f"send it: hanota sr build {srv} --originator {sender} --image {out} --firmware-version {version}"
        f"{devices or ' --device DEVICE-ID'} -o r.xml"
    )
