"""DUIS models: the public samples parse into the right values, and parse(render(x)) == x for everything."""

from __future__ import annotations

import base64
import contextlib
import copy
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from duis_testkit import NOW, TestPKI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hanota.duis import codes, models, xmlparse
from hanota.duis.alerts import DCCAlertMessage
from hanota.duis.requests import Request, parse_request, render_request
from hanota.duis.responses import Response, ResponseMessage, parse_response, render_response
from hanota.duis.signing import Signer, StaticTrustStore, Verifier
from hanota.duis.values import RequestID, parse_device_id_list
from hanota.duis.xmlparse import DS, MAX_REQUEST_BYTES, SR, parse_document, validate_schema
from hanota.errors import AccessError, HanotaError, InputError, TooLarge

SUPPLIER = "90-B3-D5-1F-30-01-00-00"
DCC = codes.DCC_EUI
WHEN = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)


def _parse_request_bytes(data: bytes) -> Request:
    return parse_request(parse_document(data, max_bytes=MAX_REQUEST_BYTES))


def _sample(requests_dir: Path, name: str) -> Request:
    root = parse_document((requests_dir / name).read_bytes(), max_bytes=MAX_REQUEST_BYTES)
    validate_schema(root)
    return parse_request(root)


def _request(body: models.RequestBody, srv: str, counter: int = 1) -> Request:
    return Request("5.4", RequestID(SUPPLIER, DCC, counter), 8, codes.service_reference_of(srv), srv, body)


# ---------------------------------------------------------------------------------------------------
# Request samples
# ---------------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_sample_11_4_update_ppmid_firmware(requests_dir: Path) -> None:
    """The public DCC Boxed 11.4 sample validates and parses to its RequestID, command variant 8, firmware
    version, one PPMID device and a ZigBee OTA image (PPMID image type, its total size in the header)."""
    request = _sample(requests_dir, "11.4_UPDATE_PPMID_FIRMWARE_REQUEST_DUIS.XML")
    assert request.request_id == RequestID(SUPPLIER, DCC, 1000)
    assert (request.schema_version, request.command_variant, request.service_reference, request.srv) == (
        "5.4",
        8,
        "11.4",
        "11.4",
    )
    body = request.body
    assert isinstance(body, models.UpdatePPMIDFirmware)
    assert body.firmware_version == "00000000"
    assert body.device_ids == ("00-DB-12-34-56-78-90-A4",)
    image = body.image
    assert image[:4] == bytes.fromhex("1EF1EE0B")  # ZigBee OTA magic 0x0BEEF11E, little-endian
    assert int.from_bytes(image[6:8], "little") == 60  # header length
    assert int.from_bytes(image[10:12], "little") == 0x121D  # manufacturer code
    assert int.from_bytes(image[12:14], "little") == 0x0084  # image type: PPMID
    assert int.from_bytes(image[52:56], "little") == len(image)  # total image size


@pytest.mark.shared
def test_sample_11_1_update_firmware(requests_dir: Path) -> None:
    """The public 11.1 sample validates and parses to an UpdateFirmware of one device with an ESME OTA image."""
    request = _sample(requests_dir, "11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML")
    body = request.body
    assert isinstance(body, models.UpdateFirmware)
    assert request.srv == "11.1"
    assert body.firmware_version == "00000000"
    assert body.device_ids == ("00-DB-12-34-56-78-90-A0",)
    assert body.image[:4] == bytes.fromhex("1EF1EE0B")
    assert int.from_bytes(body.image[12:14], "little") == 0x0000  # image type: ESME


@pytest.mark.shared
def test_sample_8_2_read_inventory(requests_dir: Path) -> None:
    """The public 8.2 sample parses to a ReadInventory of its one device ID."""
    request = _sample(requests_dir, "8.2_READ_INVENTORY_REQUEST_DUIS.XML")
    assert request.body == models.ReadInventory(device_id="00-DB-12-34-56-78-90-A2")


@pytest.mark.shared
def test_sample_8_4_update_inventory(requests_dir: Path) -> None:
    """The public 8.4 sample parses to an UpdateInventory deleting its device, with no firmware version."""
    request = _sample(requests_dir, "8.4_UPDATE_INVENTORY_REQUEST_DUIS.XML")
    assert request.body == models.UpdateInventory("00-DB-12-34-56-78-90-A0", models.DeleteDevice())
    assert isinstance(request.body, models.UpdateInventory)
    assert request.body.firmware_version is None


@pytest.mark.shared
def test_sample_12_2_device_prenotification(requests_dir: Path) -> None:
    """The public 12.2 sample parses to a DevicePrenotification with every field of the sample (manufacturer,
    model, type, SMETS version, firmware, ESME variant)."""
    request = _sample(requests_dir, "12.2_DEVICE_PRE_NOTIFICATION_REQUEST_DUIS.XML")
    assert request.body == models.DevicePrenotification(
        device_id="00-DB-12-34-56-78-90-A0",
        manufacturer="AB01",
        model="010A030B",
        device_type=models.DeviceType.ESME,
        smets_chts_version="SMETS V1.58",
        firmware_version="0002012F",
        esme_variant="AD",
    )


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "srv"),
    [
        ("CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML", "11.3"),
        ("CS08_11.2_SUCCESS_REQUEST_DUIS.XML", "11.2"),
    ],
)
def test_known_srvs_not_served_here_are_e13(requests_dir: Path, name: str, srv: str) -> None:
    """A public sample of an SRV of the schema this DSP does not serve (11.3, 11.2) is refused by the typed
    parse with E13, naming the SRV."""
    with pytest.raises(AccessError, match=f"SRV {re.escape(srv)}") as info:
        _sample(requests_dir, name)
    assert info.value.code == codes.INVALID_REQUEST_TYPE_FOR_URL


# ---------------------------------------------------------------------------------------------------
# Response samples
# ---------------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_sample_read_inventory_response(responses_dir: Path) -> None:
    """DCC Boxed's 8.2 response validates and parses to its three devices with every field (status, firmware
    and CPL status, region, connectivity…), and our rendering of it reads back equal."""
    response = parse_response(
        parse_document((responses_dir / "read-inventory-response-5.4.xml").read_bytes(), max_bytes=1 << 20)
    )
    assert response.request_id == RequestID(SUPPLIER, DCC, 1766940660265)
    assert response.response_code == "I0"
    assert response.response_datetime == datetime(2025, 12, 28, 16, 51, 1, 185000, tzinfo=UTC)
    assert isinstance(response.body, ResponseMessage)
    assert response.body.srv == "8.2"
    inventory = response.body.payload
    assert isinstance(inventory, models.DSPInventory)
    chf, cad, gpf = inventory.devices
    assert chf == models.InventoryDevice(
        device_id="88-73-84-90-6A-10-02-DB",
        device_type=models.DeviceType.CHF,
        device_status=models.DeviceStatus.COMMISSIONED,
        manufacturer="106C",
        model="433100AC",
        smets_chts_version="CHTS V1.4",
        firmware_version="9001",
        firmware_version_status=models.FirmwareStatus.ACTIVE,
        cpl_status=models.FirmwareStatus.ACTIVE,
        date_commissioned=date(2025, 12, 28),
        uprn=123456789012,
        property_filter=models.PropertyFilter("1111-111", "12334"),
        csp_region=models.CSPRegion.CENTRAL_4G,
        gbcs_version="4.2",
        han_variant="Single Band",
        connectivity=models.Connectivity.VIRTUAL,
    )
    assert cad.device_type is models.DeviceType.CAD
    assert cad.device_status is None
    assert cad.firmware_version is None
    assert cad.csp_region is models.CSPRegion.CENTRAL
    assert gpf.device_status is models.DeviceStatus.INSTALLED_NOT_COMMISSIONED
    # Our rendering is schema-valid and reads back the same.
    again = parse_response(parse_document(render_response(response), max_bytes=1 << 20))
    assert again == response


@pytest.mark.shared
def test_sample_acknowledgement_error(responses_dir: Path) -> None:
    """DCC Boxed's 5.1 acknowledgement error parses to response code E65 with an empty 11.2 message."""
    response = parse_response(
        parse_document((responses_dir / "acknowledgement-error.xml").read_bytes(), max_bytes=1 << 20)
    )
    assert response.response_code == "E65"
    assert response.schema_version == "5.1"
    assert response.body == ResponseMessage("11.2")


@pytest.mark.shared
def test_sample_readfw_response_has_a_gbcs_payload_and_a_response_id(responses_dir: Path) -> None:
    """A device's read-firmware response parses with its ResponseID and its GBCS payload bytes."""
    response = parse_response(
        parse_document((responses_dir / "readfw-response.xml").read_bytes(), max_bytes=1 << 20)
    )
    assert response.response_id == RequestID("88-73-84-57-00-2F-96-1E", SUPPLIER, 1660751141087)
    assert isinstance(response.body, ResponseMessage)
    assert isinstance(response.body.payload, models.GBCSPayload)
    assert response.body.payload.data[:1] == b"\xdd"


# ---------------------------------------------------------------------------------------------------
# Request errors
# ---------------------------------------------------------------------------------------------------

READ_INVENTORY = render_request(_request(models.ReadInventory(device_id="00-DB-12-34-56-78-90-A2"), "8.2"))


def _malformed(data: bytes, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        _parse_request_bytes(data)
    assert info.value.code == codes.MALFORMED_REQUEST


def test_wrong_namespace_is_refused() -> None:
    """A request in another namespace than DUIS's is malformed (E100), naming the namespace."""
    _malformed(
        READ_INVENTORY.replace(b"dccinterface.co.uk/ServiceUserGateway", b"example.com/evil"), "namespace"
    )


def test_wrong_root_is_refused() -> None:
    """A document whose root is not sr:Request (any element, or a DUIS response) is refused as a request, and
    a request is refused as a response."""
    _malformed(b"<foo/>", "expected sr:Request")
    response = render_response(Response(None, "I0", WHEN, ResponseMessage("8.2")))
    _malformed(response, "expected sr:Request")
    with pytest.raises(InputError, match="expected sr:Response"):
        parse_response(parse_document(READ_INVENTORY, max_bytes=1 << 20))


def test_header_and_body_must_agree() -> None:
    """ServiceReference, ServiceReferenceVariant and the body element must agree; any mismatch is E100 naming
    both sides."""
    _malformed(
        READ_INVENTORY.replace(b">8.2</sr:ServiceReferenceVariant>", b">8.4</sr:ServiceReferenceVariant>"),
        "ServiceReference '8.2' does not match SRV 8.4",
    )
    _malformed(
        READ_INVENTORY.replace(b">8.2</sr:ServiceReference>", b">8.4</sr:ServiceReference>"),
        "ServiceReference '8.4' does not match SRV 8.2",
    )
    swapped = READ_INVENTORY.replace(b"8.2<", b"8.4<")
    _malformed(swapped, "carries sr:UpdateInventory, but the body is sr:ReadInventory")


def test_unknown_srv_is_malformed_not_e13() -> None:
    """An SRV outside the schema (99.9) is malformed (E100), not E13 (which is for SRVs of the schema served
    at another URL)."""
    _malformed(READ_INVENTORY.replace(b"8.2<", b"99.9<"), "not a DUIS SRV")


@pytest.mark.parametrize(
    "request_id",
    [
        b"90-B3-D5-1F-30-01-00-00:90-B3-D5-1F-30-00-00-02",
        b"90-B3-D5-1F-30-01-00:90-B3-D5-1F-30-00-00-02:1",
        b"90-B3-D5-1F-30-01-00-00:90-B3-D5-1F-30-00-00-02:01",
        b"90-B3-D5-1F-30-01-00-00:90-B3-D5-1F-30-00-00-02:18446744073709551616",
        b"90-B3-D5-1F-30-01-00-00:90-B3-D5-1F-30-00-00-02:-1",
        b"90-B3-D5-1F-30-01-00-0G:90-B3-D5-1F-30-00-00-02:1",
    ],
)
def test_malformed_request_ids_are_refused(request_id: bytes) -> None:
    """A RequestID missing its counter, with a short or non-hex EUI, a leading zero, a negative counter or one
    over 64 bits is malformed, naming the RequestID."""
    _malformed(
        READ_INVENTORY.replace(b"90-B3-D5-1F-30-01-00-00:90-B3-D5-1F-30-00-00-02:1", request_id), "RequestID"
    )


def test_lower_case_euis_are_normalised() -> None:
    """The schema allows lower-case hex; the model holds upper case."""
    data = READ_INVENTORY.replace(b"90-B3-D5-1F-30-01-00-00", b" 90-b3-d5-1f-30-01-00-00 ").replace(
        b"00-DB-12-34-56-78-90-A2", b"00-db-12-34-56-78-90-a2"
    )
    request = _parse_request_bytes(data)
    assert request.request_id.originator == SUPPLIER
    assert request.body == models.ReadInventory(device_id="00-DB-12-34-56-78-90-A2")


def test_an_element_after_the_body_other_than_the_signature_is_refused() -> None:
    """After sr:Body only the signature may follow: a second sr:Body is refused as unexpected."""
    _malformed(READ_INVENTORY.replace(b"</sr:Body>", b"</sr:Body><sr:Body/>"), "unexpected element sr:Body")


def test_a_missing_header_element_is_named() -> None:
    """A header missing its CommandVariant is refused naming the element expected and the one found."""
    _malformed(
        re.sub(rb"<sr:CommandVariant>8</sr:CommandVariant>", b"", READ_INVENTORY),
        "expected sr:CommandVariant, found sr:ServiceReference",
    )


def _firmware_request(image_b64: bytes, ids: bytes, version: bytes = b"0000000A") -> bytes:
    template = render_request(
        _request(models.UpdatePPMIDFirmware(b"\x00", "X", ("00-00-00-00-00-00-00-01",)), "11.4")
    )
    return (
        template.replace(
            b"<sr:FirmwareImage>AA==</sr:FirmwareImage>",
            b"<sr:FirmwareImage>" + image_b64 + b"</sr:FirmwareImage>",
        )
        .replace(
            b"<sr:DeviceIDList>00-00-00-00-00-00-00-01</sr:DeviceIDList>",
            b"<sr:DeviceIDList>" + ids + b"</sr:DeviceIDList>",
        )
        .replace(
            b"<sr:FirmwareVersion>X</sr:FirmwareVersion>",
            b"<sr:FirmwareVersion>" + version + b"</sr:FirmwareVersion>",
        )
    )


def test_the_largest_image_parses_and_one_more_octet_is_too_large() -> None:
    """A firmware image of exactly the maximum octets validates and parses; one octet more is refused as too
    large (its own code), naming FirmwareImage."""
    largest = _firmware_request(base64.b64encode(bytes(models.MAX_IMAGE_OCTETS)), b"00-00-00-00-00-00-00-01")
    root = parse_document(largest, max_bytes=MAX_REQUEST_BYTES)
    validate_schema(root)
    request = parse_request(root)
    assert isinstance(request.body, models.UpdatePPMIDFirmware)
    assert len(request.body.image) == models.MAX_IMAGE_OCTETS
    too_big = _firmware_request(
        base64.b64encode(bytes(models.MAX_IMAGE_OCTETS + 1)), b"00-00-00-00-00-00-00-01"
    )
    with pytest.raises(TooLarge, match="FirmwareImage") as info:
        _parse_request_bytes(too_big)
    assert info.value.code == codes.REQUEST_TOO_LARGE


def test_50000_ids_parse_and_50001_are_too_large() -> None:
    """A DeviceIDList of 50,000 IDs parses in order; 50,001 is refused as too large, with the count in the
    message."""
    ids = [f"00-00-00-00-00-{i >> 16 & 255:02X}-{i >> 8 & 255:02X}-{i & 255:02X}" for i in range(50_001)]
    request = _parse_request_bytes(_firmware_request(b"AAAA", ",".join(ids[:50_000]).encode()))
    assert isinstance(request.body, models.UpdatePPMIDFirmware)
    assert len(request.body.device_ids) == 50_000
    assert request.body.device_ids[-1] == ids[49_999]
    with pytest.raises(TooLarge, match="50,001 device IDs") as info:
        _parse_request_bytes(_firmware_request(b"AAAA", ",".join(ids).encode()))
    assert info.value.code == codes.REQUEST_TOO_LARGE


def test_base64_with_line_breaks_is_accepted_and_junk_is_not() -> None:
    """A firmware image's base64 with LF and CRLF breaks decodes to the same bytes; padding in the middle is
    malformed."""
    request = _parse_request_bytes(_firmware_request(b"AAEC\nAwQF\r\n", b"00-00-00-00-00-00-00-01"))
    assert isinstance(request.body, models.UpdatePPMIDFirmware)
    assert request.body.image == bytes(range(6))
    _malformed(_firmware_request(b"AA=A", b"00-00-00-00-00-00-00-01"), "base64")


def test_firmware_version_length() -> None:
    """A FirmwareVersion of 9 characters, or empty, is malformed."""
    _malformed(_firmware_request(b"AAAA", b"00-00-00-00-00-00-00-01", b"123456789"), "FirmwareVersion")
    _malformed(_firmware_request(b"AAAA", b"00-00-00-00-00-00-00-01", b""), "FirmwareVersion")


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        (b"", "empty"),
        (b"00-00-00-00-00-00-00-01,", "entry 2"),
        (b"00-00-00-00-00-00-00-01, 00-00-00-00-00-00-00-02", "entry 2"),
        (b"00-00-00-00-00-00-00-0G", "entry 1"),
        (b"00-00-00-00-00-00-0001", "entry 1"),
        (b"00-00-00-00-00-00-00-01;00-00-00-00-00-00-00-02", "entry 1"),
    ],
)
def test_bad_device_id_lists_name_the_bad_entry(ids: bytes, match: str) -> None:
    """An empty DeviceIDList, a trailing comma, a space after a comma, a non-hex or undashed EUI or another
    separator is malformed, naming the bad entry's position."""
    _malformed(_firmware_request(b"AAAA", ids), match)


# ---------------------------------------------------------------------------------------------------
# Device ID lists and RequestIDs
# ---------------------------------------------------------------------------------------------------

EUI_PATTERN = r"[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){7}"
EUI_LIST_ORACLE = re.compile(rf"{EUI_PATTERN}(?:,{EUI_PATTERN})*")

canonical_eui = st.binary(min_size=8, max_size=8).map(lambda raw: "-".join(f"{b:02X}" for b in raw))
any_case_eui = st.tuples(canonical_eui, st.booleans()).map(lambda t: t[0].lower() if t[1] else t[0])


@settings(max_examples=300)
@given(st.lists(any_case_eui, min_size=1, max_size=20))
def test_device_id_lists_parse(ids: list[str]) -> None:
    """Any comma-separated list of 1-20 EUIs in any letter case parses to the same EUIs, upper-cased, in
    order."""
    assert parse_device_id_list(",".join(ids)) == tuple(i.upper() for i in ids)


@settings(max_examples=500)
@given(
    st.one_of(
        st.text(alphabet="0123456789ABCDEFabcdefg-, ", max_size=60),
        st.lists(any_case_eui, min_size=1, max_size=4)
        .map(",".join)
        .flatmap(
            lambda s: st.integers(0, len(s)).flatmap(
                lambda i: st.sampled_from(["", "-", ",", "0", "x", " "]).map(lambda c: s[:i] + c + s[i + 1 :])
            )
        ),
    )
)
def test_device_id_list_check_agrees_with_the_regex_oracle(text: str) -> None:
    """The slice-based check accepts exactly what the schema's pattern (as one regex) accepts."""
    expected = EUI_LIST_ORACLE.fullmatch(text) is not None
    try:
        parse_device_id_list(text)
        accepted = True
    except InputError:
        accepted = False
    assert accepted == expected, text


@given(canonical_eui, canonical_eui, st.integers(0, models.MAX_COUNTER))
def test_request_id_round_trips(originator: str, target: str, counter: int) -> None:
    """Any canonical RequestID (two EUIs and a counter up to the maximum) renders to text that parses back
    equal."""
    request_id = RequestID(originator, target, counter)
    assert RequestID.parse(str(request_id)) == request_id


def test_request_id_constructor_wants_canonical_values() -> None:
    """A RequestID refuses a lower-case EUI and a counter over 64 bits."""
    with pytest.raises(ValueError, match="canonical EUI"):
        RequestID(SUPPLIER.lower(), DCC, 1)
    with pytest.raises(ValueError, match="counter"):
        RequestID(SUPPLIER, DCC, 2**64)


def test_render_datetime() -> None:
    """Milliseconds and a Z, as DCC Boxed writes ResponseDateTime (``2025-12-28T16:51:01.185Z``)."""
    assert models.render_datetime(WHEN) == "2026-01-01T12:00:00.123Z"
    # Sub-millisecond digits are truncated, never rounded into the next second.
    assert models.render_datetime(WHEN.replace(microsecond=123456)) == "2026-01-01T12:00:00.123Z"
    assert models.render_datetime(WHEN.replace(second=59, microsecond=999999)) == "2026-01-01T12:00:59.999Z"
    assert models.render_datetime(WHEN.replace(microsecond=0)) == "2026-01-01T12:00:00.000Z"
    assert models.render_datetime(WHEN.astimezone(timezone(timedelta(hours=2)))) == "2026-01-01T12:00:00.123Z"


def test_alert_timestamps_and_response_time_are_in_milliseconds() -> None:
    """ResponseDateTime and an alert's TimeStamp are rendered in milliseconds with Z; microseconds never
    appear."""
    precise = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    alert = models.CommsHubAlert("88-73-84-90-6A-10-02-DB", 0x8F8A, timestamp=precise)
    data = render_response(Response(None, "I0", precise, DCCAlertMessage.of(alert)))
    assert b"<sr:ResponseDateTime>2026-01-01T12:00:00.123Z<" in data
    assert b"<sr:TimeStamp>2026-01-01T12:00:00.123Z<" in data
    assert b"123456" not in data


def test_render_date_carries_the_zone_as_dcc_boxed_writes_it() -> None:
    """A date renders with the Z zone, as DCC Boxed writes DateCommissioned."""
    assert models.render_date(date(2025, 12, 28)) == "2025-12-28Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-28T16:51:01.185Z", datetime(2025, 12, 28, 16, 51, 1, 185000, tzinfo=UTC)),
        ("2025-12-28T16:51:01.185123Z", datetime(2025, 12, 28, 16, 51, 1, 185123, tzinfo=UTC)),
        ("2025-12-28T16:51:01Z", datetime(2025, 12, 28, 16, 51, 1, tzinfo=UTC)),
        ("2025-12-28T17:51:01.185+01:00", datetime(2025, 12, 28, 16, 51, 1, 185000, tzinfo=UTC)),
    ],
)
def test_response_datetimes_parse_in_every_form(text: str, expected: datetime) -> None:
    """A ResponseDateTime parses with milliseconds, microseconds, whole seconds or an offset, as the same UTC
    instant."""
    data = render_response(Response(None, "I0", WHEN, ResponseMessage("8.2")))
    data = data.replace(b"2026-01-01T12:00:00.123Z", text.encode())
    assert parse_response(parse_document(data, max_bytes=1 << 20)).response_datetime == expected


@pytest.mark.parametrize("text", ["2024-01-01", "2024-01-01Z", "2024-01-01+01:00"])
def test_date_commissioned_parses_with_and_without_a_zone(text: str) -> None:
    """A DateCommissioned renders with Z and parses back the same date with no zone, Z or an offset."""
    device = models.InventoryDevice(
        device_id="88-73-84-90-6A-10-02-DB",
        device_type=models.DeviceType.ESME,
        manufacturer="106C",
        model="433100AC",
        date_commissioned=date(2024, 1, 1),
    )
    response = Response(None, "I0", WHEN, ResponseMessage("8.2", models.DSPInventory((device,))))
    data = render_response(response)
    assert b"<sr:DateCommissioned>2024-01-01Z</sr:DateCommissioned>" in data
    data = data.replace(b"2024-01-01Z<", text.encode() + b"<")
    root = parse_document(data, max_bytes=1 << 20)
    validate_schema(root)
    assert parse_response(root) == response


def test_naive_datetimes_are_refused() -> None:
    """A Response refuses a naive datetime, and a parsed ResponseDateTime without a zone is malformed."""
    with pytest.raises(ValueError, match="timezone-aware"):
        Response(None, "I0", datetime(2026, 1, 1), ResponseMessage("8.2"))  # noqa: DTZ001 - the point of the test
    data = render_response(Response(None, "I0", WHEN, ResponseMessage("8.2"))).replace(b".123Z<", b".123<")
    with pytest.raises(InputError, match="no timezone"):
        parse_response(parse_document(data, max_bytes=1 << 20))


# ---------------------------------------------------------------------------------------------------
# Round trips (hypothesis): parse(render(x)) == x, and every rendering is schema-valid
# ---------------------------------------------------------------------------------------------------

xml_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)


def bounded(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=min_size, max_size=max_size
    )


firmware_version = bounded(1, 8)
eui_tuple = st.lists(canonical_eui, min_size=1, max_size=6).map(tuple)
request_ids = st.builds(RequestID, canonical_eui, canonical_eui, st.integers(0, models.MAX_COUNTER))
# hypothesis takes naive bounds and adds the timezone itself
# ...and milliseconds, the precision DUIS times are written with (render_datetime drops the rest)
aware = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
esme_variant = st.sampled_from(sorted(models.ESME_VARIANTS))
mpan = st.text("0123456789", min_size=13, max_size=13)
property_filters = st.builds(models.PropertyFilter, bounded(6, 8), bounded(0, 30))

read_inventory = st.one_of(
    st.builds(models.ReadInventory, device_id=canonical_eui),
    st.builds(models.ReadInventory, uprn=st.integers(1, 10**12 - 1)),
    st.builds(models.ReadInventory, mpxn=bounded(1, 13)),
    st.builds(models.ReadInventory, property_filter=property_filters),
)
inventory_change = st.one_of(
    st.builds(models.UpdateDeviceStatus, st.sampled_from(sorted(models.STATUSES_CH)), st.just(True)),
    st.builds(models.UpdateDeviceStatus, st.sampled_from(sorted(models.STATUSES_EXCEPT_CH)), st.just(False)),
    st.builds(
        models.UpdateDeviceDetails,
        manufacturer=st.none() | bounded(0, 30),
        model=st.none() | bounded(0, 30),
        smets_chts_version=st.none() | bounded(1, 20),
        firmware_version=st.none() | firmware_version,
        esme_variant=st.none() | esme_variant,
    ),
    st.just(models.DeleteDevice()),
    st.builds(models.UpdateMPxN, st.just(models.MPxNField.IMPORT_MPXN), bounded(1, 13)),
    st.builds(
        models.UpdateMPxN,
        st.sampled_from([models.MPxNField.SECONDARY_IMPORT_MPAN, models.MPxNField.EXPORT_MPAN]),
        mpan,
    ),
)
bodies: dict[str, st.SearchStrategy[models.RequestBody]] = {
    "11.4": st.builds(models.UpdatePPMIDFirmware, st.binary(max_size=64), firmware_version, eui_tuple),
    "11.1": st.builds(models.UpdateFirmware, st.binary(max_size=64), firmware_version, eui_tuple),
    "8.2": read_inventory,
    "8.4": st.builds(models.UpdateInventory, canonical_eui, inventory_change),
    "12.2": st.builds(
        models.DevicePrenotification,
        device_id=canonical_eui,
        manufacturer=bounded(0, 30),
        model=bounded(0, 30),
        device_type=st.sampled_from(models.DeviceType),
        smets_chts_version=st.none() | bounded(1, 20),
        firmware_version=st.none() | firmware_version,
        esme_variant=st.none() | esme_variant,
        associated_gpf_device_id=st.none() | canonical_eui,
    ),
}


@st.composite
def requests(draw: st.DrawFn) -> Request:
    srv = draw(st.sampled_from(sorted(bodies)))
    return Request(
        schema_version=draw(st.sampled_from(["5.4", "5.3", "5"])),
        request_id=draw(request_ids),
        command_variant=draw(st.integers(1, 9)),
        service_reference=codes.service_reference_of(srv),
        srv=srv,
        body=draw(bodies[srv]),
        first_in_sequence=draw(st.none() | st.booleans()),
        preceding_request_id=draw(st.none() | request_ids),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_requests_round_trip_and_validate(request: Request) -> None:
    """Any request the strategies build renders compact (no whitespace between elements), validates against
    the schema and parses back equal."""
    data = render_request(request)
    # not pretty-printed: no whitespace after an end tag (a value may itself be blank, e.g. version " ")
    assert re.search(rb"(</[^>]+>|/>)\s+<", data) is None
    root = parse_document(data, max_bytes=MAX_REQUEST_BYTES)
    validate_schema(root)
    assert parse_request(root) == request


inventory_devices = st.builds(
    models.InventoryDevice,
    device_id=canonical_eui,
    device_type=st.sampled_from(models.DeviceType),
    manufacturer=bounded(0, 30),
    model=bounded(0, 30),
    device_status=st.none() | st.sampled_from(models.DeviceStatus),
    smets_chts_version=st.none() | bounded(1, 20),
    firmware_version=st.none() | firmware_version,
    firmware_version_status=st.none() | st.sampled_from(models.FirmwareStatus),
    cpl_status=st.none() | st.sampled_from(models.FirmwareStatus),
    date_commissioned=st.none() | st.dates(),
    import_mpxn=st.none() | bounded(1, 13),
    secondary_import_mpan=st.none() | mpan,
    export_mpan=st.none() | mpan,
    esme_variant=st.none() | esme_variant,
    uprn=st.none() | st.integers(1, 10**12 - 1),
    property_filter=st.none() | property_filters,
    csp_region=st.none() | st.sampled_from(models.CSPRegion),
    gbcs_version=st.none() | xml_text,
    han_variant=st.none() | xml_text,
    s1sp=st.none() | xml_text,
    connectivity=st.none() | st.sampled_from(models.Connectivity),
)
id_lists = st.lists(canonical_eui, max_size=4).map(tuple)
warning_kwargs = st.fixed_dictionaries({name: id_lists for name, _ in models.WARNING_LISTS})
payloads = st.one_of(
    st.none(),
    st.builds(
        models.DSPInventory,
        st.lists(inventory_devices, min_size=1, max_size=models.MAX_INVENTORY_DEVICES).map(tuple),
    ),
    warning_kwargs.map(lambda kw: models.DSPUpdatePPMIDFirmwareWarning(**kw)),
    warning_kwargs.map(lambda kw: models.DSPUpdateFirmwareWarning(**kw)),
    st.builds(models.GBCSPayload, st.binary(max_size=64)),
)
alerts = st.one_of(
    st.builds(
        models.CSPFirmwareDeliveryStatus,
        request_ids,
        canonical_eui,
        canonical_eui,
        firmware_version,
        aware,
        st.sampled_from(models.TransferStatus),
    ),
    st.builds(
        models.CommsHubAlert,
        canonical_eui,
        st.integers(0, 0xFFFF),
        st.none() | aware,
        st.none()
        | st.builds(
            models.FirmwareTransferAlert,
            canonical_eui,
            firmware_version,
            st.sampled_from(models.TransferResponseCode),
            st.none() | request_ids,
        ),
    ),
    st.builds(
        models.PPMIDAlert,
        canonical_eui,
        st.integers(0, 0xFFFF),
        st.none() | aware,
        st.none()
        | st.builds(
            models.PPMIDFirmwareUpgradeAlert, firmware_version, st.sampled_from(models.ActivationResult)
        ),
    ),
    st.builds(models.FirmwareDistributionFailure, request_ids, eui_tuple),
    st.builds(
        models.QuarantinedRequest,
        st.sampled_from(models.QuarantineKind),
        request_ids,
        st.integers(-(10**20) + 1, 10**20 - 1),
    ),
)
bodies_of_responses = st.one_of(
    st.builds(ResponseMessage, st.sampled_from([row.srv for row in codes.SRV_ROWS]), payloads),
    st.builds(
        DCCAlertMessage,
        st.sampled_from(sorted(models.DCC_ALERT_CODES)),
        alerts,
        st.none() | st.integers(0, 2**32 - 1),
        st.none() | st.integers(0, 2**32 - 1),
    ),
    alerts.map(DCCAlertMessage.of),
)
responses = st.builds(
    Response,
    request_id=st.none() | request_ids,
    response_code=st.sampled_from([row.code for row in codes.RESPONSE_CODES]),
    response_datetime=aware,
    body=bodies_of_responses,
    response_id=st.none() | request_ids,
    schema_version=st.sampled_from(["5.4", "5.1"]),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(responses)
def test_responses_round_trip_and_validate(response: Response) -> None:
    """Any response the strategies build renders with the UTF-8 declaration, compact, validates and parses
    back equal."""
    data = render_response(response)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?><sr:Response ')
    assert re.search(rb"(</[^>]+>|/>)\s+<", data) is None  # not pretty-printed (values may be blank)
    root = parse_document(data, max_bytes=1 << 20)
    validate_schema(root)
    assert parse_response(root) == response


@pytest.mark.parametrize("payload_type", ["DSPInventory", "warning", "GBCSPayload", "none"])
def test_every_payload_kind_is_generated(payload_type: str) -> None:
    """A guard that the strategies cover every payload (hypothesis could silently stop drawing one)."""
    seen: set[str] = set()

    @settings(max_examples=200, database=None)
    @given(payloads)
    def collect(payload: models.Payload | None) -> None:
        if payload is None:
            seen.add("none")
        elif isinstance(payload, models.DSPUpdatePPMIDFirmwareWarning | models.DSPUpdateFirmwareWarning):
            seen.add("warning")
        else:
            seen.add(type(payload).__name__)

    collect()
    assert payload_type in seen


def test_an_empty_warning_renders_an_empty_element() -> None:
    """An 11.4 warning with no lists renders an empty, schema-valid DSPUpdatePPMIDFirmwareWarning element."""
    response = Response(
        None,
        codes.PPMID_DEVICES_EXCLUDED,
        WHEN,
        ResponseMessage("11.4", models.DSPUpdatePPMIDFirmwareWarning()),
    )
    data = render_response(response)
    assert b"<sr:DSPUpdatePPMIDFirmwareWarning/>" in data
    validate_schema(parse_document(data, max_bytes=1 << 20))


def test_warning_lists_render_in_schema_order() -> None:
    """Warning lists are rendered in the schema's order (InvalidDeviceIDList before InvalidGBCSVersionList),
    whatever order they were given in."""
    warning = models.DSPUpdatePPMIDFirmwareWarning(
        invalid_gbcs_version=("00-00-00-00-00-00-00-05",), invalid_device_ids=("00-00-00-00-00-00-00-01",)
    )
    data = render_response(
        Response(None, codes.PPMID_DEVICES_EXCLUDED, WHEN, ResponseMessage("11.4", warning))
    )
    assert data.index(b"InvalidDeviceIDList") < data.index(b"InvalidGBCSVersionList")


@settings(max_examples=200, deadline=None)
@given(requests(), st.data())
def test_mutated_requests_raise_only_domain_errors(request: Request, data: st.DataObject) -> None:
    """Flip bytes of a valid request: the parsers either succeed or raise a HanotaError whose code is in the
    table (never the E0 default of hanota.errors, which is not a DUIS 5.4 code)."""
    raw = bytearray(render_request(request))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    error: HanotaError | None = None
    try:
        parse_request(parse_document(bytes(raw), max_bytes=MAX_REQUEST_BYTES))
    except HanotaError as exc:
        error = exc
    if error is not None:
        assert codes.is_known_response_code(error.code), error


# ---------------------------------------------------------------------------------------------------
# Hostile documents through the whole chain (hypothesis): only coded HanotaErrors escape
# ---------------------------------------------------------------------------------------------------

#: Values that once reached a bare ValueError / OverflowError somewhere in the chain, and their neighbours.
NASTY_VALUES = [
    "0" * 5000 + "8",  # xs:positiveInteger 8, past int()'s 4,300-digit limit
    "9" * 5000,
    "-" + "1" * 4301,
    "8" * 41,
    "+8",
    "-0",
    "\u0661\u0662",  # Arabic-Indic digits: str.isdigit() is True, [0-9] is not
    "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
    "2026-02-30T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "0000-01-01",
    "2026-01-01+14:00",
    "AAAA\u00a0AAAA",  # str.split() drops U+00A0; binascii refuses non-ASCII with a plain ValueError
    "AA==\u2028",
    "\u00e9",
    "",
    " ",
    "\t\n",
    "90-b3-d5-1f-30-01-00-00",
    "CN=Z1,OU=07",
    "=",
    "\\",
]
nasty_text = st.one_of(
    st.sampled_from(NASTY_VALUES),
    st.sampled_from(NASTY_VALUES),  # twice: two thirds of the values are known-nasty ones
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), max_size=40),
    st.integers().map(str),
    st.from_regex(r"[+-]?[0-9]{1,80}", fullmatch=True),
)
#: Replacing a leaf's text is what reaches the value parsers, so it is drawn most often.
MUTATIONS = ("text", "text", "text", "text", "attribute", "drop", "duplicate", "rename", "bytes")
documents = st.one_of(
    requests().map(lambda r: (render_request(r), parse_request)),
    responses.map(lambda r: (render_response(r), parse_response)),
)


def _mutate(document: bytes, data: st.DataObject, namespace: str) -> bytes:
    """One structural or byte-level mutation of `document`, on an element in `namespace` (SR or DS)."""
    kind = data.draw(st.sampled_from(MUTATIONS))
    if kind == "bytes":
        raw = bytearray(document)
        for _ in range(data.draw(st.integers(1, 3))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        return bytes(raw)
    try:
        root = etree.fromstring(document, xmlparse.document_parser())
    except etree.XMLSyntaxError:  # an earlier byte flip broke it: nothing structural left to mutate
        return document
    elements = [el for el in root.iter() if isinstance(el.tag, str) and el.tag.startswith(namespace)]
    if not elements:
        return document
    if kind == "text":
        leaves = [el for el in elements if len(el) == 0]
        data.draw(st.sampled_from(leaves or elements)).text = data.draw(nasty_text)
        return etree.tostring(root, encoding="UTF-8")
    element = data.draw(st.sampled_from(elements))
    parent = element.getparent()
    if kind == "attribute":
        name = data.draw(st.sampled_from(["schemaVersion", "URI", "Algorithm", "Id"]))
        element.set(name, data.draw(nasty_text))
    elif kind == "rename":
        element.tag = data.draw(st.sampled_from(sorted({el.tag for el in elements})))
    elif parent is not None and kind == "drop":
        parent.remove(element)
    elif parent is not None:
        parent.insert(parent.index(element), copy.deepcopy(element))
    return etree.tostring(root, encoding="UTF-8")


def _only_domain_errors(call: Callable[[], object]) -> None:
    """Run `call`; a HanotaError with a code from the table is fine, anything else fails the test."""
    error: HanotaError | None = None
    try:
        call()
    except HanotaError as exc:
        error = exc
    assert error is None or codes.is_known_response_code(error.code), error


@pytest.fixture(scope="module")
def chain(test_pki: TestPKI) -> tuple[Signer, Verifier]:
    """A test-PKI signer and a verifier that trusts it (no shared material needed)."""
    identity = test_pki.leaf(test_pki.ca())
    return identity.signer(), Verifier(StaticTrustStore(pinned=[identity.certificate]))


def _through_the_chain(data: bytes, verifier: Verifier, parse: Callable[[etree._Element], object]) -> None:
    """parse_document → Verifier.verify → validate_schema → parse, as the DSP runs them."""
    verified = verifier.verify(parse_document(data, max_bytes=MAX_REQUEST_BYTES), now=NOW)
    validate_schema(verified.root)
    parse(verified.root)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.data())
def test_mutated_signed_documents_raise_only_domain_errors(
    chain: tuple[Signer, Verifier],
    document: tuple[bytes, Callable[[etree._Element], object]],
    data: st.DataObject,
) -> None:
    """Mutate a valid request or response, sign what is left (as a hostile but trusted signer would) and run
    the whole chain; run the parsers on the unvalidated document too."""
    signer, verifier = chain
    unsigned, parse = document
    for _ in range(data.draw(st.integers(1, 3))):
        unsigned = _mutate(unsigned, data, SR)
    signed = unsigned
    with contextlib.suppress(InputError):  # a byte flip can leave nothing to sign
        signed = signer.sign(unsigned)
    _only_domain_errors(lambda: _through_the_chain(signed, verifier, parse))
    _only_domain_errors(lambda: parse(parse_document(signed, max_bytes=MAX_REQUEST_BYTES)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.data())
def test_mutated_signatures_raise_only_domain_errors(
    chain: tuple[Signer, Verifier],
    document: tuple[bytes, Callable[[etree._Element], object]],
    data: st.DataObject,
) -> None:
    """Sign a valid document, then mutate its ds:Signature (unsigned hostile input, before any trust check,
    and a trusted signature tampered with in transit)."""
    signer, verifier = chain
    unsigned, parse = document
    signed = signer.sign(unsigned)
    for _ in range(data.draw(st.integers(1, 3))):
        signed = _mutate(signed, data, DS)
    _only_domain_errors(lambda: _through_the_chain(signed, verifier, parse))


def test_constructors_refuse_bad_values() -> None:
    """The models refuse what the schema or the domain does not allow: a ReadInventory with none or both keys,
    a status a device kind may not take, an empty inventory, lower-case EUIs, empty or oversized firmware
    requests, an unknown alert code, a body that is not its SRV's or an SRV not served."""
    with pytest.raises(ValueError, match="exactly one"):
        models.ReadInventory()
    with pytest.raises(ValueError, match="exactly one"):
        models.ReadInventory(device_id="00-00-00-00-00-00-00-01", uprn=5)
    with pytest.raises(ValueError, match="does not allow"):
        models.UpdateDeviceStatus(models.DeviceStatus.COMMISSIONED, comms_hub=False)
    with pytest.raises(ValueError, match="1–17"):
        models.DSPInventory(())
    with pytest.raises(ValueError, match="canonical EUI"):
        models.UpdatePPMIDFirmware(b"", "1", ("00-00-00-00-00-00-00-0a",))
    with pytest.raises(ValueError, match="at least 1"):
        models.UpdatePPMIDFirmware(b"", "1", ())
    with pytest.raises(ValueError, match="over"):
        models.UpdatePPMIDFirmware(bytes(models.MAX_IMAGE_OCTETS + 1), "1", ("00-00-00-00-00-00-00-01",))
    with pytest.raises(ValueError, match="DCCAlertCode"):
        DCCAlertMessage("N32", models.CommsHubAlert("00-00-00-00-00-00-00-01", 1))
    with pytest.raises(ValueError, match="needs a UpdatePPMIDFirmware"):
        _request(models.ReadInventory(device_id="00-00-00-00-00-00-00-01"), "11.4")
    with pytest.raises(ValueError, match="not one this product serves"):
        _request(models.ReadInventory(device_id="00-00-00-00-00-00-00-01"), "11.2")


def test_update_inventory_firmware_version() -> None:
    """8.4 records an IHD's firmware version through UpdateDeviceDetails (A-001)."""
    body = models.UpdateInventory(
        "00-00-00-00-00-00-00-01", models.UpdateDeviceDetails(firmware_version="0102")
    )
    assert body.firmware_version == "0102"
    assert _parse_request_bytes(render_request(_request(body, "8.4"))).body == body
