"""`Signer.sign_element` writes the signature from templates (issue 15); `Signer.sign_tree`, which builds it
as elements, is the reference: for every document here both write the same bytes, and what they write
verifies with hanota's verifier and with xmlsec1, an independent implementation.

The documents cover what decides how a signature is serialised: the namespaces declared on the root (``ds``
declared there or not, ``ds`` bound to another URI, the DUIS namespace as the default one), indented and
compact input, a signature placeholder to replace, and the three kinds of document the DSP signs (requests,
answers, DCC Alerts).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from duis_testkit import NOW, SUPPLIER_EUI, Identity, TestPKI
from lxml import etree

from hanota.duis import codes, models
from hanota.duis.requests import Request
from hanota.duis.responses import Response, ResponseMessage, render_response_element
from hanota.duis.signing import Signer, StaticTrustStore, Verifier
from hanota.duis.values import RequestID
from hanota.duis.xmlparse import DS_NS, SR_NS, parse_document
from hanota.errors import InputError

MAX = 1 << 22


@pytest.fixture(scope="module")
def identity(test_pki: TestPKI) -> Identity:
    return test_pki.leaf(test_pki.ca())


def _request(body: models.RequestBody, srv: str) -> bytes:
    rid = RequestID(SUPPLIER_EUI, codes.DCC_EUI, 7)
    return models.render_request(Request("5.4", rid, 8, codes.service_reference_of(srv), srv, body))


def _documents(requests_dir: Path) -> Iterator[tuple[str, etree._Element]]:
    """(name, an unsigned root) for each document of the corpus."""
    for path in sorted(requests_dir.glob("*.XML")):
        yield f"public sample {path.name}", parse_document(path.read_bytes(), max_bytes=MAX)
    read = _request(models.ReadInventory(uprn=5), "8.2")
    yield "8.2 rendered", parse_document(read, max_bytes=MAX)
    rid = RequestID(SUPPLIER_EUI, codes.DCC_EUI, 7)
    yield "an E19 answer", render_response_element(Response(rid, "E19", NOW, ResponseMessage("8.2")))
    yield "an I0 answer", render_response_element(Response(rid, "I0", NOW, ResponseMessage("8.4")))
    plain = etree.fromstring(read)
    for signature in plain.findall(f"{{{DS_NS}}}Signature"):
        plain.remove(signature)
    # the same content under other namespace declarations
    default_ns = etree.Element(f"{{{SR_NS}}}Request", nsmap={None: SR_NS})
    default_ns.extend(list(etree.fromstring(read)))
    yield "DUIS as the default namespace", default_ns
    no_ds = etree.Element(f"{{{SR_NS}}}Request", nsmap={"sr": SR_NS})
    no_ds.extend(list(etree.fromstring(read)))
    yield "no ds declared on the root", no_ds
    with_ds = etree.Element(f"{{{SR_NS}}}Request", nsmap={"sr": SR_NS, "ds": DS_NS})
    with_ds.extend(list(etree.fromstring(read)))
    yield "ds declared on the root", with_ds
    other = etree.Element(f"{{{SR_NS}}}Request", nsmap={"sr": SR_NS, "ds": "urn:not-dsig"})
    other.extend(list(etree.fromstring(read)))
    yield "ds bound to another namespace on the root", other
    dsig = etree.Element(f"{{{SR_NS}}}Request", nsmap={"sr": SR_NS, "dsig": DS_NS})
    dsig.extend(list(etree.fromstring(read)))
    yield "the signature namespace under another prefix", dsig


def _copy(root: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(root))


def test_the_templates_write_what_the_element_signer_writes(identity: Identity, requests_dir: Path) -> None:
    """ECDSA signatures are randomised, so the two are compared with the signature value set aside: every
    other byte is the same, and both documents verify."""
    signer = identity.signer()
    verifier = Verifier(StaticTrustStore(pinned=[identity.certificate]), accepted_roles=[0x87])
    names = []
    for name, root in _documents(requests_dir):
        fast, tree = signer.sign_element(_copy(root)), signer.sign_tree(_copy(root))
        assert _without_value(fast) == _without_value(tree), name
        for signed in (fast, tree):
            assert verifier.verify(signed, now=NOW).signed_data == verifier.verify(tree, now=NOW).signed_data
        names.append(name)
    assert len(names) >= 12


def _without_value(signed: bytes) -> bytes:
    head, rest = signed.split(b"SignatureValue>", 1)
    _, tail = rest.split(b"</", 1)
    return head + b"SignatureValue>...</" + tail


def test_a_placeholder_signature_is_replaced_and_a_nested_one_refused(identity: Identity) -> None:
    """A signed document signed again carries one signature, the new one; a ds:Signature deeper in the
    document is refused by both paths."""
    signer = identity.signer()
    once = signer.sign(_request(models.ReadInventory(uprn=5), "8.2"))
    twice = signer.sign(once)
    assert twice.count(b"<ds:Signature>") + twice.count(b"<ds:Signature ") == 1
    root = parse_document(once, max_bytes=MAX)
    nested = root[-1]
    root.remove(nested)
    root[0].append(nested)
    for sign in (signer.sign_element, signer.sign_tree):
        with pytest.raises(InputError, match="inside the document"):
            sign(_copy(root))


def test_what_the_templates_write_verifies_with_xmlsec1(
    identity: Identity, requests_dir: Path, tmp_path: Path
) -> None:
    """xmlsec1, an independent XMLDSig implementation, accepts every document of the corpus as signed by
    `sign_element`, and refuses one with a changed byte."""
    xmlsec1 = shutil.which("xmlsec1")
    assert xmlsec1 is not None, "needs xmlsec1 (make system-deps)"
    cert = tmp_path / "cert.pem"
    cert.write_bytes(identity.certificate.public_bytes(encoding=Encoding.PEM))
    signer = identity.signer()

    def verifies(data: bytes) -> bool:
        doc = tmp_path / "doc.xml"
        doc.write_bytes(data)
        run = subprocess.run(
            [xmlsec1, "--verify", "--pubkey-cert-pem", str(cert), str(doc)], capture_output=True
        )
        return run.returncode == 0

    for name, root in _documents(requests_dir):
        signed = signer.sign_element(_copy(root))
        assert verifies(signed), name
    signed = signer.sign_element(parse_document(_request(models.ReadInventory(uprn=5), "8.2"), max_bytes=MAX))
    assert not verifies(signed.replace(b"<sr:UPRN>5<", b"<sr:UPRN>6<"))


def test_templates_are_kept_per_set_of_root_declarations(identity: Identity) -> None:
    """One template per distinct set of namespace declarations on the root, bounded."""
    signer = Signer(identity.key, identity.certificate)
    read = _request(models.ReadInventory(uprn=5), "8.2")
    for _ in range(3):
        signer.sign_element(parse_document(read, max_bytes=MAX))
    assert len(signer._templates) == 1
    for i in range(100):
        root = etree.Element(f"{{{SR_NS}}}Request", nsmap={"sr": SR_NS, f"x{i}": f"urn:x{i}"})
        root.extend(list(etree.fromstring(read)))
        signer.sign_element(root)
    assert len(signer._templates) == 64
