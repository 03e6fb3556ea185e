"""The code tables: one place, unique rows, every code the wire format uses is in them and in the schema."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from hanota.duis import codes, models, xmlparse


def _schema_enumeration(simple_type: str) -> set[str]:
    """The enumeration values of a named simple type in the bundled duis-5.4.xsd."""
    text = (xmlparse.SCHEMA_DIR / xmlparse.SCHEMA_FILE).read_text(encoding="utf-8")
    start = text.index(f'<xs:simpleType name="{simple_type}">')
    end = text.index("</xs:simpleType>", start)
    return set(re.findall(r'<xs:enumeration value="([^"]+)"/>', text[start:end]))


def _dcc_alert_code_enumeration() -> set[str]:
    text = (xmlparse.SCHEMA_DIR / xmlparse.SCHEMA_FILE).read_text(encoding="utf-8")
    start = text.index('<xs:element name="DCCAlertCode">')
    end = text.index("</xs:element>", start)
    return set(re.findall(r'<xs:enumeration value="([^"]+)"/>', text[start:end]))


def test_rows_are_unique() -> None:
    """No code, name or SRV appears twice."""
    for rows, key in (
        (codes.RESPONSE_CODES, "code"),
        (codes.RESPONSE_CODES, "name"),
        (codes.ALERT_CODES, "code"),
        (codes.ALERT_CODES, "name"),
        (codes.SRV_ROWS, "srv"),
    ):
        values = [getattr(row, key) for row in rows]
        assert len(values) == len(set(values)), key


def test_every_response_code_is_in_the_schema_enumeration() -> None:
    """A response we send with any code of the table validates; E0 and W1 are not 5.4 codes."""
    enumeration = _schema_enumeration("ResponseCode")
    assert {row.code for row in codes.RESPONSE_CODES} <= enumeration
    assert "E0" not in enumeration
    assert "W1" not in enumeration


def test_every_alert_code_is_in_the_schema_enumeration() -> None:
    """Every DCC Alert code of the table is one the DUIS 5.4 schema allows, and the models accept exactly the
    schema's DCCAlertCode enumeration."""
    enumeration = _dcc_alert_code_enumeration()
    assert {row.code for row in codes.ALERT_CODES} <= enumeration
    assert enumeration == models.DCC_ALERT_CODES


def test_every_srv_is_in_the_schema_enumeration() -> None:
    """Every SRV and ServiceReference of the table is a value of the schema's ServiceReferenceVariant and
    ServiceReference enumerations."""
    assert {row.srv for row in codes.SRV_ROWS} <= _schema_enumeration("ServiceReferenceVariant")
    assert {row.service_reference for row in codes.SRV_ROWS} <= _schema_enumeration("ServiceReference")


def test_named_constants_are_rows() -> None:
    """Every UPPER_CASE code constant of the module is a row of its table."""
    response = {row.code for row in codes.RESPONSE_CODES}
    alerts = {row.code for row in codes.ALERT_CODES}
    for name, value in vars(codes).items():
        if not name.isupper() or not isinstance(value, str) or not re.fullmatch(r"[IEWNA][D0-9]+", value):
            continue
        assert value in response | alerts, name


def test_codes_used_by_the_models_are_in_the_table() -> None:
    """The alert codes the models choose, and the codes their errors carry, are all rows."""
    request_id = models.RequestID("90-B3-D5-1F-30-01-00-00", codes.DCC_EUI, 1)
    when = datetime(2026, 1, 1, tzinfo=UTC)
    alerts: list[models.DCCAlert] = [
        models.CSPFirmwareDeliveryStatus(
            request_id,
            "00-11-22-33-44-55-66-77",
            "00-11-22-33-44-55-66-78",
            "1",
            when,
            models.TransferStatus.SUCCESS,
        ),
        models.CSPFirmwareDeliveryStatus(
            request_id,
            "00-11-22-33-44-55-66-77",
            "00-11-22-33-44-55-66-78",
            "1",
            when,
            models.TransferStatus.FAILURE,
        ),
        models.CommsHubAlert("00-11-22-33-44-55-66-77", 0x8F8A),
        models.PPMIDAlert("00-11-22-33-44-55-66-78", 0x8F8B),
        models.FirmwareDistributionFailure(request_id, ("00-11-22-33-44-55-66-78",)),
        models.QuarantinedRequest(models.QuarantineKind.USER_THRESHOLD, request_id, 7),
    ]
    chosen = {models.default_alert_code(alert) for alert in alerts}
    assert chosen == {row.code for row in codes.ALERT_CODES}
    for code in (codes.MALFORMED_REQUEST, codes.REQUEST_TOO_LARGE, codes.SIGNATURE_INVALID):
        assert codes.is_known_response_code(code)


def test_public_and_assumed_are_marked_as_domain_md_says() -> None:
    """Public: I0 I99 E1–E5 E11 E12 E13 E19, N60 N61. The SR-specific meanings are assumed."""
    public = {row.code for row in codes.RESPONSE_CODES if row.visibility is codes.PUBLIC}
    assert public == {"I0", "I99", "E1", "E2", "E3", "E4", "E5", "E11", "E12", "E13", "E19"}
    for code in ("E110401", "E110402", "E110403", "E110405", "W110401", "E110101", "W110101"):
        assert codes.response_code(code).visibility is codes.ASSUMED
    assert {row.code for row in codes.ALERT_CODES if row.visibility is codes.PUBLIC} == {"N60", "N61"}


def test_srv_matrix_matches_domain_md() -> None:
    """The DSP serves exactly 11.4, 11.1, 8.2, 8.4 and 12.2, all as command variant 8, to the roles the domain
    allows (IS/GS for firmware, all seven reading roles for the reads), and the models have a body type for
    each."""
    served = {row.srv: row for row in codes.served_srvs()}
    assert set(served) == {"11.4", "11.1", "8.2", "8.4", "12.2"}
    assert all(row.command_variants == {8} for row in served.values())
    assert served["11.4"].roles == {"IS", "GS"}
    assert served["11.1"].roles == {"IS", "GS"}
    for srv in ("8.2", "8.4", "12.2"):
        assert served[srv].roles == {"IS", "ES", "GS", "RSA", "ED", "GT", "OU"}
    assert set(models.BODY_TYPES) == set(served)


def test_unserved_known_srvs_are_distinct_from_unknown() -> None:
    """An SRV of the schema that is not served (11.2) has a row marked unserved; an SRV outside the schema
    (99.9) has no row."""
    row = codes.srv_row("11.2")
    assert row is not None
    assert not row.served
    assert codes.srv_row("99.9") is None


@pytest.mark.parametrize(
    ("srv", "expected"), [("11.4", "11.4"), ("1.1.1", "1.1"), ("4.10", "4.10"), ("8.7.2", "8.7")]
)
def test_service_reference_of(srv: str, expected: str) -> None:
    """An SRV's ServiceReference is its first two dotted parts (1.1.1 is 1.1, 8.7.2 is 8.7; 4.10 stays 4.10)."""
    assert codes.service_reference_of(srv) == expected


def test_markdown_has_every_row() -> None:
    """The rendered code tables hold one row per response code, alert code, SRV and exclusion rule, and
    nothing else besides their four header rows."""
    markdown = codes.render_markdown()
    for row in codes.RESPONSE_CODES:
        assert f"| {row.code} | {row.name} |" in markdown
    for alert in codes.ALERT_CODES:
        assert f"| {alert.code} | {alert.payload} |" in markdown
    for srv in codes.SRV_ROWS:
        assert f"| {srv.srv} | " in markdown
    for exclusion in codes.EXCLUSIONS:
        assert f"| {exclusion.rule} | {exclusion.warning_list} |" in markdown
    rows = len(codes.RESPONSE_CODES) + len(codes.ALERT_CODES) + len(codes.SRV_ROWS) + len(codes.EXCLUSIONS)
    assert markdown.count("\n| ") == rows + 4


def test_exclusions_name_the_schemas_warning_lists() -> None:
    """Every excluded device is named in one of the five lists of DSPUpdate(PPMID)FirmwareWarning; which
    list is our rule (the lists' meanings are not public)."""
    lists = (
        codes.INVALID_DEVICE_ID_LIST,
        codes.NOT_COMMISSIONED_LIST,
        codes.NOT_APPLICABLE_FIRMWARE_LIST,
        codes.OTHER_REQUEST_IN_PROGRESS_LIST,
        codes.INVALID_GBCS_VERSION_LIST,
    )
    assert lists == tuple(element for _, element in models.WARNING_LISTS)
    assert {row.warning_list for row in codes.EXCLUSIONS} == set(lists)
    assert all(row.visibility is codes.ASSUMED for row in codes.EXCLUSIONS)
    assert len({row.rule for row in codes.EXCLUSIONS}) == len(codes.EXCLUSIONS)


def test_a_device_already_on_the_requests_version_is_an_exclusion_of_our_own() -> None:
    """Our rule, with its reason: such a device is named in NotApplicableFirmwareDeviceIDList (DUIS has no
    list of its own for it), and the W110401/W110101 rows say so."""
    (row,) = [row for row in codes.EXCLUSIONS if "already running the request's firmware version" in row.rule]
    assert row.warning_list == "NotApplicableFirmwareDeviceIDList"
    assert row.visibility is codes.ASSUMED
    assert row.source.startswith("our rule") and "network capacity" in row.source
    assert "already-installed" in row.source
    for code in (codes.PPMID_DEVICES_EXCLUDED, codes.FIRMWARE_DEVICES_EXCLUDED):
        meaning = codes.response_code(code).meaning
        assert "already running the request's version" in meaning
        assert "NotApplicableFirmwareDeviceIDList" in meaning
