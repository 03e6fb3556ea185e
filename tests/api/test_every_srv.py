"""Every SRV of the DUIS 5.4 schema, with each of its command variants, POSTed over real HTTP at each of the
three DUIS URLs (/api/v1/serviceD, serviceS, serviceT): every answer is a signed (verified with the DSP
certificate), schema-valid DUIS Response with the expected code; never an HTTP 4xx or a 404.

The requests are generated from the packaged XSD (tests/duis/xsd_instance.py), one minimal schema-valid
request per SRV and command variant, signed in-process; one server serves the whole walk.

The expected code is written here from the public rule, not taken from `codes.routing_code`: a request goes
to the web service of its command variant (duis-5.4.xsd CommandVariant comment: 1, 3, 5, 7 Send Command =
serviceS; 2, 6, 8 DCC-only = serviceD; 4 Transform = serviceT), anywhere else it is E13; a command variant
that is not the SRV's is E12; at its own URL a served SRV gets its handler's answer, a non-device SRV this
DCC does not provide E46, a device request E45 (this DCC talks to no device).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text, update
from sqlalchemy.orm import Session

import crafted as c
from duis.xsd_instance import SchemaInstances
from duisclient import signer_for
from hanota.api.app import create_app
from hanota.bootstrap import build_context
from hanota.clock import ManualClock
from hanota.db.models import User
from hanota.duis import (
    Signer,
    StaticTrustStore,
    Verifier,
    codes,
    load_certificate,
    parse_document,
    parse_response,
    validate_schema,
    xmlparse,
)
from hanota.estate.pki import init_pki
from hanota.settings import Settings
from liveserver import LiveServer

#: A User holding every role, so that the walk reaches the routing code of every SRV (E2 has its own test).
WALKER = "90-B3-D5-1F-70-00-00-0B"
URLS = {"serviceD": "/api/v1/serviceD", "serviceS": "/api/v1/serviceS", "serviceT": "/api/v1/serviceT"}
#: The request web service of each command variant (duis-5.4.xsd, CommandVariant comment, "Req WS").
WEB_SERVICE = {1: "serviceS", 2: "serviceD", 3: "serviceS", 4: "serviceT", 5: "serviceS", 6: "serviceD",
               7: "serviceS", 8: "serviceD"}  # fmt: skip
#: What the served SRVs' handlers answer the generated minimal request: 8.2 of UPRN 0 (an empty inventory),
#: 8.4 of a device not in the inventory, 11.1/11.4 with a 3-octet image that is no ZigBee OTA file, 12.2 of
#: a new device with no firmware version (accepted).
SERVED_ANSWERS = {"8.2": "I0", "8.4": "E19", "11.1": "E110101", "11.4": "E110401", "12.2": "I0"}
#: The non-device SRVs this DCC does not provide (E46 at serviceD).
NOT_PROVIDED = {"5.1", "5.2", "5.3", "8.3", "8.6", "8.13", "8.14.1", "8.14.2", "8.14.3", "8.14.4", "12.1"}
INSTANCES = SchemaInstances(xmlparse.SCHEMA_DIR)


def expected_code(srv: str, cv: int, url: str) -> str:
    row = codes.srv_row(srv)
    assert row is not None
    if cv not in row.command_variants:
        return "E12"
    if WEB_SERVICE[cv] != url:
        return "E13"
    if srv in SERVED_ANSWERS:
        return SERVED_ANSWERS[srv]
    return "E46" if cv == 8 else "E45"


@dataclass
class Walk:
    url: str
    engine: Engine
    pki: Path
    client: httpx.Client
    verifier: Verifier
    counter: int = 10_000

    def request(
        self, signer: Signer, originator: str, srv: str, cv: int, *, target: str | None = None
    ) -> bytes:
        row = codes.srv_row(srv)
        assert row is not None
        body = "SignedPreCommand" if cv in (5, 6, 7) else row.body_element
        if target is None:
            target = codes.DCC_EUI if cv == 8 else c.P_OK  # a device request is addressed to a device
        self.counter += 1
        unsigned = INSTANCES.request(
            srv=srv, cv=cv, body_element=body, originator=originator, target=target, counter=self.counter
        )
        return signer.sign(unsigned)

    def answer(self, url: str, signed: bytes, srv: str) -> str:
        """POST `signed` at `url`; check the answer is signed by the DSP, schema-valid and about `srv`."""
        r = self.client.post(
            self.url + URLS[url], content=signed, headers={"content-type": "application/xml"}
        )
        assert r.status_code == 200, (srv, url, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("application/xml")
        verified = self.verifier.verify(r.content, now=c.NOW, expected_signer_eui=codes.DCC_EUI)
        root = parse_document(r.content, max_bytes=10_000_000)
        validate_schema(root)
        response = parse_response(root)
        assert response.response_code == r.headers["x-duis-response-code"]
        assert response.body.srv == srv  # type: ignore[union-attr]
        assert verified.signer_eui == codes.DCC_EUI
        return response.response_code


@pytest.fixture
def walk(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Walk]:
    c.build(engine)
    with Session(engine) as session, session.begin():
        session.add(User(eui=WALKER, name="Walker", roles="IS ES GS RSA ED GT OU", status="Active"))
    init_pki(engine, tmp_path / "pki", now=c.NOW)
    settings = Settings(data_dir=tmp_path, database_url=db_url)
    ctx = build_context(settings, clock=ManualClock(c.NOW), migrate=False)
    verifier = Verifier(
        StaticTrustStore(pinned=[load_certificate(tmp_path / "pki" / "dsp.pem")]),
        accepted_roles=[codes.ROLE_DSP_XML_SIGNING],
    )
    with LiveServer(create_app(ctx)) as server, httpx.Client(timeout=30) as client:
        yield Walk(server.url, engine, tmp_path / "pki", client, verifier)
    ctx.engine.dispose()


def test_every_srv_and_command_variant_on_every_url(walk: Walk) -> None:
    """Each of the 129 SRVs with each of its command variants (388 pairs), sent signed to each of the three
    URLs, gets the code the routing table gives; only the five served requests reach a handler and are
    recorded."""
    signer = signer_for(walk.pki, WALKER)
    seen: dict[str, Counter[str]] = {url: Counter() for url in URLS}
    wrong: list[tuple[str, int, str, str, str]] = []
    srvs = 0
    for row in codes.SRV_ROWS:
        srvs += 1
        for cv in sorted(row.command_variants):
            signed = walk.request(signer, WALKER, row.srv, cv)
            for url in URLS:
                code = walk.answer(url, signed, row.srv)
                seen[url][code] += 1
                if code != expected_code(row.srv, cv, url):
                    wrong.append((row.srv, cv, url, code, expected_code(row.srv, cv, url)))
    assert not wrong, wrong
    assert srvs == 129
    # 388 (SRV, command variant) pairs, each answered at each URL
    assert {url: sum(counts.values()) for url, counts in seen.items()} == dict.fromkeys(URLS, 388)
    assert seen["serviceT"]["E45"] == sum(4 in row.command_variants for row in codes.SRV_ROWS)
    assert seen["serviceD"]["E46"] == len(NOT_PROVIDED)
    # only the five served requests reached a handler (and are on record); the rest changed nothing
    with walk.engine.connect() as conn:
        recorded = conn.execute(text("SELECT srv, response_code FROM service_requests")).all()
    assert sorted(recorded) == sorted(SERVED_ANSWERS.items())
    assert {row.srv for row in codes.SRV_ROWS if row.non_device and not row.served} == NOT_PROVIDED
    print({url: dict(sorted(counts.items())) for url, counts in seen.items()})


def test_a_command_variant_not_the_srvs_is_e12_everywhere(walk: Walk) -> None:
    """A command variant the SRV does not have is E12 at all three URLs."""
    signer = signer_for(walk.pki, WALKER)
    for srv, cv in (("8.2", 1), ("5.2", 4), ("11.3", 1), ("4.1.1", 8), ("8.5", 5), ("4.1.1", 9)):
        signed = walk.request(signer, WALKER, srv, cv)
        assert [walk.answer(url, signed, srv) for url in URLS] == ["E12"] * 3, (srv, cv)


def test_sender_checks_come_before_the_routing_code(walk: Walk) -> None:
    """E1 (not a User), E3 (not Active) and E2 (no eligible role) answer an SRV that is not served as they
    answer a served one, on every URL, before E12/E13/E45/E46. 7.16, 8.5 and 8.6 name no role publicly:
    every role is eligible (our rule), so S3 (IS only) gets the routing code, not E2."""
    s3 = signer_for(walk.pki, c.S3)  # roles: IS
    for srv, cv, code_for_s3 in (
        ("4.2", 1, "E2"),  # Read Instantaneous Export Registers: ES, ED
        ("14.1", 1, "E2"),  # Record Network Data (GAS): GT
        ("8.2", 1, None),  # E12 after the sender checks
        ("5.2", 8, None),  # Read Schedule: IS among its roles
        ("7.16", 4, None),
        ("8.5", 1, None),
        ("8.6", 8, None),
    ):
        signed = walk.request(s3, c.S3, srv, cv)
        got = [walk.answer(url, signed, srv) for url in URLS]
        assert got == [code_for_s3 or expected_code(srv, cv, url) for url in URLS], (srv, cv)
    other = signer_for(walk.pki, c.OTHER)  # roles: OU
    assert [walk.answer(url, walk.request(other, c.OTHER, "4.2", 1), "4.2") for url in URLS] == ["E2"] * 3
    with walk.engine.begin() as conn:
        conn.execute(update(User).where(User.eui == c.S3).values(status="Suspended"))
        conn.execute(text("DELETE FROM users WHERE eui = :e"), {"e": c.GONE})
    for srv, cv in (("5.2", 8), ("4.2", 1), ("11.3", 4), ("8.2", 2)):
        assert [walk.answer(url, walk.request(s3, c.S3, srv, cv), srv) for url in URLS] == ["E3"] * 3
        gone = signer_for(walk.pki, c.GONE)
        assert [walk.answer(url, walk.request(gone, c.GONE, srv, cv), srv) for url in URLS] == ["E1"] * 3


def test_only_what_cannot_be_answered_in_duis_is_http_4xx_on_every_url(walk: Walk) -> None:
    """Unsigned (E40) and schema-invalid (E100) requests of a schema SRV get a signed DUIS answer at every URL;
    not XML, no readable RequestID, or an SRV outside the schema: HTTP 400 text/plain; never a 404."""
    signer = signer_for(walk.pki, WALKER)
    unsigned = INSTANCES.request(
        srv="11.3", cv=4, body_element="ActivateFirmware", originator=WALKER, target=c.P_OK, counter=1
    )
    assert [walk.answer(url, unsigned, "11.3") for url in URLS] == ["E40"] * 3
    schedule = INSTANCES.request(
        srv="5.2", cv=8, body_element="ReadSchedule", originator=WALKER, target=codes.DCC_EUI, counter=2
    )
    invalid = signer.sign(schedule.replace(b"<sr:ReadSchedule>", b"<sr:ReadSchedule><sr:X/>"))
    assert [walk.answer(url, invalid, "5.2") for url in URLS] == ["E100"] * 3
    outside = signer.sign(schedule.replace(b"Variant>5.2<", b"Variant>5.9<"))  # not in the enumeration
    for body in (
        b"not xml",
        b"<sr:Request xmlns:sr='http://www.dccinterface.co.uk/ServiceUserGateway'/>",
        outside,
    ):
        for url, path in URLS.items():
            r = walk.client.post(walk.url + path, content=body, headers={"content-type": "application/xml"})
            assert r.status_code == 400, (url, body[:40])
            assert r.headers["content-type"].startswith("text/plain")
