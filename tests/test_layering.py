"""The package's import graph: data flows one way, floor by floor (model <- export's helpers <- runtimes <- formats
<- the export pipeline <- reports <- measurements <- command lines), and no module imports itself back through
others. Read from the source with ``ast`` (imports inside functions count too: a deferred import is still a
dependency). docs/development.md draws the same floors."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"model": "shufflenet.model", "export": "shufflenet.export", "benchmarks": "shufflenet.benchmarks"}
# A module may import from its own floor or a lower one, never from a higher one. A module's floor is that of the
# longest prefix listed here; every module must match one, so a new folder or module is placed on purpose.
FLOORS = {
    "shufflenet.model": 0,
    "shufflenet.export.arguments": 1,
    "shufflenet.export.budget": 1,
    "shufflenet.export.calibration": 1,
    "shufflenet.export.manifest": 1,
    "shufflenet.export.metrics": 1,
    "shufflenet.export.context": 2,
    "shufflenet.export.output_dir": 2,
    "shufflenet.export.runtimes": 2,
    "shufflenet.export.formats": 3,
    "shufflenet.export.parity": 4,
    "shufflenet.export.pipeline": 5,
    "shufflenet.export.cli": 6,
    "shufflenet.export": 6,  # the package's own __init__
    "shufflenet.benchmarks.reports": 7,
    "shufflenet.benchmarks.accuracy": 8,
    "shufflenet.benchmarks.parity": 8,
    "shufflenet.benchmarks.phone_latency": 8,
    "shufflenet.benchmarks.host_latency": 9,  # Table 8 times the same files on a phone too
    "shufflenet.benchmarks.training_data": 9,  # measures this host as host_latency does (its machine description)
    "shufflenet.benchmarks.cli_bench": 10,
    "shufflenet.benchmarks.cli_eval": 10,
    "shufflenet.benchmarks.cli_parity": 10,
    "shufflenet.benchmarks": 10,
}


def _modules() -> dict[str, Path]:
    found = {}
    for folder, pkg in PACKAGES.items():
        for f in sorted((ROOT / folder).rglob("*.py")):
            parts = f.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((pkg, *parts))
            found[name.removesuffix(".__init__")] = f
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules that ``name`` imports (``from . import x`` resolves to the module ``x``)."""
    package = name if path.stem == "__init__" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            subs = {f"{base}.{a.name}" for a in node.names}
            out.update(subs)
            if not subs & known:  # ``from pkg import module`` depends on the module, not on the package's __init__
                out.add(base)
    return {m for m in out if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def floor(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        if ".".join(parts[:n]) in FLOORS:
            return FLOORS[".".join(parts[:n])]
    raise KeyError(f"{module} is on no floor: add its folder or module to FLOORS in tests/test_layering.py")


def test_the_graph_is_read() -> None:
    g = import_graph()
    assert len(g) > 60
    assert "shufflenet.model.registry" in g["shufflenet.model.pretrained"]
    assert "shufflenet.export.manifest" in g["shufflenet.benchmarks.accuracy.evaluate"]
    assert "shufflenet.export.runtimes.base" in g["shufflenet.export.runtimes.litert_arm64"]


def test_every_module_is_on_a_floor() -> None:
    unplaced = []
    for m in import_graph():
        try:
            floor(m)
        except KeyError:
            unplaced.append(m)
    assert not unplaced, f"modules on no floor (add them to FLOORS): {', '.join(unplaced)}"


def test_every_folder_is_a_listed_package() -> None:
    """A sub-package missing from pyproject.toml's ``packages`` works in the editable install and is left out of a
    normal one."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {
        ".".join((pkg, *init.parent.relative_to(ROOT / folder).parts))
        for folder, pkg in PACKAGES.items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert folders == listed
    no_init = [d for folder in PACKAGES for d in (ROOT / folder).rglob("*") if d.is_dir() and any(d.glob("*.py"))
               and not (d / "__init__.py").is_file()]  # fmt: skip
    assert not no_init, f"folders of modules without __init__.py: {no_init}"


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_data_flows_one_way() -> None:
    back = [f"{a} imports {b}" for a, deps in import_graph().items() for b in deps if floor(b) > floor(a)]
    assert not back, "; ".join(back)


def test_the_floor_check_catches_an_import_from_above() -> None:
    assert floor("shufflenet.export.runtimes.litert") < floor("shufflenet.export.formats.tflite_export")
    assert floor("shufflenet.benchmarks.reports.results") < floor("shufflenet.benchmarks.phone_latency.android")
    with pytest.raises(KeyError):
        floor("shufflenet.nowhere.module")


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_cycle_finder(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected
