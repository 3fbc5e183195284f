"""The package layering of DESIGN.md §3: a package imports only packages above it, never one below.

Parsed from the source (no import side effects), so a domain that reaches into the web layer — as every
domain once did for its request session — fails here with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "gridgov"

# Top to bottom; packages on one line of DESIGN.md's table share a rank.
LAYERS: list[set[str]] = [
    {"core"},
    {"areas"},
    {"accounts", "audit"},
    {"notify"},
    {"address"},
    {"tasks"},
    {"registry"},
    {"ingest"},
    {"events"},
    {"fieldwork"},
    {"rules", "assess", "lists"},
    {"web", "cli"},
    {"demo"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# Named exceptions, each with its reason: the areas routers take the caller from accounts (which itself
# builds on areas); the command line's `demo` commands run the demo package.
ALLOWED = {
    ("areas/api.py", "accounts"),
    ("areas/pages.py", "accounts"),
    ("cli/main.py", "demo"),
}


def _imported_packages(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "gridgov" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def layer_violations() -> list[str]:
    violations = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if len(relative.parts) < 2:
            continue  # gridgov/__init__.py, gridgov/models.py gather every package on purpose
        own = relative.parts[0]
        if own not in RANK:
            continue
        for line, target in _imported_packages(path):
            if (str(relative), target) in ALLOWED:
                continue
            if target in RANK and RANK[target] > RANK[own]:
                violations.append(f"{relative}:{line} ({own}) imports gridgov.{target}, a package below it")
    return violations


def test_every_package_is_in_the_layer_table() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - set(RANK) == set()


def test_no_package_imports_one_below_it() -> None:
    assert layer_violations() == []


def test_the_check_sees_a_domain_importing_the_web_layer(tmp_path: Path) -> None:
    planted = tmp_path / "service.py"
    planted.write_text("from gridgov.web.app import create_app\nimport gridgov.cli.main\n", encoding="utf-8")
    assert _imported_packages(planted) == [(1, "web"), (2, "cli")]
    assert RANK["web"] > RANK["events"]
