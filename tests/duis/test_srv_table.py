"""The SRV table is the DUIS 5.4 schema's: every SRV, its command variants, its body element; and the routing
rule answers every (SRV, command variant, URL) with a code of the table.

The schema is read here with lxml on its own, not through `hanota.duis.codes`, so that a row added, lost or
mistyped in the code table fails these tests.
"""

from __future__ import annotations

import re

import pytest
from lxml import etree

from duis.xsd_instance import SR, XS, SchemaInstances
from hanota.duis import codes, parse_document, validate_schema, xmlparse

SCHEMA = etree.parse(str(xmlparse.SCHEMA_DIR / xmlparse.SCHEMA_FILE)).getroot()
INSTANCES = SchemaInstances(xmlparse.SCHEMA_DIR)
ALL_ROLES = {"IS", "ES", "GS", "RSA", "ED", "GT", "OU"}


def _srv_enumeration() -> list[tuple[str, tuple[int, ...]]]:
    """(SRV, command variants) in schema order: each enumeration value and the ``CV = …`` comment after it."""
    restriction = SCHEMA.find(f"{XS}simpleType[@name='ServiceReferenceVariant']/{XS}restriction")
    assert restriction is not None
    out: list[tuple[str, tuple[int, ...]]] = []
    for node in restriction:
        if isinstance(node, etree._Comment):
            match = re.fullmatch(r"\s*CV\s*=\s*([0-9,\s]+)", node.text or "")
            assert match is not None, node.text
            srv, cvs = out[-1]
            assert cvs == (), f"two CV comments after {srv}"
            out[-1] = (srv, tuple(int(cv) for cv in match.group(1).replace(",", " ").split()))
        elif node.tag == XS + "enumeration":
            out.append((str(node.get("value")), ()))
    return out


def _body_choice() -> list[tuple[str, str]]:
    """(element name, the ``Service Ref N.x`` group comment above it) of the sr:Request Body choice."""
    group = ""
    out: list[tuple[str, str]] = []
    for node in INSTANCES.request_body_choice():
        if isinstance(node, etree._Comment):
            group = (node.text or "").strip()
        elif node.tag == XS + "element":
            out.append((str(node.get("name")), group))
    return out


def test_the_table_has_every_srv_of_the_schema_in_its_order() -> None:
    """The SRV table has a row for each of the schema's 129 SRVs, in the schema's order."""
    enumeration = _srv_enumeration()
    assert len(enumeration) == 129
    assert [row.srv for row in codes.SRV_ROWS] == [srv for srv, _ in enumeration]
    assert all(codes.srv_row(srv) is not None for srv, _ in enumeration)


def test_command_variants_are_the_schemas_comments() -> None:
    """Each SRV row's command variants are those the schema's comment lists for it."""
    enumeration = dict(_srv_enumeration())
    assert all(enumeration.values()), "every SRV has a CV comment"
    for row in codes.SRV_ROWS:
        assert row.command_variants == set(enumeration[row.srv]), row.srv


def test_body_elements_are_the_request_body_choice_in_srv_order() -> None:
    """The schema does not tie an SRV to its body element; it lists the body elements in the SRVs' order,
    under ``<!-- Service Ref N.x -->`` comments, with sr:SignedPreCommand (command variants 5-7) last. The
    table's mapping is exactly that order, and every element sits under its SRV's group comment."""
    choice = _body_choice()
    assert choice[-1][0] == "SignedPreCommand"
    bodies = choice[:-1]
    assert [row.body_element for row in codes.SRV_ROWS] == [name for name, _ in bodies]
    assert len({row.body_element for row in codes.SRV_ROWS}) == len(codes.SRV_ROWS)
    for row, (_, group) in zip(codes.SRV_ROWS, bodies, strict=True):
        assert group == f"Service Ref {row.srv.split('.')[0]}.x", (row.srv, group)


def test_the_five_served_srvs_keep_their_rows() -> None:
    """The five served SRVs keep their names and body elements, and the SRVs the table had before keep their
    roles and command variants, unserved."""
    served = {row.srv: row for row in codes.served_srvs()}
    assert list(served) == ["11.4", "11.1", "8.2", "8.4", "12.2"]
    assert served["11.4"].name == "Update PPMID Firmware (here: PPMIDs and IHDs)"
    assert {srv: row.body_element for srv, row in served.items()} == {
        "11.4": "UpdatePPMIDFirmware",
        "11.1": "UpdateFirmware",
        "8.2": "ReadInventory",
        "8.4": "UpdateInventory",
        "12.2": "DevicePrenotification",
    }
    unserved = {"1.1.1", "4.1.1", "8.1.1", "8.3", "11.2", "11.3", "12.1"}  # the other rows the table had
    assert all(not codes.srv_row(srv).served for srv in unserved)  # type: ignore[union-attr]
    assert codes.srv_row("4.1.1").roles == {"IS", "GS", "ED", "GT"}  # type: ignore[union-attr]
    assert codes.srv_row("8.1.1").command_variants == {4, 5}  # type: ignore[union-attr]


def test_assumed_rows_are_marked_and_open_to_every_role() -> None:
    """The public matrix names no eligible role for 7.16, 8.5 and 8.6: those rows are assumed (every role
    may send them, so E2 never answers them); every other row's roles are public."""
    assumed = {row.srv for row in codes.SRV_ROWS if row.visibility is codes.ASSUMED}
    assert assumed == {"7.16", "8.5", "8.6"}
    for srv in assumed:
        row = codes.srv_row(srv)
        assert row is not None and row.roles == ALL_ROLES and "our rule" in row.source
    for row in codes.SRV_ROWS:
        assert row.roles <= ALL_ROLES and row.roles, row.srv
        assert "duis-parser" in row.source


@pytest.mark.parametrize(
    ("srv", "cv", "at_d", "at_s", "at_t"),
    [
        ("8.2", 8, None, "E13", "E13"),  # served by its handler at serviceD
        ("5.2", 8, "E46", "E13", "E13"),  # a non-device SRV this DCC does not provide
        ("4.1.1", 1, "E13", "E45", "E13"),  # non-critical device request, sent: serviceS
        ("4.1.1", 2, "E45", "E13", "E13"),  # ... returned for local delivery: serviceD
        ("4.1.1", 3, "E13", "E45", "E13"),
        ("11.3", 4, "E13", "E13", "E45"),  # critical request to transform: serviceT
        ("11.3", 5, "E13", "E45", "E13"),  # the signed Pre-Command, sent: serviceS
        ("11.3", 6, "E45", "E13", "E13"),
        ("11.3", 7, "E13", "E45", "E13"),
        ("8.5", 1, "E13", "E45", "E13"),
        ("8.2", 1, "E12", "E12", "E12"),  # not a command variant of the SRV: the same everywhere
        ("11.3", 1, "E12", "E12", "E12"),
        ("4.1.1", 9, "E12", "E12", "E12"),
    ],
)
def test_routing_code(srv: str, cv: int, at_d: str | None, at_s: str, at_t: str) -> None:
    """An SRV with a command variant is answered, per URL (serviceD, S, T), by its handler, E13 (another
    URL's), E45 (device service not provided), E46 (non-device SRV not provided) or E12 (not a CV of the SRV).
    """
    row = codes.srv_row(srv)
    assert row is not None
    got = [codes.routing_code(service, row, cv) for service in codes.WebService]
    assert got == [at_d, at_s, at_t]


def test_every_command_variant_has_one_web_service() -> None:
    """The schema's CommandVariant comment: CV 1, 3, 5, 7 go to Send Command, 2, 6, 8 to the DCC-only service,
    4 to Transform; DCC Boxed's URLs are /api/v1/serviceS, serviceD and serviceT."""
    assert {cv: service.path for cv, service in codes.CV_WEB_SERVICE.items()} == {
        1: "/api/v1/serviceS", 2: "/api/v1/serviceD", 3: "/api/v1/serviceS", 4: "/api/v1/serviceT",
        5: "/api/v1/serviceS", 6: "/api/v1/serviceD", 7: "/api/v1/serviceS", 8: "/api/v1/serviceD",
    }  # fmt: skip
    comment = SCHEMA.find(f"{XS}simpleType[@name='CommandVariant']")
    text = "".join(node.text or "" for node in comment if isinstance(node, etree._Comment))  # type: ignore[union-attr]
    request_ws = {
        "SC": codes.WebService.SEND_COMMAND,
        "DO": codes.WebService.NON_DEVICE,
        "T": codes.WebService.TRANSFORM,
    }
    for cv, service in codes.CV_WEB_SERVICE.items():
        line = re.search(rf"^\s+{cv}\s+.*$", text, re.MULTILINE)
        assert line is not None
        columns = re.search(r"(?:Yes|No)\s+(SC|DO|T)\s+(?:RRS|C DO|C T)\s*$", line.group(0))
        assert columns is not None, line.group(0)
        assert request_ws[columns.group(1)] is service, (cv, line.group(0))


def test_every_srv_answers_a_code_of_the_table_on_every_url() -> None:
    """Every SRV with every command variant 1-9 at every URL gets a known response code, except the served
    SRVs with CV 8 at serviceD, which go to their handlers."""
    served = {row.srv for row in codes.served_srvs()}
    for row in codes.SRV_ROWS:
        for cv in range(1, 10):
            for service in codes.WebService:
                code = codes.routing_code(service, row, cv)
                if code is None:
                    assert (row.srv, cv, service) in {(srv, 8, codes.WebService.NON_DEVICE) for srv in served}
                else:
                    assert codes.is_known_response_code(code)


def test_markdown_says_what_each_url_answers() -> None:
    """The rendered table says what each URL answers per command variant (4.1.1, 8.2), and marks the E45 and
    E46 codes as assumed."""
    markdown = codes.render_markdown()
    assert "| 4.1.1 | Read Instantaneous Import Registers | 1, 2, 3 | ED GS GT IS |" in markdown
    line = next(line for line in markdown.splitlines() if line.startswith("| 4.1.1 |"))
    assert "| E13 (CV 1, 3); E45 (CV 2) | E45 (CV 1, 3); E13 (CV 2) | E13 (CV 1, 2, 3) |" in line
    line = next(line for line in markdown.splitlines() if line.startswith("| 8.2 |"))
    assert "| served (CV 8) | E13 (CV 8) | E13 (CV 8) |" in line
    for code in (codes.DEVICE_SERVICES_NOT_PROVIDED, codes.NON_DEVICE_SRV_NOT_PROVIDED):
        row = codes.response_code(code)
        assert row.visibility is codes.ASSUMED
        assert f"| {row.code} | {row.name} |" in markdown


def test_a_minimal_request_of_every_srv_and_command_variant_is_schema_valid() -> None:
    """The generator the HTTP walk uses (tests/duis/xsd_instance.py) gives a schema-valid request for every
    SRV and each of its command variants (command variants 5-7 carry sr:SignedPreCommand)."""
    count = 0
    for row in codes.SRV_ROWS:
        for cv in sorted(row.command_variants):
            body = "SignedPreCommand" if cv in codes.CV_SIGNED_PRE_COMMAND else row.body_element
            data = INSTANCES.request(
                srv=row.srv, cv=cv, body_element=body, originator="90-B3-D5-1F-70-00-00-01",
                target=codes.DCC_EUI, counter=1,
            )  # fmt: skip
            root = parse_document(data, max_bytes=1_000_000)
            validate_schema(root)
            assert root.find(f"{SR}Body/{SR}{body}") is not None
            count += 1
    assert count == sum(len(row.command_variants) for row in codes.SRV_ROWS) == 388
