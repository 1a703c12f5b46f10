"""The package layout and its import rules (written in the README's layout section), enforced on the source."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "planner"
MODULES = sorted(p for p in PKG.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every planner module a file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in out if m == "planner" or m.startswith("planner.")}


GRAPH = {module_name(p): imports_of(p) for p in MODULES}
MIP = ("candidates", "formulation", "constraints", "model", "backends", "solve", "extract", "diagnose", "checks",
       "pipeline")

# (importer prefix, forbidden prefixes, why)
RULES = [
    ("planner.catalog", ("planner.perf", "planner.optimize", "planner.predict", "planner.report", "planner.cli",
                         "planner.economics", "planner.plan"), "the catalog stage reads files and nothing else"),
    ("planner.perf", ("planner.optimize", "planner.predict", "planner.report", "planner.cli", "planner.economics"),
     "the performance model knows no optimizer, money or rendering"),
    ("planner.economics", ("planner.",), "money is pure arithmetic"),
    ("planner.optimize.verify*", tuple(f"planner.optimize.{m}" for m in MIP),
     "the independent verifier (verify.py and its families, verify_*.py) shares no code with the candidates or "
     "the MIP it checks"),
    ("planner.predict", ("planner.optimize", "planner.report", "planner.cli"), "queries do not solve or draw"),
    ("planner.report", ("planner.optimize", "planner.predict", "planner.cli"),
     "renderers never compute or solve"),
    ("planner.plan", ("planner.optimize", "planner.report", "planner.cli", "planner.perf"),
     "the plan is a plain typed record"),
]


def _within(mod: str, prefix: str) -> bool:
    """`mod` is the package or module `prefix` or inside it; `prefix*`: any module whose name starts so."""
    if prefix.endswith("*"):
        return mod.startswith(prefix[:-1])
    return mod == prefix or mod.startswith(prefix + ".")


def _violations(prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for mod, deps in GRAPH.items():
        if _within(mod, prefix):
            bad += [f"{mod} imports {d}" for d in sorted(deps) if any(d == f or d.startswith(f) for f in forbidden)
                    and not _within(d, prefix)]
    return bad


@pytest.mark.parametrize("prefix, forbidden, why", RULES, ids=[r[0] for r in RULES])
def test_import_rule(prefix, forbidden, why):
    assert _violations(prefix, forbidden) == [], why


def test_nothing_imports_the_cli():
    bad = [f"{m} imports {d}" for m, deps in GRAPH.items() if not m.startswith("planner.cli")
           for d in deps if d.startswith("planner.cli")]
    assert bad == []


def test_the_rules_catch_a_violation(tmp_path):
    # the checker itself: a module that imports the MIP from verify is caught
    fake = tmp_path / "v.py"
    fake.write_text("def f():\n    from planner.optimize.candidates import build_candidates\n")
    assert "planner.optimize.candidates" in imports_of(fake)
    for name in ("planner.optimize.verify.fake", "planner.optimize.verify_fake"):  # a family module too
        GRAPH[name] = imports_of(fake)
        try:
            assert _violations(*RULES[3][:2]) == [f"{name} imports planner.optimize.candidates",
                                                  f"{name} imports planner.optimize.candidates.build_candidates"]
        finally:
            del GRAPH[name]


def test_readme_layout_lists_every_package_and_module():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    listed = {m.rstrip(".") for m in re.findall(r"(planner/[\w/.]*)", block)}
    missing = []
    for p in MODULES:
        rel = p.relative_to(ROOT).as_posix()
        if p.name == "__init__.py":
            rel = rel[: -len("__init__.py")]
        if rel not in listed:
            missing.append(rel)
    assert missing == [], "add a line per package and module to the README's layout section"


def test_catalog_kind_names_match_the_schemas():
    from planner.catalog.kinds import KIND_NAMES
    from planner.catalog.schemas import KINDS

    assert tuple(KINDS) == KIND_NAMES
