"""The package map holds: the science never imports dagster, imports point down the layers, there is no cycle.

The layers, bottom first (a module may import its own package and the ones below it):

    core → store → sources → features, models → training → backtest → evaluation → report → runtime → defs → cli

``fin_pipeline.definitions`` (the code location) sits with ``defs``. A notebook can use every package from
``core`` to ``report`` without Dagster installed.
"""

import ast
import subprocess
import sys
from pathlib import Path

import fin_pipeline

PACKAGE = Path(fin_pipeline.__file__).parent
LAYERS = [
    ("core",),
    ("store",),
    ("sources",),
    ("features", "models"),
    ("training",),
    ("backtest",),
    ("evaluation",),
    ("report",),
    ("runtime",),
    ("defs", "definitions"),
    ("cli",),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
SCIENCE = ["core", "store", "sources", "features", "models", "training", "backtest", "evaluation", "report"]


def _imports() -> dict[str, set[str]]:
    """Every module of the package (dotted name) and the ``fin_pipeline`` modules it imports, read from its source."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found: set[str] = set()
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {  # imports under `if TYPE_CHECKING:` are annotations, not a dependency at run time
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fin_pipeline"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("fin_pipeline"))
        graph[name] = found
    return {name: {m for m in found if m in graph and m != name} for name, found in graph.items()}


def test_every_module_is_in_a_package_of_the_map():
    top = sorted(p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir())
    top = [name for name in top if name not in ("__init__", "__pycache__")]
    assert [name for name in top if name not in RANK] == []


def test_imports_point_down_the_layers():
    up = []
    for module, imported in _imports().items():
        here = module.split(".")[1] if "." in module else None
        for target in imported:
            there = target.split(".")[1] if "." in target else None
            if here in RANK and there in RANK and RANK[there] > RANK[here]:
                up.append(f"{module} -> {target}")
    assert up == []


def test_core_imports_nothing_of_ours():
    inward = [
        f"{module} -> {target}"
        for module, imported in _imports().items()
        if module.startswith("fin_pipeline.core")
        for target in imported
        if not target.startswith("fin_pipeline.core")
    ]
    assert inward == []


def test_there_is_no_import_cycle():
    graph = _imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    # a package's __init__ importing its own modules is how a package exports names, not a cycle of rules
    real = [c for c in cycles if not all(m.startswith(c[0]) or c[0].startswith(m) for m in c)]
    assert real == []


def test_the_science_does_not_import_dagster():
    code = (
        "import sys, importlib, pkgutil, fin_pipeline\n"
        f"for name in {SCIENCE!r}:\n"
        "    module = importlib.import_module(f'fin_pipeline.{name}')\n"
        "    for info in pkgutil.walk_packages(getattr(module, '__path__', []), module.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print(sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
