"""Hardened XML parsing and DUIS 5.4 schema validation.

Every DUIS document the product reads goes through `parse_document`, whose lxml parser never resolves an
entity, never loads a DTD, never touches the network, and accepts the one big text node a request has (a
firmware image of 10,240,000 octets is 13.6 MB of base64; libxml2 refuses text nodes over 10 MB unless
``huge_tree`` is on). On top of the parser's settings, a document is refused if it has a DOCTYPE (internal
or external), an entity reference, a processing instruction other than the XML declaration, or an encoding
other than UTF-8: DUIS needs none of them, and each is a classic attack vector (XXE, billion laughs, external
DTD fetches).

Schema validation uses the bundled DUIS 5.4 schema (SEC Appendix AD, as shipped with the DCC Boxed signing
tool) in ``schema/``. The schema document is parsed once, lazily, with a resolver that serves only the
bundled files, so loading it never touches the network; each thread builds its own ``XMLSchema`` from it
(an ``XMLSchema`` keeps its error log on the instance) and validates without a lock. libxml2 has been seen
to reject the 38-digit DCC Boxed certificate serial numbers as ``xs:integer``, so `validate_schema`
validates a copy without ``ds:Signature`` (the signature is checked by `hanota.duis.signing` against its
own profile instead).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
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


def _new_document_parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        attribute_defaults=False,
        huge_tree=True,
        remove_comments=False,
        remove_pis=False,
        collect_ids=False,
    )
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


def parse_document(data: bytes, *, max_bytes: int) -> etree._Element:
    """Parse one DUIS document with the hardened parser and return its root element.

    Raises `TooLarge` over `max_bytes`, `InputError` for anything that is not plain UTF-8 XML (see module
    docstring). Neither the namespace nor the root element is checked here: the model parsers do that.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"parse_document takes bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise TooLarge(
            f"document is {len(data):,} bytes, over the {max_bytes:,}-byte limit",
            code=codes.REQUEST_TOO_LARGE,
        )
    if not data.strip():
        raise _malformed("empty document")
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        raise _malformed("DUIS documents must be UTF-8, not UTF-16/32")
    # Refuse a DOCTYPE before libxml2 parses its internal subset at all (entity declarations never reach it).
    if b"<!DOCTYPE" in data:
        raise _malformed("a DOCTYPE is not allowed in DUIS documents")
    try:
        # The parser is the hardened one above: no entity resolution, no DTD, no network, huge_tree.
        root = etree.fromstring(data, document_parser())
    except etree.XMLSyntaxError as exc:
        raise _malformed(f"not well-formed XML: {_short(str(exc))}") from exc
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
