"""Hardened XML parsing and DUIS 5.4 schema validation.

Every DUIS document the product reads goes through `parse_document`, whose lxml parser never resolves an
entity, never loads a DTD, never touches the network, and accepts the one big text node a request has (a
firmware image of 10,240,000 octets is 13.6 MB of base64; libxml2 refuses text nodes over 10 MB unless
``huge_tree`` is on). On top of the parser's settings, a document is refused if it has a DOCTYPE (internal
or external), an entity reference, a processing instruction other than the XML declaration, or an encoding
other than UTF-8: DUIS needs none of them, and each is a classic attack vector (XXE, billion laughs, external
DTD fetches).

**Bounded work.** A document's shape is bounded while it is parsed, before anything else looks at it
(`XmlLimits`: nesting depth, elements, and per element attributes and namespace declarations). The signature
check canonicalises the document, and canonicalisation grows much faster than linearly with one element's
attributes and namespace declarations (a 1 MB request with 100,000 attributes on one element took 17 s to
refuse, 40,000 namespace declarations 11.5 s), so such a document must be refused by the parser, in
milliseconds. The parse is incremental (`etree.XMLPullParser`
fed 64 KiB at a time) and counts as it goes: an element over a limit stops the parse at once, and a start
tag still open after a chunk with more ``=`` signs than one element may carry (every attribute and
namespace declaration has one) is refused before libxml2 has read the rest of it. Every limit is far above
what any DUIS document needs (a full 11.4 has about 40 elements; its 50,000 device IDs are one text node).

Schema validation uses the bundled DUIS 5.4 schema (SEC Appendix AD, as shipped with the DCC Boxed signing
tool) in ``schema/``. The schema document is parsed once, lazily, with a resolver that serves only the
bundled files, so loading it never touches the network; each thread builds its own ``XMLSchema`` from it
(an ``XMLSchema`` keeps its error log on the instance) and validates without a lock. libxml2 has been seen
to reject the 38-digit DCC Boxed certificate serial numbers as ``xs:integer``, so `validate_schema`
validates a copy without ``ds:Signature`` (the signature is checked by `hanota.duis.verifying` against its
own profile instead).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from lxml import etree

from hanota.errors import ConfigError, InputError, TooLarge

from . import codes

SR_NS: Final = "http://www.dccinterface.co.uk/ServiceUserGateway"
DS_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
SR: Final = "{" + SR_NS + "}"
DS: Final = "{" + DS_NS + "}"

#: A generous cap for one DUIS request: a 13.6 MB base64 image + 1.2 MB of device IDs + headers.
MAX_REQUEST_BYTES: Final = 16 * 1024 * 1024
#: Responses and alerts the product reads (DCC Boxed answers, CSP reports) are small.
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024

SCHEMA_DIR: Final = Path(__file__).resolve().parent / "schema"
SCHEMA_FILE: Final = "duis-5.4.xsd"
#: The files the schema may load: its imports, and the DTDs xmldsig-core-schema.xsd names (never loaded in
#: practice because DTD loading is off, bundled so that nothing outside this folder can ever be needed).
BUNDLED_SCHEMA_FILES: Final = frozenset(
    {"duis-5.4.xsd", "mmc-5.4.xsd", "xmldsig-core-schema.xsd", "XMLSchema.dtd", "datatypes.dtd"}
)
_DTD_SYSTEM_IDS: Final = {"http://www.w3.org/2001/XMLSchema.dtd": "XMLSchema.dtd"}

_MAX_MESSAGE = 300


def _short(text: str) -> str:
    """Clip a libxml2 message: a pattern error quotes the whole value, which can be megabytes."""
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


class _DenyResolver(etree.Resolver):
    """Answers every external resource request with an empty document: nothing is ever fetched."""

    def resolve(self, system_url: str, public_id: str, context: Any = None) -> Any:
        return self.resolve_string("", context, base_url=None)


#: The hardened settings every parser here is built with: no entities, DTDs, network or ID collection.
_HARDENED: Final[dict[str, bool]] = {
    "resolve_entities": False,
    "no_network": True,
    "dtd_validation": False,
    "load_dtd": False,
    "attribute_defaults": False,
    "huge_tree": True,
    "remove_comments": False,
    "remove_pis": False,
    "collect_ids": False,
}


def _new_document_parser() -> etree.XMLParser:
    parser = etree.XMLParser(**_HARDENED)  # type: ignore[arg-type]
    parser.resolvers.add(_DenyResolver())
    return parser


_local = threading.local()


def document_parser() -> etree.XMLParser:
    """The hardened parser (one per thread: lxml parsers keep per-parse state)."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _new_document_parser()
        _local.parser = parser
    return parser


def _malformed(message: str) -> InputError:
    return InputError(message, code=codes.MALFORMED_REQUEST)


@dataclass(frozen=True)
class XmlLimits:
    """The largest document shape `parse_document` accepts (settings: ``HANOTA_XML_MAX_*``).

    DUIS documents are shallow and small in structure: the DCC Boxed samples nest at most 7 deep (root
    included), have at most 73 elements, 1 attribute and 3 namespace declarations on an element; a full
    11.4 has under 50 elements (its 50,000 device IDs are one comma-separated text node). The defaults
    leave a wide margin and keep the work of the later stages (C14N, schema validation) proportional to
    the size of the document.
    """

    max_depth: int = 64
    max_elements: int = 100_000
    max_attributes: int = 32  # on one element
    max_namespace_declarations: int = 32  # on one element

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_elements", "max_attributes", "max_namespace_declarations"):
            if getattr(self, name) < 1:
                raise ValueError(f"XmlLimits.{name} must be at least 1")

    @property
    def markup_budget(self) -> int:
        """The most ``=`` signs a chunk with no element event may carry: one element's attributes and
        namespace declarations, plus slack for ``=`` in text (base64 padding, issuer names, comments)."""
        return self.max_attributes + self.max_namespace_declarations + _TEXT_EQUALS_SLACK


DEFAULT_LIMITS: Final = XmlLimits()
#: Bytes handed to libxml2 per step; a start tag longer than this is counted before it is parsed further.
_CHUNK: Final = 64 * 1024
_TEXT_EQUALS_SLACK: Final = 1024


def _limited_parser() -> etree.XMLPullParser:
    """A one-document incremental parser with exactly the hardened parser's settings."""
    parser = etree.XMLPullParser(events=("start", "end", "start-ns"), **_HARDENED)  # type: ignore[arg-type]
    parser.resolvers.add(_DenyResolver())
    return parser


class _Shape:
    """Counts a document's shape from the parser's events; refuses it as soon as it is over a limit."""

    def __init__(self, limits: XmlLimits) -> None:
        self.limits = limits
        self.depth = self.elements = self.declarations = 0

    def read(self, parser: etree.XMLPullParser) -> bool:
        """Check the events the parser has for us; True if there were any."""
        limits = self.limits
        seen = False
        for event, item in parser.read_events():
            seen = True
            if event == "start-ns":  # a declaration on the element whose "start" comes next
                self.declarations += 1
                if self.declarations > limits.max_namespace_declarations:
                    raise _malformed(
                        f"an element declares over {limits.max_namespace_declarations} namespaces"
                    )
            elif event == "start":
                self.declarations = 0
                self.elements += 1
                self.depth += 1
                if self.elements > limits.max_elements:
                    raise _malformed(f"over {limits.max_elements:,} elements")
                if self.depth > limits.max_depth:
                    raise _malformed(f"elements nested over {limits.max_depth} deep")
                if len(cast("etree._Element", item).attrib) > limits.max_attributes:
                    raise _malformed(f"an element has over {limits.max_attributes} attributes")
            else:
                self.depth -= 1
        return seen


def _parse_bounded(data: bytes, limits: XmlLimits) -> etree._Element:
    """Parse `data` incrementally, refusing it (InputError E100) as soon as it is over one of `limits`."""
    parser = _limited_parser()
    shape = _Shape(limits)
    budget = limits.markup_budget
    pending = 0  # '=' signs fed since the parser last reported an element boundary
    try:
        for offset in range(0, len(data), _CHUNK):
            end = offset + _CHUNK
            parser.feed(data[offset:end])
            if shape.read(parser):
                pending = 0
            elif data.find(b"=", offset, end) >= 0:  # memchr: text chunks (base64, ID lists) have none
                pending += data.count(b"=", offset, end)
                if pending > budget:
                    raise _malformed(
                        f"over {budget} '=' signs with no element boundary: a start tag with more than "
                        f"{limits.max_attributes} attributes or {limits.max_namespace_declarations} "
                        "namespace declarations"
                    )
        root = parser.close()
    except etree.XMLSyntaxError as exc:
        raise _malformed(f"not well-formed XML: {_short(str(exc))}") from exc
    shape.read(parser)  # what libxml2 held back until the end
    return root


def check_hostile_constructs(root: etree._Element) -> None:
    """Refuse a tree with a DOCTYPE, entity references, processing instructions or a non-UTF-8 encoding.

    `parse_document` calls this; call it yourself on a tree that did not come from `parse_document`.
    """
    docinfo = root.getroottree().docinfo
    doctype: str = getattr(docinfo, "doctype", "")  # DocInfo.doctype is missing from lxml-stubs
    if doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _malformed("a DOCTYPE is not allowed in DUIS documents")
    encoding = (docinfo.encoding or "UTF-8").upper()
    if encoding not in ("UTF-8", "UTF8"):
        raise _malformed(f"DUIS documents must be UTF-8, not {encoding}")
    for sibling in (*root.itersiblings(preceding=True), *root.itersiblings()):
        if isinstance(sibling, etree._ProcessingInstruction):
            raise _malformed(f"processing instruction <?{sibling.target}?> is not allowed")
    for node in root.iter(etree.ProcessingInstruction, etree.Entity):
        if isinstance(node, etree._ProcessingInstruction):
            raise _malformed(f"processing instruction <?{node.target}?> is not allowed")
        raise _malformed(f"entity reference {node.text} is not allowed")


def parse_document(data: bytes, *, max_bytes: int, limits: XmlLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse one DUIS document with the hardened parser and return its root element.

    Raises `TooLarge` over `max_bytes`, `InputError` for anything that is not plain UTF-8 XML or is over
    `limits` (see module docstring). Neither the namespace nor the root element is checked here: the model
    parsers do that.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"parse_document takes bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise TooLarge(
            f"document is {len(data):,} bytes, over the {max_bytes:,}-byte limit",
            code=codes.REQUEST_TOO_LARGE,
        )
    if not data or data.isspace():  # (not data.strip(): that copies up to max_bytes)
        raise _malformed("empty document")
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        raise _malformed("DUIS documents must be UTF-8, not UTF-16/32")
    # Refuse a DOCTYPE before libxml2 parses its internal subset at all (entity declarations never reach it).
    if b"<!DOCTYPE" in data:
        raise _malformed("a DOCTYPE is not allowed in DUIS documents")
    # The parser has the hardened settings above (no entity resolution, no DTD, no network, huge_tree) and
    # counts the document's shape as it goes.
    root = _parse_bounded(data, limits)
    check_hostile_constructs(root)
    return root


# --------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------


def bundled_schema_path(url: str | None) -> Path | None:
    """The bundled file a schema import or DTD reference may load, or None (then it is refused)."""
    if not url:
        return None
    if url in _DTD_SYSTEM_IDS:
        return SCHEMA_DIR / _DTD_SYSTEM_IDS[url]
    if "://" in url and not url.startswith("file://"):
        return None
    name = url.rsplit("/", 1)[-1]
    if name not in BUNDLED_SCHEMA_FILES:
        return None
    candidate = Path(url.removeprefix("file://"))
    if candidate.is_absolute() and candidate.resolve() != (SCHEMA_DIR / name).resolve():
        return None
    return SCHEMA_DIR / name


class _BundledSchemaResolver(etree.Resolver):
    """Serves the bundled schema files; everything else resolves to an empty document (and fails)."""

    def resolve(self, system_url: str, public_id: str, context: Any = None) -> Any:
        path = bundled_schema_path(system_url)
        if path is None:
            return self.resolve_string("", context, base_url=None)
        return self.resolve_filename(str(path), context)  # type: ignore[attr-defined]  # absent from lxml-stubs


# Loading: the schema document is parsed once (under the lock); every thread then builds its own XMLSchema
# from it (also under the lock, once per thread) and validates with it lock-free. An XMLSchema keeps its
# error log on the instance, so it cannot be shared between threads that validate at the same time.
_schema_lock = threading.Lock()
_schema_document: etree._ElementTree | None = None
_schema_generation = 0  # bumped by _reset_schema_cache: every thread's cached XMLSchema is then stale
_schema_local = threading.local()


def _load_schema_document() -> etree._ElementTree:
    """duis-5.4.xsd, parsed once from the bundled file; the caller holds `_schema_lock`."""
    global _schema_document
    if _schema_document is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
        )
        # Imports (mmc-5.4.xsd, xmldsig-core-schema.xsd) are resolved through this parser when an XMLSchema
        # is built from the document, in whichever thread: bundled files only, never the network.
        parser.resolvers.add(_BundledSchemaResolver())
        _schema_document = etree.parse(str(SCHEMA_DIR / SCHEMA_FILE), parser)
    return _schema_document


def load_schema() -> etree.XMLSchema:
    """The calling thread's DUIS 5.4 schema, built on its first use from the bundled files only.

    Lock-free once the thread has its schema; the first call in each thread takes the lock to build it.
    """
    cached: tuple[int, etree.XMLSchema] | None = getattr(_schema_local, "schema", None)
    if cached is not None and cached[0] == _schema_generation:
        return cached[1]
    with _schema_lock:
        generation = _schema_generation
        try:
            schema = etree.XMLSchema(_load_schema_document())
        except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
            raise ConfigError(f"cannot load the bundled DUIS schema: {exc}") from exc
    _schema_local.schema = (generation, schema)
    return schema


def _reset_schema_cache() -> None:
    """Forget the loaded schema in every thread (tests use this to prove loading touches no network)."""
    global _schema_document, _schema_generation
    with _schema_lock:
        _schema_document = None
        _schema_generation += 1


def strip_signature(root: etree._Element) -> etree._Element:
    """`root` itself if it has no ``ds:Signature`` child, else a copy without it."""
    if root.find(DS + "Signature") is None:
        return root
    stripped = copy.deepcopy(root)
    for signature in stripped.findall(DS + "Signature"):
        stripped.remove(signature)
    return stripped


def validate_schema(root: etree._Element) -> None:
    """Validate a DUIS document against duis-5.4.xsd (without its ``ds:Signature``); InputError if invalid."""
    schema = load_schema()  # this thread's own: its error log is not shared
    if schema.validate(strip_signature(root)):
        return
    error = next(iter(cast("Iterable[Any]", schema.error_log)), None)
    if error is None:  # pragma: no cover - libxml2 logs every validity error
        raise _malformed("invalid against duis-5.4.xsd")
    raise _malformed(f"invalid against duis-5.4.xsd (line {error.line}): {_short(error.message)}")
