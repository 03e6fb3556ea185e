"""The import rules of `docs/architecture.md`, enforced over the source with `ast` (no import is executed).

1. No import cycle between the modules of `src/hanota`, counting every import: module level, inside a
   function, and under `if TYPE_CHECKING:` (a type-only circle is still a circle a reader must hold in mind).
2. Each package imports only the packages its layer allows (`MAY_IMPORT`), the entry points (`api`, `ssi`,
   `cli`) never import each other except through the doors in `DOORS`, and nothing below the entry points
   imports them or the composition root.
3. The CSP side touches only its own `csp_*` tables (ORM classes imported from `hanota.db.models`, and
   table names in its SQL text).

What the code does today and the rules do not allow is listed in `KNOWN`, each with its reason and the
issue-14 item that removes it. An entry that no longer matches anything fails too, so the list only shrinks.
`test_the_checker_reports_a_cycle_and_a_forbidden_import` breaks the rules on purpose in a package of its
own, so a checker that stopped seeing anything would fail.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import hanota
from hanota.db import models

SRC = Path(hanota.__file__).parent


@dataclass(frozen=True)
class Import:
    """One import statement's edge: `importer` (a module) imports `imported` (a module of the same tree)."""

    importer: str
    imported: str
    line: int
    names: tuple[str, ...]  # the names of `from imported import a, b`; empty for `import imported`


@dataclass(frozen=True)
class Graph:
    modules: frozenset[str]
    imports: tuple[Import, ...]


def scan(root: Path) -> Graph:
    """Every import between the modules of the package at `root` (a folder with `__init__.py`), wherever it
    stands in a file: module level, in a function, under `if TYPE_CHECKING:`."""
    package = root.name
    files = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    modules = frozenset(files)

    def resolve(name: str) -> str | None:
        """The module of `name` in this tree (`pkg.mod.attr` → `pkg.mod`), or None if it is outside."""
        if name != package and not name.startswith(package + "."):
            return None
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    imports: list[Import] = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        for node in ast.walk(tree):
            found: list[tuple[str | None, tuple[str, ...]]] = []
            if isinstance(node, ast.Import):
                line = node.lineno
                found = [(resolve(alias.name), ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                line = node.lineno
                base = here[: len(here) - node.level + 1] if node.level else []
                source = ".".join([*base, node.module] if node.module else base)
                for alias in node.names:
                    sub = f"{source}.{alias.name}"  # `from pkg import submodule` imports the submodule
                    found.append((sub, ()) if sub in modules else (resolve(source), (alias.name,)))
            for target, names in found:
                if target is not None and target != module:
                    imports.append(Import(module, target, line, names))
    return Graph(modules, tuple(imports))


def cycles(graph: Graph) -> list[tuple[str, ...]]:
    """The strongly connected sets of more than one module (each an import circle), sorted."""
    edges: dict[str, set[str]] = {m: set() for m in graph.modules}
    for imp in graph.imports:
        edges[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm; the graph is a few hundred modules deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def unit(module: str) -> str:
    """The layer unit of a module: its top-level package or module under the root (`pkg.dsp.router` → `dsp`;
    the root package itself → its own name)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_violations(
    graph: Graph,
    may_import: Mapping[str, Iterable[str]],
    doors: Mapping[tuple[str, str], tuple[set[str], set[str]]],
) -> list[Import]:
    """The imports across units that `may_import` does not allow, or that pass between two units whose
    `doors` entry (importer modules, imported modules) they do not go through."""
    bad = []
    for imp in graph.imports:
        src, dst = unit(imp.importer), unit(imp.imported)
        if src == dst:
            continue
        door = doors.get((src, dst))
        if door is not None:
            importers, imported = door
            if imp.importer in importers and imp.imported in imported:
                continue
            bad.append(imp)
        elif src not in may_import or dst not in set(may_import[src]):
            bad.append(imp)
    return bad


# --- the rules --------------------------------------------------------------------------------------------

FOUNDATION = {"errors", "clock", "logs", "settings", "retry", "background", "pki", "lifecycle"}
DOMAIN = {"duis", "firmware", "network", "capacity", "db", "inventory", "cpl", "alerts", "anomaly", "estate"}
ENTRY_POINTS = {"api", "ssi", "cli"}

MAY_IMPORT: dict[str, set[str]] = {
    # the foundation: no product package above it
    "hanota": set(),  # the root package: `__version__` only
    "errors": set(),
    "clock": set(),
    "logs": set(),
    "settings": {"lifecycle"},  # the regions that name the CSP URLs
    "retry": {"clock"},
    "background": {"logs", "settings"},
    "pki": set(),  # the names of the DSP's signing-identity settings
    "lifecycle": set(),  # the delivery vocabulary: regions, states, statuses, outcomes, distribution ids
    # the wire format, the image format and the network model know nothing of the database
    "duis": {"errors", "lifecycle"},
    "firmware": {"errors"},
    "network": {"clock", "errors", "lifecycle"},
    "capacity": {"network", "errors", "lifecycle"},
    # the store
    "db": {"lifecycle"},
    # the domain
    "inventory": {"db", "duis", "errors", "lifecycle"},
    "cpl": {"db", "duis", "errors"},
    "alerts": {"db", "duis", "errors", "clock", "logs", "retry", "background", "lifecycle"},
    "anomaly": {"db", "duis", "errors", "alerts", "lifecycle"},
    "estate": {"db", "duis", "errors", "firmware", "inventory", "pki", "lifecycle"},
    # the CSP side: never the DSP, never an entry point (the DSP reaches it over HTTP, through `csp.client`)
    "csp": {"network", "firmware", "db", "errors", "clock", "logs", "retry", "background", "lifecycle"},
    # the DSP: the domain packages, and the CSP client it routes through
    "dsp": {"alerts", "anomaly", "cpl", "csp", "db", "duis", "errors", "firmware", "inventory"} | FOUNDATION,
    # the supplier's side (the sample alert endpoint): the wire format and the foundation, never the product
    "supplier": {"background", "clock", "duis", "errors"},
    # the composition root wires everything below the entry points
    "bootstrap": DOMAIN | FOUNDATION | {"csp", "dsp"},
    # the entry points: the composition root and the layers below, never each other (see DOORS)
    "api": DOMAIN | FOUNDATION | {"hanota", "bootstrap", "csp", "dsp"},
    "ssi": DOMAIN | FOUNDATION | {"hanota", "bootstrap", "csp", "dsp"},
    "cli": DOMAIN | FOUNDATION | {"hanota", "bootstrap", "csp", "dsp", "supplier"},
}

# The only ways one entry point may import another: (importer unit, imported unit) → (importer modules,
# imported modules).
DOORS: dict[tuple[str, str], tuple[set[str], set[str]]] = {
    # the API mounts the SSI's routes, in `create_app` and nowhere else
    ("api", "ssi"): ({"hanota.api.app"}, {"hanota.ssi"}),
    # `hanota serve` and `hanota demo` run the HTTP app: `create_app` is all they take of the API
    ("cli", "api"): ({"hanota.cli.serve", "hanota.cli.demo"}, {"hanota.api.app"}),
}


@dataclass(frozen=True)
class Known:
    """A deviation from the rules the code still has: imports from `importer` to `imported` (modules, or
    `*` for any module of a unit written `unit.*`), and why."""

    importer: str
    imported: str
    reason: str

    def matches(self, imp: Import) -> bool:
        return _match(self.importer, imp.importer) and _match(self.imported, imp.imported)


def _match(pattern: str, module: str) -> bool:
    if pattern.endswith(".*"):
        return module == pattern[:-2] or module.startswith(pattern[:-1])
    return module == pattern


KNOWN: tuple[Known, ...] = (
    Known(
        "hanota.alerts.endpoints",
        "hanota.anomaly.audit",
        "a User's alert endpoint change is written to the anomaly audit log (anomaly imports alerts for the "
        "outbox, so the two packages lean on each other; the modules do not circle)",
    ),
    Known(
        "hanota.cli.*",
        "hanota.ssi.*",
        "`hanota ssi …` and the demo use the SSI's credential store (auth), billing counts, CSV writer, "
        "ESI extract and report scopes, which are domain code living in the ssi package",
    ),
)

# The CSP side's tables. The DSP's tables the CSP side still reads, by unit, with the reason.
CSP_TABLE_PREFIX = "csp_"
KNOWN_CSP_READS: dict[str, str] = {}
KNOWN_CYCLES: dict[tuple[str, ...], str] = {}

_SQL_TABLE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+([a-z_][a-z0-9_]*)\b")


def csp_table_reads(root: Path, graph: Graph) -> dict[str, set[str]]:
    """The tables outside `csp_*` that modules of the CSP side name: in SQL text, or as ORM classes
    imported from `hanota.db.models`. Table → the modules naming it."""
    tables = {name: getattr(models, name).__tablename__ for name in dir(models)
              if hasattr(getattr(models, name), "__tablename__")}  # fmt: skip
    reads: dict[str, set[str]] = {}
    for imp in graph.imports:
        if unit(imp.importer) == "csp" and imp.imported == "hanota.db.models":
            for name in imp.names:
                if name in tables and not tables[name].startswith(CSP_TABLE_PREFIX):
                    reads.setdefault(tables[name], set()).add(imp.importer)
    for path in sorted((root / "csp").rglob("*.py")):
        module = "hanota.csp." + path.stem if path.stem != "__init__" else "hanota.csp"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for table in _SQL_TABLE.findall(node.value):
                    if not table.startswith(CSP_TABLE_PREFIX):
                        reads.setdefault(table, set()).add(module)
    return reads


def _show(imports: Iterable[Import]) -> list[str]:
    return [f"{i.importer} (line {i.line}) imports {i.imported}" for i in imports]


# --- the tests --------------------------------------------------------------------------------------------

GRAPH = scan(SRC)


def test_every_unit_of_the_source_has_a_rule() -> None:
    """A new package or top-level module must say what it may import before it can import anything."""
    units = {unit(m) for m in GRAPH.modules}
    assert units - set(MAY_IMPORT) == set()
    assert set(MAY_IMPORT) - units == set(), "a rule for a package that no longer exists"


def test_no_import_cycles_between_modules() -> None:
    """No module imports, through any chain and wherever the import stands, a module that imports it."""
    assert [c for c in cycles(GRAPH) if c not in KNOWN_CYCLES] == []
    assert [c for c in KNOWN_CYCLES if c not in cycles(GRAPH)] == [], "a known cycle is gone: drop it"


def test_each_package_imports_only_what_its_layer_allows() -> None:
    """The foundation, the wire format and the network model import nothing above them; the CSP side never
    the DSP; nothing below the entry points imports them or the composition root; the entry points never
    each other except through their doors (the API mounts the SSI; the CLI runs the API's app)."""
    bad = [i for i in layer_violations(GRAPH, MAY_IMPORT, DOORS) if not any(k.matches(i) for k in KNOWN)]
    assert _show(bad) == []


def test_every_known_deviation_still_exists() -> None:
    """Each entry of KNOWN still matches an import the rules forbid (else it is stale: remove it)."""
    bad = layer_violations(GRAPH, MAY_IMPORT, DOORS)
    assert [k.importer + " → " + k.imported for k in KNOWN if not any(k.matches(i) for i in bad)] == []


def test_nothing_imports_the_entry_points_but_an_entry_point() -> None:
    """In particular nothing in the product imports `cli`, and only `api` imports `ssi` (besides the CLI's
    known use of the SSI's domain code)."""
    for imp in GRAPH.imports:
        src, dst = unit(imp.importer), unit(imp.imported)
        if src != dst and dst in ENTRY_POINTS | {"bootstrap"}:
            assert src in ENTRY_POINTS, _show([imp])
        if src != dst and dst == "cli":
            raise AssertionError(_show([imp]))


def test_the_product_never_imports_the_supplier_side() -> None:
    """The supplier side plays the other end of the wire: only the CLI, which runs it, imports it; any other
    package importing it (the DSP, the alerts package it once lived in, the API) is reported."""
    importers = {unit(i.importer) for i in GRAPH.imports if unit(i.imported) == "supplier"} - {"supplier"}
    assert importers == {"cli"}
    extra = tuple(
        Import(f"hanota.{u}.x", "hanota.supplier.receiver", 1, ("Receiver",))
        for u in sorted(MAY_IMPORT)
        if u not in {"cli", "supplier"}
    )
    graph = Graph(GRAPH.modules, extra)
    assert layer_violations(graph, MAY_IMPORT, DOORS) == list(extra)


def test_the_csp_side_touches_only_its_own_tables() -> None:
    """The CSP side names no DSP table (by ORM class or in SQL) but the known ones, and those it still does."""
    reads = csp_table_reads(SRC, GRAPH)
    assert {t: sorted(m) for t, m in reads.items() if t not in KNOWN_CSP_READS} == {}
    assert set(KNOWN_CSP_READS) - set(reads) == set(), "a known CSP read of a DSP table is gone: drop it"


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_checker_reports_a_cycle_and_a_forbidden_import(tmp_path: Path) -> None:
    """Rules broken on purpose in a package of their own: a circle hidden in a function-level import, and a
    lower layer importing an entry point, are both reported; the allowed imports are not."""
    root = tmp_path / "pkg"
    _write(
        root,
        {
            "__init__.py": "",
            "low/__init__.py": "",
            "low/a.py": "from pkg.low import b\n",
            "low/b.py": "def f():\n    from pkg.low.a import g\n    return g\n",
            "low/c.py": "from ..top import run\n",  # relative, and forbidden: low may not import top
            "top/__init__.py": "from pkg.top.main import run\n",
            "top/main.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.low.a import g\n"
            "def run(): ...\n",
        },
    )
    graph = scan(root)
    assert cycles(graph) == [("pkg.low.a", "pkg.low.b")]
    bad = layer_violations(graph, {"low": set(), "top": {"low"}}, {})
    assert [(i.importer, i.imported, i.line) for i in bad] == [("pkg.low.c", "pkg.top", 1)]
    # a door lets its own modules through, and only them
    rules = {"low": set[str](), "top": {"low"}}
    assert layer_violations(graph, rules, {("low", "top"): ({"pkg.low.c"}, {"pkg.top"})}) == []
    assert layer_violations(graph, rules, {("low", "top"): ({"pkg.low.a"}, {"pkg.top"})}) == bad


def test_the_checker_reports_a_csp_read_of_a_dsp_table(tmp_path: Path) -> None:
    """A module of the CSP side that selects from a DSP table, or imports its ORM class, is reported."""
    root = tmp_path / "hanota"
    _write(
        root,
        {
            "__init__.py": "",
            "csp/__init__.py": "",
            "csp/x.py": 'Q = "SELECT s.id FROM service_requests s JOIN csp_targets t ON t.x = s.x"\n',
            "csp/y.py": "from hanota.db.models import CSPTarget, User\n",
            "db/__init__.py": "",
            "db/models.py": "",
        },
    )
    reads = csp_table_reads(root, scan(root))
    assert reads == {"service_requests": {"hanota.csp.x"}, "users": {"hanota.csp.y"}}


def test_a_new_violation_in_the_product_is_reported() -> None:
    """The known deviations excuse only themselves: the CSP side importing the DSP, the wire format importing
    the store, and a new circle between two foundation modules are each reported over the real graph."""
    extra = (
        Import("hanota.csp.runner", "hanota.dsp.router", 1, ()),
        Import("hanota.duis.codes", "hanota.db.models", 1, ("User",)),
        Import("hanota.clock", "hanota.retry", 1, ()),
    )
    graph = Graph(GRAPH.modules, GRAPH.imports + extra)
    bad = [i for i in layer_violations(graph, MAY_IMPORT, DOORS) if not any(k.matches(i) for k in KNOWN)]
    assert bad == list(extra)
    assert [c for c in cycles(graph) if c not in KNOWN_CYCLES] == [("hanota.clock", "hanota.retry")]
