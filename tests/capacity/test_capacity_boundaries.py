"""Package boundaries: the network model is pure, the planner builds only on it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hanota

SRC = Path(hanota.__file__).parent


def _imports(package: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in sorted((SRC / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module == "hanota":  # from hanota import lifecycle
                names.update(f"hanota.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        out[path.name] = names
    return out


@pytest.mark.parametrize(
    ("package", "allowed"),
    [
        ("network", ("hanota.network", "hanota.clock", "hanota.errors", "hanota.lifecycle")),
        (
            "capacity",
            ("hanota.capacity", "hanota.network", "hanota.clock", "hanota.errors", "hanota.lifecycle"),
        ),
    ],
)
def test_hanota_imports_stay_inside_the_allowed_packages(package: str, allowed: tuple[str, ...]) -> None:
    """The network model imports only itself, the clock, the errors and the lifecycle vocabulary; the planner
    only those and the network model."""
    bad = {
        (file, name)
        for file, names in _imports(package).items()
        for name in names
        if name.split(".")[0] == "hanota" and not any(name == a or name.startswith(a + ".") for a in allowed)
    }
    assert bad == set()


def test_the_network_model_uses_no_database_http_or_wall_clock() -> None:
    """No network module imports a database, HTTP, socket, time or random library, or reads a wall clock."""
    forbidden = {"sqlalchemy", "httpx", "fastapi", "starlette", "requests", "socket", "time", "random"}
    for file, names in _imports("network").items():
        assert not {n.split(".")[0] for n in names} & forbidden, file
    for path in (SRC / "network").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert ".now(" not in text.replace("clock.now(", ""), path.name
        assert "monotonic" not in text, path.name


def test_the_planner_never_imports_pyplot() -> None:
    """No capacity module imports matplotlib.pyplot: plots use their own Agg canvas, no global backend."""
    for file, names in _imports("capacity").items():
        assert "matplotlib.pyplot" not in names, file
