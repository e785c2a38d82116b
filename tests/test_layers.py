"""The page scripts in dashboard/pages/ import only from `dashboard` (and third-party libraries).

They are not a package, so the import-linter layers contract in pyproject.toml cannot see them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "dashboard" / "pages").glob("*.py"))
PROJECT = {"dashboard", "etl", "schema", "ipsdash", "tests", "bench"}


def project_imports(source: str) -> list[str]:
    """Every imported module name of the project's own packages (relative imports as '.x')."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.split(".")[0] in PROJECT]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.append("." * node.level + (node.module or ""))
            elif node.module and node.module.split(".")[0] in PROJECT:
                names.append(node.module)
    return names


def test_pages_exist():
    assert len(PAGES) >= 5


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_imports_only_dashboard(page: Path):
    wrong = [n for n in project_imports(page.read_text(encoding="utf-8")) if n.split(".")[0] != "dashboard"]
    assert wrong == [], f"{page.name} imports {wrong}; pages import only from dashboard"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from schema import vocab", ["schema"]),
        ("import etl.validate as v", ["etl.validate"]),
        ("from dashboard import ui\nimport pandas", ["dashboard"]),
        ("def f():\n    from etl.paths import store_path", ["etl.paths"]),
        ("from . import x", ["."]),
    ],
)
def test_project_imports_finds_every_kind(source, expected):
    assert project_imports(source) == expected
