"""Hostile and malformed documents get a coded HanotaError from every stage, never a bare Python exception.

Each test here is a document that once reached ValueError or OverflowError (an HTTP 500) through
parse_document → Verifier.verify → validate_schema → parse_request / parse_response. None needs the shared
material: the signer is a test PKI leaf.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from duis_testkit import NOW, SUPPLIER_EUI, Identity, TestPKI
from lxml import etree

from hanota.duis import codes, models, xmlparse
from hanota.duis.requests import Request, parse_request
from hanota.duis.responses import Response, ResponseMessage, parse_response
from hanota.duis.signing import StaticTrustStore, Verifier
from hanota.duis.values import RequestID
from hanota.duis.xmlparse import DS, MAX_REQUEST_BYTES, SR, parse_document, validate_schema
from hanota.errors import InputError, SignatureError

HUGE_NUMBER = "0" * 5000 + "8"  # a valid xs:positiveInteger (8) of 5,001 digits; int() stops at 4,300


@pytest.fixture(scope="module")
def identity(test_pki: TestPKI) -> Identity:
    return test_pki.leaf(test_pki.ca())


@pytest.fixture(scope="module")
def verifier(identity: Identity) -> Verifier:
    return Verifier(StaticTrustStore(pinned=[identity.certificate]))


def _request(body: models.RequestBody, srv: str) -> bytes:
    return models.render_request(
        Request(
            "5.4", RequestID(SUPPLIER_EUI, codes.DCC_EUI, 1), 8, codes.service_reference_of(srv), srv, body
        )
    )


def _set_text(data: bytes, tag: str, text: str) -> bytes:
    """`data` with the text of its one element `tag` (Clark notation) replaced."""
    root = parse_document(data, max_bytes=MAX_REQUEST_BYTES)
    (element,) = root.iter(tag)
    element.text = text
    return etree.tostring(root, encoding="UTF-8")


def _through_the_chain(data: bytes, verifier: Verifier, parse: Callable[[etree._Element], Any]) -> Any:
    """What the DSP does with a request, in order."""
    root = parse_document(data, max_bytes=MAX_REQUEST_BYTES)
    verified = verifier.verify(root, now=NOW)
    validate_schema(verified.root)
    return parse(verified.root)


# ---------------------------------------------------------------------------------------------------
# Signature profile: unsigned hostile input, before any trust check
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serial", "match"),
    [
        ("9" * 5000, "5,000 digits, over 64"),  # int() would raise ValueError: an unsigned request got a 500
        ("1" * 65, "65 digits, over 64"),
        ("1" * 64, "no trusted certificate with serial 1111"),  # 64 digits are looked up (and not found)
    ],
)
def test_a_serial_number_is_bounded_before_it_is_converted(
    identity: Identity, verifier: Verifier, serial: str, match: str
) -> None:
    """A certificate serial in the signature over 64 digits is refused E40 by its length before int() sees it;
    one of 64 digits is looked up (and not found, E40)."""
    signed = identity.signer().sign(_request(models.ReadInventory(uprn=5), "8.2"))
    hostile = _set_text(signed, DS + "X509SerialNumber", serial)
    with pytest.raises(SignatureError, match=match) as info:
        verifier.verify(hostile, now=NOW)
    assert info.value.code == codes.SIGNATURE_INVALID


def test_a_huge_issuer_name_is_clipped_in_the_message(identity: Identity, verifier: Verifier) -> None:
    """A 100,000-character X509IssuerName is refused as no trusted certificate with a message under 300
    characters."""
    signed = identity.signer().sign(_request(models.ReadInventory(uprn=5), "8.2"))
    with pytest.raises(SignatureError, match="no trusted certificate") as info:
        verifier.verify(_set_text(signed, DS + "X509IssuerName", "CN=" + "x" * 100_000), now=NOW)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("element", ["DigestValue", "SignatureValue"])
@pytest.mark.parametrize("junk", ["é", "\u00a0", "\u2028", "\u3000"])
def test_non_ascii_in_base64_values_is_a_signature_error(
    identity: Identity, verifier: Verifier, element: str, junk: str
) -> None:
    """binascii and signxml's b64decode raise a plain ValueError on non-ASCII text; str.split() drops
    U+00A0, so a trusted signature with one inside its SignatureValue used to reach signxml and fail there."""
    signed = identity.signer().sign(_request(models.ReadInventory(uprn=5), "8.2"))
    root = parse_document(signed, max_bytes=MAX_REQUEST_BYTES)
    (value,) = root.iter(DS + element)
    text = value.text or ""
    value.text = text[:8] + junk + text[8:]
    with pytest.raises(SignatureError, match=f"{element} is not base64") as info:
        verifier.verify(etree.tostring(root, encoding="UTF-8"), now=NOW)
    assert info.value.code == codes.SIGNATURE_INVALID


# ---------------------------------------------------------------------------------------------------
# Models: signed, schema-valid requests and responses
# ---------------------------------------------------------------------------------------------------


def test_a_schema_valid_command_variant_of_5001_digits_is_malformed(
    identity: Identity, verifier: Verifier
) -> None:
    """A signed request whose CommandVariant is 5,001 digits passes the schema (it has no length limit) but
    the typed parse refuses it E100 by its length."""
    unsigned = _set_text(_request(models.ReadInventory(uprn=5), "8.2"), SR + "CommandVariant", HUGE_NUMBER)
    validate_schema(parse_document(unsigned, max_bytes=MAX_REQUEST_BYTES))  # the schema has no length limit
    with pytest.raises(InputError, match=r"CommandVariant: .* is 5,001 characters, over 40") as info:
        _through_the_chain(identity.signer().sign(unsigned), verifier, parse_request)
    assert info.value.code == codes.MALFORMED_REQUEST


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("0" * 39 + "8", True),
        ("0" * 40 + "8", False),
        ("+" + "0" * 38 + "8", True),
        ("+" + "0" * 39 + "8", False),
    ],
)
def test_integers_are_read_up_to_40_characters(text: str, ok: bool) -> None:
    """An integer field is read when its text is at most 40 characters (leading zeros and a sign counted) and
    refused as malformed over that."""
    data = _set_text(_request(models.ReadInventory(uprn=5), "8.2"), SR + "CommandVariant", text)
    root = parse_document(data, max_bytes=MAX_REQUEST_BYTES)
    if ok:
        assert parse_request(root).command_variant == 8
    else:
        with pytest.raises(InputError, match="over 40"):
            parse_request(root)


def _response(body: ResponseMessage | models.DCCAlertMessage) -> bytes:
    return models.render_response(Response(None, codes.SUCCESS, datetime(2026, 1, 1, tzinfo=UTC), body))


def _quarantine() -> models.DCCAlertMessage:
    return models.DCCAlertMessage.of(
        models.QuarantinedRequest(
            models.QuarantineKind.USER_THRESHOLD, RequestID(SUPPLIER_EUI, codes.DCC_EUI, 1), 5
        )
    )


@pytest.mark.parametrize(
    ("data", "tag"),
    [
        (_request(models.ReadInventory(uprn=5), "8.2"), "UPRN"),
        (_response(_quarantine()), "QuarantineEventRef"),
        (
            _response(
                models.DCCAlertMessage(
                    codes.QUARANTINED_REQUEST, _quarantine().alert, throttled_sequence_id=1, throttled_count=1
                )
            ),
            "ThrottledAlertCount",
        ),
        (
            _response(
                ResponseMessage(
                    "8.2",
                    models.DSPInventory(
                        (models.InventoryDevice(SUPPLIER_EUI, models.DeviceType.PPMID, "m", "m", uprn=5),)
                    ),
                )
            ),
            "UPRN",
        ),
    ],
)
def test_every_integer_field_refuses_5001_digits(data: bytes, tag: str) -> None:
    """Every integer field of a request or response (UPRN, QuarantineEventRef, ThrottledAlertCount) refuses
    5,001 digits as malformed, naming the field."""
    root = parse_document(_set_text(data, SR + tag, HUGE_NUMBER), max_bytes=MAX_REQUEST_BYTES)
    parse = parse_request if root.tag == SR + "Request" else parse_response
    with pytest.raises(InputError, match=f"{tag}: .* is 5,001 characters, over 40"):
        parse(root)


@pytest.mark.parametrize(
    "when",
    ["0001-01-01T00:00:00+01:00", "0001-01-01T00:59:59.999+01:00", "9999-12-31T23:59:59-01:00"],
)
def test_a_date_time_outside_the_utc_range_is_malformed(when: str) -> None:
    """Schema-valid xs:dateTime that astimezone(UTC) cannot represent: OverflowError, not ValueError."""
    data = _set_text(_response(ResponseMessage("8.2")), SR + "ResponseDateTime", when)
    root = parse_document(data, max_bytes=MAX_REQUEST_BYTES)
    validate_schema(root)
    with pytest.raises(InputError, match=r"ResponseDateTime: .* is out of range in UTC"):
        parse_response(root)
    alert = models.CommsHubAlert(SUPPLIER_EUI, 0x8F8A, timestamp=datetime(2026, 1, 1, tzinfo=UTC))
    data = _set_text(_response(models.DCCAlertMessage.of(alert)), SR + "TimeStamp", when)
    with pytest.raises(InputError, match=r"TimeStamp: .* is out of range in UTC"):
        parse_response(parse_document(data, max_bytes=MAX_REQUEST_BYTES))


@pytest.mark.parametrize("junk", ["é", "\u00a0", "\u2028"])
def test_non_ascii_base64_is_malformed(junk: str) -> None:
    """A non-ASCII character (é, no-break space, line separator) inside a FirmwareImage or GBCSPayload makes
    it invalid base64, refused as malformed, never decoded."""
    firmware = _request(models.UpdatePPMIDFirmware(bytes(6), "1", (SUPPLIER_EUI,)), "11.4")
    data = _set_text(firmware, SR + "FirmwareImage", "AAAA" + junk + "AAAA")
    with pytest.raises(InputError, match="FirmwareImage is not valid base64"):
        parse_request(parse_document(data, max_bytes=MAX_REQUEST_BYTES))
    gbcs = _response(ResponseMessage("11.2", models.GBCSPayload(bytes(6))))
    data = _set_text(gbcs, SR + "GBCSPayload", "AAAA" + junk + "AAAA")
    with pytest.raises(InputError, match="GBCSPayload is not valid base64"):
        parse_response(parse_document(data, max_bytes=MAX_REQUEST_BYTES))


def test_base64_with_xml_whitespace_is_still_accepted() -> None:
    """Base64 text broken by XML whitespace (spaces, tabs, CR LF) is still decoded to the same bytes."""
    data = _set_text(
        _response(ResponseMessage("11.2", models.GBCSPayload(bytes(6)))),
        SR + "GBCSPayload",
        " AA\tAA\r\nAAAA ",
    )
    response = parse_response(parse_document(data, max_bytes=MAX_REQUEST_BYTES))
    assert isinstance(response.body, ResponseMessage)
    assert response.body.payload == models.GBCSPayload(bytes(6))


# ---------------------------------------------------------------------------------------------------
# EUIs
# ---------------------------------------------------------------------------------------------------


def test_format_eui_and_eui_bytes() -> None:
    """An EUI-64 converts between 8 octets and its upper-case dashed text both ways (lower case accepted); any
    other length or text is a ValueError."""
    raw = bytes.fromhex("90B3D51F30010000")
    assert models.format_eui(raw) == SUPPLIER_EUI
    assert models.eui_bytes(SUPPLIER_EUI) == raw
    assert models.eui_bytes(SUPPLIER_EUI.lower()) == raw
    for bad in (b"", bytes(7), bytes(9)):
        with pytest.raises(ValueError, match="8 octets"):
            models.format_eui(bad)
    for text in ("90B3D51F30010000", "90-B3-D5-1F-30-01-00", "90-B3-D5-1F-30-01-00-0G", " " + SUPPLIER_EUI):
        with pytest.raises(ValueError, match="not an EUI"):
            models.eui_bytes(text)


# ---------------------------------------------------------------------------------------------------
# Schema: one XMLSchema per thread, lock-free once built
# ---------------------------------------------------------------------------------------------------


def _in_thread(function: Callable[[], Any]) -> Any:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join(timeout=60)
    assert result, "the thread failed"
    return result[0]


def test_each_thread_has_its_own_schema() -> None:
    """The compiled schema is cached per thread: the same object again in one thread, a different one in
    another (lxml schemas are not shared across threads)."""
    mine = xmlparse.load_schema()
    assert xmlparse.load_schema() is mine
    theirs = _in_thread(lambda: (xmlparse.load_schema(), xmlparse.load_schema()))
    assert theirs[0] is theirs[1]
    assert theirs[0] is not mine


def test_a_thread_builds_its_schema_from_bundled_files_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The schema document is parsed once; a new thread's XMLSchema resolves its imports with the same
    bundled-only resolver, and neither step opens a socket."""
    requested: list[str] = []
    original = xmlparse._BundledSchemaResolver.resolve

    def recording(self: Any, system_url: str, public_id: str, context: Any = None) -> Any:
        requested.append(system_url)
        return original(self, system_url, public_id, context)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access during schema loading")

    monkeypatch.setattr(xmlparse._BundledSchemaResolver, "resolve", recording)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    xmlparse._reset_schema_cache()
    try:
        xmlparse.load_schema()
        first = list(requested)
        requested.clear()
        _in_thread(xmlparse.load_schema)
    finally:
        monkeypatch.undo()
    assert first and requested  # both builds resolved their imports through the resolver
    for url in first + requested:
        path = xmlparse.bundled_schema_path(url)
        assert path is not None and path.parent == xmlparse.SCHEMA_DIR, url


def test_concurrent_validation_reports_each_documents_own_error() -> None:
    """Without a lock, a shared XMLSchema's error log would mix threads up; one per thread does not."""
    good = _request(models.ReadInventory(uprn=5), "8.2")
    bad_cv = _set_text(good, SR + "CommandVariant", "10")
    bad_uprn = _set_text(good, SR + "UPRN", "0")
    outcomes: dict[str, list[str]] = {"good": [], "cv": [], "uprn": []}
    barrier = threading.Barrier(6)

    def work(name: str, data: bytes) -> None:
        barrier.wait()
        for _ in range(40):
            try:
                validate_schema(parse_document(data, max_bytes=MAX_REQUEST_BYTES))
                outcomes[name].append("valid")
            except InputError as exc:
                outcomes[name].append(exc.message)

    threads = [
        threading.Thread(target=work, args=(name, data))
        for name, data in (("good", good), ("cv", bad_cv), ("uprn", bad_uprn)) * 2
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes["good"] == ["valid"] * 80
    assert len(outcomes["cv"]) == 80 and all("CommandVariant" in m for m in outcomes["cv"])
    assert len(outcomes["uprn"]) == 80 and all("UPRN" in m for m in outcomes["uprn"])


# ---------------------------------------------------------------------------------------------------
# Canonicalisation
# ---------------------------------------------------------------------------------------------------

RELATIVE = b'xmlns:sr="relative/ns"'
ABSOLUTE = b'xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway"'


def test_a_relative_namespace_uri_cannot_be_signed(identity: Identity) -> None:
    """C14N 1.0 refuses relative namespace URIs: lxml raised C14NError out of Signer.sign."""
    unsigned = _request(models.ReadInventory(uprn=5), "8.2").replace(ABSOLUTE, RELATIVE)
    with pytest.raises(InputError, match="cannot be canonicalised") as info:
        identity.signer().sign(unsigned)
    assert info.value.code == codes.MALFORMED_REQUEST


def test_a_relative_namespace_uri_is_a_signature_error(identity: Identity, verifier: Verifier) -> None:
    """A signed document whose namespace URI was made relative cannot be canonicalised: refused as a signature
    error (E40), not a crash."""
    signed = identity.signer().sign(_request(models.ReadInventory(uprn=5), "8.2"))
    with pytest.raises(SignatureError, match="signature rejected: C14N failed"):
        verifier.verify(signed.replace(ABSOLUTE, RELATIVE), now=NOW)
