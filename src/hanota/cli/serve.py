"""`hanota serve` and `hanota sr …`: run the DSP, and drive it as a supplier would."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn

from hanota.api.app import create_app
from hanota.bootstrap import build_context, make_clock, make_delivery, make_router, make_runners
from hanota.cli.common import EXIT_REFUSED, check_can_listen, console, fail, load_settings, migrated_engine
from hanota.clock import SystemClock
from hanota.duis import (
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    Request,
    RequestID,
    Signer,
    StaticTrustStore,
    Verifier,
    load_certificate,
    load_private_key,
    parse_document,
    parse_response,
    render_request,
)
from hanota.duis import codes as duis_codes
from hanota.duis.alerts import DCCAlertMessage
from hanota.duis.requests import (
    DevicePrenotification,
    ReadInventory,
    RequestBody,
    UpdateDeviceDetails,
    UpdateFirmware,
    UpdateInventory,
    UpdatePPMIDFirmware,
)
from hanota.duis.responses import DSPInventory
from hanota.duis.values import SCHEMA_VERSION, DeviceType
from hanota.duis.xmlparse import SR_NS
from hanota.errors import HanotaError

sr_app = typer.Typer(help="Build, sign and submit DUIS requests, as a supplier would.", no_args_is_help=True)


def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default HANOTA_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default HANOTA_PORT or 8079)")] = None,
    workers: Annotated[int, typer.Option(help="processes (more than 1: each a full API process)")] = 1,
) -> None:
    """Run the DSP's HTTP API (DUIS at /api/v1/serviceD, serviceS and serviceT, as DCC Boxed)."""
    settings = load_settings()
    migrated_engine(settings).dispose()
    host = host or settings.host
    port = port or settings.port
    console.print(
        f"hanota DSP on http://{host}:{port}/api/v1/serviceD (also serviceS, serviceT)  (store: {settings.database_url})"
    )
    if workers > 1:
        uvicorn.run("hanota.api.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level="warning", **settings.uvicorn_options())  # fmt: skip
        return
    ctx = build_context(settings, migrate=False)
    if settings.run_worker:
        ctx.router = make_router(ctx, f"http://{host}:{port}")
        ctx.delivery = make_delivery(ctx)
    if settings.run_network:
        ctx.runners = make_runners(ctx, f"http://{host}:{port}")
    uvicorn.run(create_app(ctx), host=host, port=port, log_level="warning", **settings.uvicorn_options())


def worker() -> None:
    """Run the workers alone until Ctrl-C: distributions to the CSP gateways, and alerts to the Users."""
    import threading

    settings = load_settings()
    ctx = build_context(settings)
    router = make_router(ctx, name="worker")
    delivery = make_delivery(ctx, name="worker")
    console.print(f"distribution worker on {settings.database_url}; CSPs: {settings.csp_urls()}")
    console.print("alert delivery worker: outbox alerts to each User's alert endpoint")
    stop = threading.Event()
    alerts = threading.Thread(
        target=delivery.run_forever, args=(stop, settings.worker_poll_seconds), daemon=True
    )
    alerts.start()
    try:
        router.run_forever(stop, settings.worker_poll_seconds)
    except KeyboardInterrupt:
        stop.set()
    finally:
        stop.set()
        alerts.join(timeout=30)
        delivery.close()


csp_app = typer.Typer(help="CSP gateways (one per region) run on their own.", no_args_is_help=True)


@csp_app.command("serve")
def csp_serve(
    region: Annotated[str, typer.Option(help="north, central or south")],
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8081,
) -> None:
    """Serve one region's gateway (its interface at /v1/distributions, OpenAPI at /v1/openapi.json), with the
    simulated network behind it, reporting events to HANOTA_DSP_URL."""
    import threading
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    from hanota.csp.gateway import Gateway, gateway_router
    from hanota.csp.interface import region_key
    from hanota.csp.runner import GatewayRunner
    from hanota.lifecycle import Region
    from hanota.network.profile import load_profile

    settings = load_settings()
    try:
        name = Region.parse(region).value
    except ValueError:
        fail(f"unknown region {region!r}: north, central or south")
    engine = migrated_engine(settings)
    clock = make_clock(engine, settings)
    gw = Gateway(name, engine, clock, region_key(settings.csp_secret, name))
    dsp_url = settings.dsp_url or f"http://{settings.host}:{settings.port}"
    runner = GatewayRunner(gw, load_profile(settings.network_profile), dsp_url, seed=settings.network_seed)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = threading.Thread(
            target=runner.run_forever, args=(stop, settings.worker_poll_seconds), daemon=True
        )
        thread.start()
        yield
        stop.set()
        thread.join(timeout=30)
        runner.close()

    app = FastAPI(title=f"hanota CSP gateway {name}", openapi_url="/v1/openapi.json", docs_url="/v1/docs",
                  lifespan=lifespan)  # fmt: skip
    app.include_router(gateway_router(gw))
    check_can_listen(host, port)
    console.print(f"CSP {name} gateway on http://{host}:{port}/v1/distributions; events to {dsp_url}")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _emit(data: bytes, out: Path | None) -> None:
    """Write a request to `out`, or to standard output."""
    if out:
        out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data + b"\n")


def _ids(values: list[str] | None, file: Path | None) -> tuple[str, ...]:
    ids = list(values or [])
    if file is not None:
        ids += [x.strip() for x in file.read_text().replace("\n", ",").split(",") if x.strip()]
    return tuple(ids)


@sr_app.command("build")
def sr_build(
    srv: Annotated[str, typer.Argument(help="11.4, 11.1, 8.2, 8.4 or 12.2")],
    originator: Annotated[str, typer.Option(help="your User ID (EUI)")],
    counter: Annotated[
        str, typer.Option(help="RequestID counter: a number, or 'now' (milliseconds since 1970)")
    ] = "now",
    device: Annotated[list[str] | None, typer.Option(help="a device ID (repeat for several)")] = None,
    devices_file: Annotated[Path | None, typer.Option(help="a file of device IDs (comma or newline)")] = None,
    image: Annotated[
        Path | None, typer.Option(help="the firmware image (11.4, 11.1), e.g. from `hanota firmware sample`")
    ] = None,
    firmware_version: Annotated[
        str | None, typer.Option(help="firmware version (11.4, 11.1, 8.4, 12.2)")
    ] = None,
    device_type: Annotated[str | None, typer.Option(help="device type (12.2)")] = None,
    manufacturer: Annotated[str | None, typer.Option(help="manufacturer (12.2)")] = None,
    model: Annotated[str | None, typer.Option(help="model (12.2)")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write here instead of stdout")] = None,
) -> None:
    """Build an unsigned DUIS request from arguments."""
    count = _counter(counter)
    ids = _ids(device, devices_file)
    body: RequestBody
    if srv in ("11.4", "11.1"):
        if image is None or firmware_version is None or not ids:
            fail(
                f"SR {srv} needs --image (e.g. from `hanota firmware sample`), --firmware-version and devices"
            )
        cls = UpdatePPMIDFirmware if srv == "11.4" else UpdateFirmware
        body = cls(image.read_bytes(), firmware_version, ids)
    elif srv == "8.2":
        body = ReadInventory(device_id=ids[0] if ids else None)
    elif srv == "8.4":
        if not ids:
            fail("SR 8.4 needs --device")
        body = UpdateInventory(ids[0], UpdateDeviceDetails(firmware_version=firmware_version))
    elif srv == "12.2":
        if not (ids and device_type and manufacturer and model):
            fail("SR 12.2 needs --device, --device-type, --manufacturer and --model")
        body = DevicePrenotification(ids[0], manufacturer, model, DeviceType(device_type),
                                     firmware_version=firmware_version)  # fmt: skip
    else:
        fail(f"SRV {srv!r} is not one this tool builds: 11.4, 11.1, 8.2, 8.4 or 12.2")
    req = Request(
        schema_version=SCHEMA_VERSION,
        request_id=RequestID(originator.upper(), duis_codes.DCC_EUI, count),
        command_variant=duis_codes.CV_NON_DEVICE,
        service_reference=duis_codes.service_reference_of(srv),
        srv=srv,
        body=body,
    )
    data = render_request(req)
    _emit(data, out)


@sr_app.command("sign")
def sr_sign(
    file: Annotated[Path, typer.Argument(help="the unsigned (or placeholder-signed) request")],
    key: Annotated[Path, typer.Option(help="your XML-signing private key (PEM or DER)")],
    cert: Annotated[Path, typer.Option(help="its certificate")],
    counter: Annotated[
        str | None,
        typer.Option(
            help="first set the RequestID's counter: a number, or 'now' (milliseconds since 1970); the DSP "
            "accepts each counter once, so a sample or a request sent before needs a fresh one"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write here instead of stdout")] = None,
) -> None:
    """Sign a request with the DUIS profile (enveloped, ECDSA-SHA256, SHA-256 digest, X509IssuerSerial)."""
    signer = Signer(load_private_key(key), load_certificate(cert))
    root = parse_document(file.read_bytes(), max_bytes=MAX_REQUEST_BYTES)
    if counter is not None:
        _set_counter(root, _counter(counter))
    _emit(signer.sign_element(root), out)


def _counter(value: str) -> int:
    """A RequestID counter from the command line: digits, or 'now' (milliseconds since 1970)."""
    if value.strip().lower() == "now":
        return int(time.time() * 1000)
    if not value.strip().isdigit():
        fail(f"--counter {value!r}: a number, or 'now'")
    return int(value)


def _set_counter(root: Any, counter: int) -> None:
    """Replace the counter (the third part) of the request's sr:Header/sr:RequestID."""
    element = root.find(f"{{{SR_NS}}}Header/{{{SR_NS}}}RequestID")
    parts = (element.text or "").strip().split(":") if element is not None else []
    if element is None or len(parts) != 3:
        fail("the file has no sr:Header/sr:RequestID of the form originator:target:counter")
    element.text = f"{parts[0]}:{parts[1]}:{counter}"


@sr_app.command("submit")
def sr_submit(
    url: Annotated[
        str,
        typer.Argument(
            help="the DSP, e.g. http://127.0.0.1:8079 (/api/v1/serviceD is added unless the URL names "
            "serviceD, serviceS or serviceT)"
        ),
    ],
    file: Annotated[Path, typer.Argument(help="a signed request")],
    dsp_cert: Annotated[
        Path | None, typer.Option(help="the DSP's certificate (default: this store's)")
    ] = None,
) -> None:
    """POST a signed request, verify the signed answer, and print it.

    Exits 0 when the DSP accepted the request (an I code, or a W code: accepted with some devices excluded,
    listed), 1 when it refused it (an E code such as E40 bad signature, E41 counter already used, E43
    quarantined, E110405 no device left), answered an HTTP error, cannot be reached, or its answer does not
    verify; 2 for a missing or unreadable file."""
    if not url.rstrip("/").endswith(("/api/v1/serviceD", "/api/v1/serviceS", "/api/v1/serviceT")):
        url = url.rstrip("/") + "/api/v1/serviceD"
    body = file.read_bytes()
    # the certificate first: a missing or unreadable one is an input error, found before anything is sent
    if dsp_cert is None:
        from hanota.dsp.trust import dsp_signer

        engine = migrated_engine(load_settings())
        try:
            cert = dsp_signer(engine).certificate
        finally:
            engine.dispose()
    else:
        cert = load_certificate(dsp_cert)
    r = httpx.post(url, content=body, headers={"content-type": "application/xml"}, timeout=120)
    if r.status_code != 200:
        fail(f"the DSP answered HTTP {r.status_code}: {r.text.strip()[:500]}", EXIT_REFUSED)
    verifier = Verifier(
        StaticTrustStore(pinned=[cert]),
        accepted_roles=(duis_codes.ROLE_DSP_XML_SIGNING,),
        max_bytes=MAX_RESPONSE_BYTES,
    )
    try:
        verified = verifier.verify(r.content, now=SystemClock().now())
        resp = parse_response(verified.root)
    except HanotaError as e:
        fail(f"the answer does not verify: {e.message}", EXIT_REFUSED)
    meaning = (
        duis_codes.response_code(resp.response_code).meaning
        if duis_codes.is_known_response_code(resp.response_code)
        else "(a code this tool's table does not hold)"
    )
    if resp.response_code.startswith("E"):
        fail(f"refused: {resp.response_code} {meaning} (RequestID {resp.request_id}; signature verified: "
             f"{verified.signer_eui})", EXIT_REFUSED)  # fmt: skip
    console.print(f"[bold]{resp.response_code}[/bold] {meaning}  (signature verified: {verified.signer_eui})")
    console.print(f"RequestID {resp.request_id}  at {resp.response_datetime.isoformat()}")
    answer = resp.body
    if isinstance(answer, DCCAlertMessage):
        console.print(answer)
        return
    payload = answer.payload
    if isinstance(payload, DSPInventory):
        for d in payload.devices:
            console.print(
                f"  {d.device_id} {d.device_type.value:6} {d.device_status.value if d.device_status else '-':26} "
                f"fw {d.firmware_version or '-':8} fw-status {d.firmware_version_status or '-'} "
                f"CPL {d.cpl_status or '-'} {d.csp_region or ''}"
            )
    elif payload is not None and hasattr(payload, "lists"):
        for name, ids in payload.lists():
            if ids:
                console.print(f"  {name}: {len(ids)} — {', '.join(ids[:10])}{' …' if len(ids) > 10 else ''}")
