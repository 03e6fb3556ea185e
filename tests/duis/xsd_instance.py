"""Minimal instances of DUIS 5.4 schema elements, generated from the packaged XSD (tests only).

`SchemaInstances(...).request(srv, cv, originator, target, counter)` builds an unsigned ``sr:Request`` of any
SRV of the schema: the header, and as body the smallest content the schema allows for the SRV's body
element (or ``sr:SignedPreCommand`` for command variants 5-7): every required element once, optional ones
left out, the first alternative of a choice, the first value of an enumeration, the lowest value a range
allows. Nothing here knows a DUIS message by name: it reads the declarations. Callers check the result with
`hanota.duis.validate_schema`, so a gap in this generator shows up as a failing test, never as a silently
wrong request.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from lxml import etree

XS_NS = "http://www.w3.org/2001/XMLSchema"
XS = f"{{{XS_NS}}}"
SR_NS = "http://www.dccinterface.co.uk/ServiceUserGateway"
SR = f"{{{SR_NS}}}"

# Values of the built-in types, before facets.
_BUILTIN = {
    "string": "A", "normalizedString": "A", "token": "A", "Name": "A", "NCName": "A", "NMTOKEN": "A",
    "anyURI": "urn:a", "boolean": "true", "decimal": "0", "float": "0", "double": "0",
    "integer": "0", "int": "0", "long": "0", "short": "0", "byte": "0",
    "nonNegativeInteger": "0", "unsignedLong": "0", "unsignedInt": "0", "unsignedShort": "0", "unsignedByte": "0",
    "positiveInteger": "1", "nonPositiveInteger": "0", "negativeInteger": "-1",
    "dateTime": "2026-06-01T00:00:00Z", "date": "2026-06-01", "time": "00:00:00", "duration": "P1D",
    "gYear": "2026", "gMonth": "--06", "gDay": "---01", "gMonthDay": "--06-01", "gYearMonth": "2026-06",
    "base64Binary": "AAAA", "hexBinary": "00",
}  # fmt: skip
_NUMERIC = {
    "decimal", "float", "double", "integer", "int", "long", "short", "byte", "nonNegativeInteger",
    "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte", "positiveInteger", "nonPositiveInteger",
    "negativeInteger",
}  # fmt: skip
# Candidates for pattern facets, tried in order: the first that matches the whole pattern (and the length
# facets) is used. XSD patterns are anchored; these are all Python-compatible.
_PATTERN_CANDIDATES = (
    "00-DB-12-34-56-78-90-A0",
    "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1",
    "12345678901234567890",
    "1234",
    "A",
    "0",
)


@dataclass
class _Facets:
    enumeration: list[str]
    patterns: list[str]
    min_inclusive: Decimal | None = None
    max_inclusive: Decimal | None = None
    min_exclusive: Decimal | None = None
    max_exclusive: Decimal | None = None
    length: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    fraction_digits: int | None = None


class SchemaInstances:
    """An index of the named types and elements of duis-5.4.xsd and the schemas it imports."""

    def __init__(self, schema_dir: Path, schema_file: str = "duis-5.4.xsd") -> None:
        self.types: dict[str, etree._Element] = {}
        self.elements: dict[str, etree._Element] = {}
        self._load(schema_dir, schema_file, set())
        self.root = etree.parse(str(schema_dir / schema_file)).getroot()

    def _load(self, schema_dir: Path, name: str, seen: set[str]) -> None:
        if name in seen:
            return
        seen.add(name)
        root = etree.parse(str(schema_dir / name)).getroot()
        target = root.get("targetNamespace", "")
        for child in root:
            if not isinstance(child.tag, str):
                continue
            if child.tag in (XS + "complexType", XS + "simpleType"):
                self.types[f"{{{target}}}{child.get('name')}"] = child
            elif child.tag == XS + "element":
                self.elements[f"{{{target}}}{child.get('name')}"] = child
            elif child.tag == XS + "import" and child.get("schemaLocation"):
                self._load(schema_dir, str(child.get("schemaLocation")), seen)

    @staticmethod
    def _qname(node: etree._Element, prefixed: str) -> str:
        return _qname_of(node, prefixed)

    # -- the schema's own lists ---------------------------------------------------------------------------
    def request_body_choice(self) -> etree._Element:
        """The ``xs:choice`` of ``sr:Request/sr:Body``."""
        request = self.types[SR + "Request"]
        choice = request.find(f".//{XS}element[@name='Body']/{XS}complexType/{XS}choice")
        assert choice is not None
        return choice

    def body_declaration(self, name: str) -> etree._Element:
        for decl in self.request_body_choice().findall(f"{XS}element"):
            if decl.get("name") == name:
                return decl
        raise KeyError(name)

    # -- instances ----------------------------------------------------------------------------------------
    def request(
        self, *, srv: str, cv: int, body_element: str, originator: str, target: str, counter: int
    ) -> bytes:
        """An unsigned ``sr:Request`` of `srv` with command variant `cv` and a minimal `body_element`."""
        root = etree.Element(SR + "Request", nsmap={"sr": SR_NS}, schemaVersion="5.4")
        header = etree.SubElement(root, SR + "Header")
        etree.SubElement(header, SR + "RequestID").text = f"{originator}:{target}:{counter}"
        etree.SubElement(header, SR + "CommandVariant").text = str(cv)
        etree.SubElement(header, SR + "ServiceReference").text = ".".join(srv.split(".")[:2])
        etree.SubElement(header, SR + "ServiceReferenceVariant").text = srv
        body = etree.SubElement(root, SR + "Body")
        self.fill(body, self.body_declaration(body_element), SR_NS)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def fill(self, parent: etree._Element, decl: etree._Element, namespace: str) -> None:
        """Append one minimal instance of the element declaration `decl` to `parent`."""
        if decl.get("ref") is not None:
            ref = self._qname(decl, str(decl.get("ref")))
            self.fill(parent, self.elements[ref], ref[1:].split("}")[0])
            return
        el = etree.SubElement(parent, f"{{{namespace}}}{decl.get('name')}")
        type_name = decl.get("type")
        inline = next((c for c in decl if c.tag in (XS + "complexType", XS + "simpleType")), None)
        if inline is not None:
            self._fill_type(el, inline, namespace)
        elif type_name is not None:
            self._fill_named(el, self._qname(decl, type_name), namespace)
        else:  # no type: xs:anyType, empty is fine
            pass

    def _fill_named(self, el: etree._Element, qname: str, namespace: str) -> None:
        if qname.startswith(XS):
            el.text = self._simple_value(qname, _Facets([], []))
        else:
            self._fill_type(el, self.types[qname], namespace)

    def _fill_type(self, el: etree._Element, type_decl: etree._Element, namespace: str) -> None:
        if type_decl.tag == XS + "simpleType":
            el.text = self._simple_value_of(type_decl)
            return
        for child in type_decl:
            if not isinstance(child.tag, str):
                continue
            tag = child.tag
            if tag in (XS + "sequence", XS + "choice", XS + "all"):
                self._fill_particle(el, child, namespace)
            elif tag == XS + "attribute":
                self._fill_attribute(el, child)
            elif tag == XS + "complexContent":
                derivation = next(c for c in child if isinstance(c.tag, str))
                base = self._qname(derivation, str(derivation.get("base")))
                if derivation.tag == XS + "extension" and not base.startswith(XS):
                    self._fill_type(el, self.types[base], namespace)
                self._fill_type(el, derivation, namespace)
            elif tag == XS + "simpleContent":
                derivation = next(c for c in child if isinstance(c.tag, str))
                base = self._qname(derivation, str(derivation.get("base")))
                if base.startswith(XS):
                    el.text = self._simple_value(base, self._facets(derivation))
                elif self.types[base].tag == XS + "simpleType":
                    el.text = self._simple_value_of(self.types[base])
                else:
                    self._fill_type(el, self.types[base], namespace)
                for attribute in derivation.findall(XS + "attribute"):
                    self._fill_attribute(el, attribute)
            elif tag in (XS + "extension", XS + "restriction"):  # the body of a complexContent derivation
                self._fill_type(el, child, namespace)

    def _fill_particle(self, el: etree._Element, particle: etree._Element, namespace: str) -> None:
        if int(particle.get("minOccurs", "1")) == 0:
            return
        items = [c for c in particle if isinstance(c.tag, str) and c.tag != XS + "annotation"]
        if particle.tag == XS + "choice":
            items = items[:1]
        for _ in range(int(particle.get("minOccurs", "1"))):
            for item in items:
                occurs = int(item.get("minOccurs", "1"))
                if item.tag == XS + "element":
                    for _ in range(occurs):
                        self.fill(el, item, namespace)
                elif item.tag in (XS + "sequence", XS + "choice", XS + "all"):
                    self._fill_particle(el, item, namespace)
                elif item.tag == XS + "any" and occurs > 0:
                    raise NotImplementedError("a required xs:any")

    def _fill_attribute(self, el: etree._Element, decl: etree._Element) -> None:
        if decl.get("use") != "required":
            return
        if decl.get("fixed") is not None:
            el.set(str(decl.get("name")), str(decl.get("fixed")))
            return
        inline = decl.find(XS + "simpleType")
        if inline is not None:
            value = self._simple_value_of(inline)
        else:
            qname = self._qname(decl, str(decl.get("type", "xs:string")))
            value = (
                self._simple_value(qname, _Facets([], []))
                if qname.startswith(XS)
                else self._simple_value_of(self.types[qname])
            )
        el.set(str(decl.get("name")), value)

    # -- simple values ------------------------------------------------------------------------------------
    def _simple_value_of(self, simple_type: etree._Element) -> str:
        restriction = simple_type.find(XS + "restriction")
        if restriction is None:
            raise NotImplementedError(f"simpleType {simple_type.get('name')} is not a restriction")
        facets = self._facets(restriction)
        base = self._qname(restriction, str(restriction.get("base")))
        while not base.startswith(XS):  # facets of the base types apply too; the derived type's first
            base_type = self.types[base]
            inner = base_type.find(XS + "restriction")
            assert inner is not None, base
            inherited = self._facets(inner)
            for field in vars(facets):
                if getattr(facets, field) in (None, []):
                    setattr(facets, field, getattr(inherited, field))
            base = self._qname(inner, str(inner.get("base")))
        return self._simple_value(base, facets)

    @staticmethod
    def _facets(restriction: etree._Element) -> _Facets:
        facets = _Facets([], [])
        for f in restriction:
            if not isinstance(f.tag, str):
                continue
            name, value = f.tag[len(XS) :], f.get("value", "")
            if name == "enumeration":
                facets.enumeration.append(value)
            elif name == "pattern":
                facets.patterns.append(value)
            elif name in ("minInclusive", "maxInclusive", "minExclusive", "maxExclusive"):
                key = re.sub(r"([A-Z])", r"_\1", name).lower()
                setattr(facets, key, Decimal(value))
            elif name in ("length", "minLength", "maxLength", "fractionDigits"):
                setattr(facets, re.sub(r"([A-Z])", r"_\1", name).lower(), int(value))
        return facets

    @staticmethod
    def _simple_value(builtin: str, facets: _Facets) -> str:
        local = builtin[len(XS) :]
        if facets.enumeration:
            return facets.enumeration[0]
        if facets.patterns:
            for candidate in _PATTERN_CANDIDATES:
                if all(re.fullmatch(p, candidate) for p in facets.patterns) and _length_ok(candidate, facets):
                    return candidate
            raise NotImplementedError(f"no candidate matches the patterns {facets.patterns}")
        if local in _NUMERIC:
            value = Decimal(_BUILTIN[local])
            step = Decimal("0.1") if local in ("decimal", "float", "double") else Decimal(1)
            if facets.min_inclusive is not None:
                value = max(value, facets.min_inclusive)
            if facets.min_exclusive is not None and value <= facets.min_exclusive:
                value = facets.min_exclusive + step
            if facets.max_inclusive is not None:
                value = min(value, facets.max_inclusive)
            if facets.max_exclusive is not None and value >= facets.max_exclusive:
                value = facets.max_exclusive - step
            return str(value)
        value_text = _BUILTIN.get(local)
        if value_text is None:
            raise NotImplementedError(f"built-in type {local}")
        if local in ("string", "normalizedString", "token", "base64Binary", "hexBinary"):
            size = facets.length if facets.length is not None else max(facets.min_length or 0, 1)
            if local == "base64Binary":  # lengths count octets
                return base64.b64encode(bytes(size)).decode()
            return ("00" if local == "hexBinary" else "A") * size
        return value_text


def _length_ok(value: str, facets: _Facets) -> bool:
    if facets.length is not None and len(value) != facets.length:
        return False
    if facets.min_length is not None and len(value) < facets.min_length:
        return False
    return facets.max_length is None or len(value) <= facets.max_length


def _qname_of(node: etree._Element, prefixed: str) -> str:
    prefix, _, local = prefixed.rpartition(":")
    namespace = node.nsmap.get(prefix or None)
    if namespace is None:
        raise KeyError(f"prefix {prefix!r} of {prefixed!r}")
    return f"{{{namespace}}}{local}"
