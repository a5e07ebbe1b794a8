"""The one direction of flow: every import in ``src/geovpr`` points down the layer order, and no cycles.

Imports are read with ``ast`` (those inside functions included), so the check
needs no import of the package.  A unit is a sub-package of ``geovpr`` or a
module directly under it; a unit may import from its own package and from
units of *lower* layers only (units in one layer do not import each other).
``docs/architecture.md`` draws this order.
"""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "geovpr"

#: the allowed layer order, lowest first, written once
LAYERS: list[set[str]] = [
    {"errors", "version"},
    {"provenance", "logging_setup", "registry", "atomic", "checks", "weights", "safe_yaml", "_optional", "recipes"},
    {"geo", "knn"},
    {"data"},
    {"mining", "models"},
    {"eval"},
    {"train", "index"},
    {"experiments"},
    {"demo"},
    {"commands"},
    {"cli", "__init__", "__main__"},
]

#: known violations (importer module, imported module), removed as the refactor of issue 9 fixes them;
#: an entry that no longer occurs fails the test, so the list can only shrink
KNOWN_UPWARD: set[tuple[str, str]] = set()

#: known import cycles (sets of modules), same rule
KNOWN_CYCLES: set[frozenset[str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts) if parts != ["__init__"] else "__init__"


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _resolve(target: str, names: list[str], modules: dict[str, Path]) -> list[str]:
    """Modules an import of ``names`` from ``target`` (dotted, relative to geovpr) binds."""
    out = []
    for name in names:
        sub = f"{target}.{name}" if target else name
        if sub in modules:
            out.append(sub)
        elif f"{sub}.__init__" in modules:
            out.append(f"{sub}.__init__")
        elif target in modules:
            out.append(target)
        else:
            out.append(f"{target}.__init__" if target else "__init__")
    return out


def import_edges() -> set[tuple[str, str]]:
    """(importer, imported) pairs between modules of ``src/geovpr``."""
    modules = _modules()
    edges = set()
    for name, path in modules.items():
        package = name.rsplit(".", 1)[0] if "." in name else ""
        if path.name == "__init__.py":
            package = name.rsplit(".__init__", 1)[0] if name != "__init__" else ""
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".") if package else []
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif node.module and (node.module == "geovpr" or node.module.startswith("geovpr.")):
                    target = node.module[len("geovpr") + 1:]
                else:
                    continue
                targets = _resolve(target, [a.name for a in node.names], modules)
            elif isinstance(node, ast.Import):
                targets = [n.name[len("geovpr") + 1:] or "__init__" for n in node.names
                           if n.name == "geovpr" or n.name.startswith("geovpr.")]
                targets = [t if t in modules else f"{t}.__init__" for t in targets]
            else:
                continue
            edges.update((name, t) for t in targets if t != name)
    return edges


def _unit(module: str) -> str:
    return module.split(".")[0]


def _layer(unit: str) -> int:
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"geovpr.{unit} is in no layer of LAYERS: add it where it belongs")


def upward_imports() -> set[tuple[str, str]]:
    """Imports from a unit into one of the same or a higher layer (other than its own package)."""
    bad = set()
    for a, b in import_edges():
        if _unit(a) != _unit(b) and _layer(_unit(b)) >= _layer(_unit(a)):
            bad.add((a, b))
    return bad


def cycles() -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in import_edges():
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.add(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_unit_has_a_layer():
    for module in _modules():
        _layer(_unit(module))


def test_imports_point_down_the_layers():
    bad = upward_imports()
    new = sorted(bad - KNOWN_UPWARD)
    assert not new, "imports against the layer order (tests/core/test_layering.py LAYERS):\n" + "\n".join(
        f"  geovpr.{a} -> geovpr.{b}" for a, b in new)
    stale = sorted(KNOWN_UPWARD - bad)
    assert not stale, f"fixed, remove from KNOWN_UPWARD: {stale}"


def test_no_import_cycles():
    found = cycles()
    new = [sorted(c) for c in found - KNOWN_CYCLES]
    assert not new, f"import cycles: {new}"
    stale = [sorted(c) for c in KNOWN_CYCLES - found]
    assert not stale, f"fixed, remove from KNOWN_CYCLES: {stale}"


def test_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """The checker itself: a lower unit importing a higher one (inside a function) is reported."""
    pkg = tmp_path / "geovpr"
    (pkg / "data").mkdir(parents=True)
    (pkg / "eval").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "eval" / "__init__.py").write_text("")
    (pkg / "eval" / "knn.py").write_text("from geovpr.data import table\n")
    (pkg / "data" / "table.py").write_text("def f():\n    from ..eval.knn import g\n")
    monkeypatch.setitem(globals(), "SRC", pkg)
    assert upward_imports() == {("data.table", "eval.knn")}
    assert cycles() == {frozenset({"data.table", "eval.knn"})}
