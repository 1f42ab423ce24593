"""The package's shape: data flows one way through declared layers, with no import circle.

DESIGN §1 gives the flow (meters -> sampler -> attribution -> footprint -> carbon -> store ->
reports) and §4 the tree; docs/design.md ("Layers") states the order below, and this test
holds the code to it. Every import counts, at module level or inside a function (a lazy
import is still a dependency, only a cheaper one), and so does a type-only one under
``TYPE_CHECKING`` (naming a type of a higher layer is knowing about it). A module may import
its own layer or lower ones; within a layer, no circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import impactlib

PACKAGE = Path(impactlib.__file__).parent

# Lowest first. A name stands for that module and, for a package, every module under it,
# unless a longer name is listed itself (the longest listed name decides).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundations",
        (
            "errors",
            "units",
            "_time",
            "_files",
            "log",
            "data",
            "masking",
            "notices",
            "_lifecycle",
            # Describes a model object and imports nothing of impactlib but errors;
            # Tracker.log_model delegates to it.
            "planning.modelmetrics",
        ),
    ),
    ("configuration", ("config",)),
    ("record vocabulary", ("footprint", "uncertainty")),
    ("the system", ("procfs", "identity", "containers")),
    ("meters", ("meters",)),
    ("sampler", ("sampling",)),
    ("attribution", ("attribution",)),
    ("carbon", ("carbon",)),
    ("embodied", ("embodied",)),
    ("a run's figures", ("attribution.summary",)),
    ("store", ("store",)),
    ("lifecycle", ("tracker",)),
    ("planning", ("planning",)),
    ("slurm", ("slurm",)),
    ("python face", ("api", "integrations")),
    ("reports", ("report",)),
    ("server", ("server",)),
    ("command line", ("cli", "")),  # "": the package itself, which exports the faces
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(name: str, path: Path) -> Iterator[str]:
    """Every impactlib module ``name`` imports, wherever the import statement stands."""
    modules = _modules()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
                if not (target == "impactlib" or target.startswith("impactlib.")):
                    continue
                target = target.removeprefix("impactlib").removeprefix(".")
            targets = [f"{target}.{a.name}".lstrip(".") for a in node.names]
            targets = [t if t in modules else target for t in targets]
        else:
            continue
        for target in targets:
            target = target.removeprefix("impactlib").removeprefix(".")
            if target in modules and target != name:
                yield target


@cache
def _graph() -> dict[str, frozenset[str]]:
    return {name: frozenset(_imported(name, path)) for name, path in _modules().items()}


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the listed name, its layer)
    for index, (_, names) in enumerate(LAYERS):
        for listed in names:
            covers = module == listed or (listed != "" and module.startswith(listed + "."))
            if covers and (best is None or len(listed) > best[0]):
                best = (len(listed), index)
    return None if best is None else best[1]


def test_every_module_has_a_layer() -> None:
    assert [m for m in _modules() if _layer(m) is None] == []


def test_no_module_imports_a_higher_layer() -> None:
    upward = []
    for module, imports in sorted(_graph().items()):
        own = _layer(module)
        for target in sorted(imports):
            theirs = _layer(target)
            if own is not None and theirs is not None and theirs > own:
                upward.append(f"{module} ({LAYERS[own][0]}) imports {target} ({LAYERS[theirs][0]})")
    assert upward == []


def test_no_import_circle() -> None:
    graph = _graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert [" -> ".join(c) for c in circles] == []


def test_the_tracker_is_the_lifecycle_only() -> None:
    lines = (PACKAGE / "tracker.py").read_text(encoding="utf-8").count("\n")
    assert lines <= 300, f"tracker.py has {lines} lines"


def test_the_test_reads_imports_as_python_does() -> None:
    """The parser behind the other tests: relative, absolute, lazy and type-only imports."""
    graph = _graph()
    assert "meters.tdp" in graph["meters.model"]  # from . import tdp
    assert "config" in graph["meters.settings"]  # under TYPE_CHECKING
    assert "slurm.scope" in graph["api"]  # from .slurm.scope import place
    assert "meters.rapl" in graph["meters"]  # inside a function
    assert "tracker" in graph[""]  # the package's own (type-only) imports
