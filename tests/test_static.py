# SPDX-License-Identifier: GPL-3.0-or-later
"""Lint (ruff, whole tree) and types (mypy, bpy side with fake-bpy-module stubs)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_clean_on_the_bpy_side() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_mypy.py"), "--no-incremental"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_mypy_uses_stubs_for_the_blender_version_we_test() -> None:
    import importlib.metadata as md

    bpy_version = md.version("bpy")  # e.g. 5.0.1
    major_minor = "-".join(bpy_version.split(".")[:2])
    stubs = f"fake-bpy-module-{major_minor}"
    reqs = (ROOT / "tools" / "requirements.txt").read_text()
    assert stubs in reqs, f"{stubs} should be in tools/requirements.txt to match bpy {bpy_version}"
    md.version(stubs)  # installed


def test_manifest_validates_with_blenders_own_tool() -> None:
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    assert spec and spec.origin
    script = next(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    proc = subprocess.run(
        [sys.executable, str(script), "validate", str(ROOT)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_manifest_facts() -> None:
    m = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert m["schema_version"] == "1.0.0"
    assert m["id"] == "face_from_photo" and m["name"] == "Face from Photo" and m["type"] == "add-on"
    assert m["license"] == ["SPDX:GPL-3.0-or-later"]
    assert m["blender_version_min"] == "4.2.0"
    # The wheels are CPython 3.11 builds; Blender 5.1 moved to Python 3.13.
    assert tuple(int(x) for x in m["blender_version_max"].split(".")) <= (5, 1, 0)
    assert isinstance(m["permissions"], dict) and "files" in m["permissions"]
    excluded = " ".join(m["build"]["paths_exclude_pattern"])
    for folder in ("training", "tests", "benchmarks", ".ci", "__pycache__"):
        assert folder in excluded
    wheels = [Path(w).name.lower() for w in m["wheels"]]
    pins = [
        line.split("==")[0].strip().lower().replace("-", "_")
        for line in (ROOT / "tools" / "wheels.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for pin in pins:
        assert any(w.startswith(pin + "-") for w in wheels), f"no wheel for {pin} in the manifest"
    assert not any(w.startswith("numpy") for w in wheels), "Blender ships numpy"
    assert not (ROOT / "wheels").exists() or not _tracked("wheels"), "wheels/ must never be committed"


def _tracked(path: str) -> bool:
    proc = subprocess.run(["git", "ls-files", path], cwd=ROOT, capture_output=True, text=True)
    return bool(proc.stdout.strip())


# ---------------------------------------------------------------------------------------------------------
# No import cycles: the project's import graph, built with ast (imports inside functions count too).

# The extension's own packages and top-level modules, and the headless training package.
GRAPH_PACKAGES = ("core", "training", "operators", "panels", "blender")
GRAPH_TOP_MODULES = ("__init__.py", "api.py", "cli.py", "preferences.py")
ROOT_PACKAGE = "<extension>"  # the module name given to the extension root's __init__.py


def _module_name(path: Path, root: Path) -> str:
    """Dotted name of ``path`` under ``root`` (``core/predict.py`` -> ``core.predict``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) if parts else ROOT_PACKAGE


def _is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree`` at any depth, except under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            if not _is_type_checking_block(child):
                stack.append(child)
    return found


def import_graph(root: Path, packages: tuple[str, ...] = GRAPH_PACKAGES,
                 top_modules: tuple[str, ...] = GRAPH_TOP_MODULES) -> dict[str, set[str]]:
    """Map each project module to the project modules it imports.

    Relative imports resolve against the importing module's package; absolute ones count when their
    first name is one of ``packages`` or a top-level module. ``from P import n`` points at ``P.n`` when
    that is a module, else at ``P`` itself. Importing ``a.b`` is not counted as importing the package
    ``a`` (Python runs ``a/__init__.py`` first, but a package that imports its own submodules is the
    ordinary layout, not a cycle).
    """
    files = [root / name for name in top_modules if (root / name).exists()]
    for package in packages:
        files += sorted((root / package).rglob("*.py"))
    modules = {_module_name(f, root): f for f in files}
    top_names = set(packages) | {Path(m).stem for m in top_modules if m != "__init__.py"}

    def known(name: str) -> str | None:
        return name if name in modules else None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        if name == ROOT_PACKAGE:
            package = ""
        edges: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in top_names:
                        target = known(alias.name)
                        if target:
                            edges.add(target)
                continue
            if node.level:
                base_parts = package.split(".") if package else []
                if node.level - 1 > len(base_parts):
                    continue
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                if not node.module or node.module.split(".")[0] not in top_names:
                    continue
                base = node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                target = known(sub) or known(base or ROOT_PACKAGE)
                if target:
                    edges.add(target)
        edges.discard(name)
        graph[name] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, …, a]``) per strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
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
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)

    cycles = []
    for component in components:
        members = set(component)
        start = min(component)
        # Breadth-first search inside the component for the shortest way back to ``start``.
        previous: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in previous:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & members):
                    if w not in previous:
                        previous[w] = v
                        nxt.append(w)
            frontier = nxt
        path = [start]
        v = previous[start]
        while v != start:
            path.append(v)
            v = previous[v]
        path.append(start)
        cycles.append(path[::-1])
    return cycles


def test_the_project_has_no_import_cycles() -> None:
    graph = import_graph(ROOT)
    assert {"core.predict", "training.calibrate", "training.synth.generator", "operators.reconstruct",
            ROOT_PACKAGE, "cli"} <= set(graph)
    cycles = import_cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle_through_an_import_inside_a_function(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "a.py").write_text("from .b import f\n")
    (tmp_path / "core" / "b.py").write_text("def f():\n    from . import c\n")
    (tmp_path / "core" / "c.py").write_text("import core.a\n")
    (tmp_path / "core" / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n")
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "t.py").write_text("from core.a import f\nfrom core import d\n")
    (tmp_path / "api.py").write_text("from .core import a\n")
    (tmp_path / "__init__.py").write_text("from . import api\n")
    graph = import_graph(tmp_path)
    assert graph["core.b"] == {"core.c"} and graph["core.c"] == {"core.a"}
    assert graph["core.d"] == set()  # TYPE_CHECKING imports do not run
    assert graph["training.t"] == {"core.a", "core.d"}
    assert graph["api"] == {"core.a"} and graph[ROOT_PACKAGE] == {"api"}
    assert import_cycles(graph) == [["core.a", "core.b", "core.c", "core.a"]]
    (tmp_path / "core" / "c.py").write_text("import numpy\n")
    assert import_cycles(import_graph(tmp_path)) == []
