"""No deferred import exists only to dodge a cycle (issue 7): a planner import inside a function is allowed for
speed (`planner --help`, heavy libraries) but its target must not import, at module level and transitively, the
module that defers it; that would be a cycle the function-level import hides."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in (ROOT / "planner").rglob("*.py")}


def _module_of(name: str) -> str | None:
    """The planner module a dotted import name refers to (`planner.optimize.CandidateCache` -> the package)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.AST) -> set[str]:
    """Modules an import statement loads, parent packages included (importing a.b.c runs a and a.b first)."""
    if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("planner"):
        names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    elif isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name.startswith("planner")]
    else:
        return set()
    out = set()
    for mod in filter(None, map(_module_of, names)):
        parts = mod.split(".")
        out.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))
    return out & set(MODULES)


def graph(sources: dict[str, str]) -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """(module-level imports per module, deferred imports as (module, line, target))."""
    top: dict[str, set[str]] = {}
    deferred: list[tuple[str, int, str]] = []
    for mod, text in sources.items():
        tree = ast.parse(text)
        inside = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                  for n in ast.walk(f)}
        top[mod] = set()
        for node in ast.walk(tree):
            for t in _targets(node) - {mod}:
                if id(node) in inside:
                    deferred.append((mod, node.lineno, t))
                else:
                    top[mod].add(t)
    return top, deferred


def cycle_dodges(sources: dict[str, str]) -> list[str]:
    top, deferred = graph(sources)
    bad = []
    for mod, line, target in deferred:
        # the importer's own packages are already loading when it runs: reaching them is no cycle
        parents = {mod.rsplit(".", i)[0] for i in range(1, mod.count("."))}
        if target in parents:
            continue
        seen, stack = {target}, [target]
        while stack:
            for nxt in top.get(stack.pop(), ()):
                if nxt not in seen and nxt not in parents:
                    seen.add(nxt)
                    stack.append(nxt)
        if mod in seen:
            bad.append(f"{mod}:{line} defers {target}, which imports {mod} back")
    return bad


def test_no_deferred_import_dodges_a_cycle():
    sources = {m: p.read_text(encoding="utf-8") for m, p in MODULES.items()}
    assert cycle_dodges(sources) == []


def test_the_check_catches_a_dodged_cycle():
    sources = {
        "planner.optimize.solve": "def f():\n    from planner.optimize.solve_hourly import g\n",
        "planner.optimize.solve_hourly": "from planner.optimize.solve import Solution\n",
        "planner.optimize.fast": "def f():\n    import planner.optimize.solve_hourly\n",  # deferred for speed only
    }
    saved = dict(MODULES)
    MODULES.update({m: ROOT for m in sources})
    try:
        assert cycle_dodges(sources) == [
            "planner.optimize.solve:2 defers planner.optimize.solve_hourly, which imports planner.optimize.solve "
            "back"]
    finally:
        MODULES.clear()
        MODULES.update(saved)
