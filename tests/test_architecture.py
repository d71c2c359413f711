"""The package layout: public imports only, one-way layers, complete __all__, a light import.

Layers, lowest first: losses -> models -> data -> flow -> metrics -> sweep -> papers -> cli.
A module may import its own layer or a lower one; ``_validate`` and ``_plotting`` are base
utilities every layer may use. Papers may import the core and ``papers._registry``, never
another paper.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "gradflow"
LAYERS = ("losses", "models", "data", "flow", "metrics", "sweep", "papers", "cli")
BASE = {"_validate", "_plotting", "_version", "__init__"}

# Imports of private modules allowed outside the package (none).
ALLOWED_PRIVATE: set[str] = set()
# Known edges against the layer order: (importing module, imported module) (none).
ALLOWED_EDGES: frozenset[tuple[str, str]] = frozenset()


# ----------------------------------------------------------------------------- helpers
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").is_file()


def _is_module(name: str) -> bool:
    return (ROOT / Path(*name.split("."))).with_suffix(".py").is_file()


PUBLIC_MODULES = {"gradflow.losses", "gradflow.cli"}  # top-level modules that are public


def _imports(tree: ast.AST, name: str, is_pkg: bool):
    """Every gradflow module imported by a module (absolute names), inside functions too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield node.lineno, mod
            for a in node.names:  # `from . import sweep` names a submodule
                sub = f"{mod}.{a.name}"
                if _is_package(sub) or _is_module(sub):
                    yield node.lineno, sub


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "gradflow" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def _paper(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "papers" and not parts[2].startswith("_"):
        return parts[2]
    return None


# ----------------------------------------------------------------------------- 1. public imports
def _user_sources():
    for folder in ("tests", "benchmarks", "docs"):
        for p in sorted((ROOT / folder).rglob("*.py")) if (ROOT / folder).is_dir() else []:
            if p.name != Path(__file__).name:
                yield p, p.read_text()
    for p in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        if p.is_file():
            yield p, p.read_text()
    for p in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(p.read_text())["cells"]
        yield p, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


_IMPORT = re.compile(
    r"^\s*(?:from\s+(gradflow[\w.]*)\s+import|import\s+(gradflow[\w.]*))|"
    r"sys\.modules\[[\"'](gradflow[\w.]*)[\"']\]",
    re.M,
)


def _private_paths(text: str) -> list[str]:
    bad = []
    for m in _IMPORT.finditer(text):
        mod = next(g for g in m.groups() if g)
        private = any(p.startswith("_") for p in mod.split(".")) or not (
            _is_package(mod) or mod in PUBLIC_MODULES
        )
        if private and mod not in ALLOWED_PRIVATE:
            bad.append(mod)
    return bad


def test_users_import_public_paths_only():
    bad = [
        f"{path.relative_to(ROOT)}: {mod}"
        for path, text in _user_sources()
        for mod in _private_paths(text)
    ]
    assert not bad, "private gradflow import paths (import the package instead):\n" + "\n".join(
        bad
    )


def test_private_path_detector():
    assert _private_paths("from gradflow.models._patches import patches\n")
    assert _private_paths("from gradflow.metrics._rank import stable_rank\n")
    assert not _private_paths("from gradflow.models import patches\nimport gradflow.sweep as gs\n")
    assert not _private_paths("from gradflow.losses import empirical_loss\n")


# ----------------------------------------------------------------------------- 2. import graph
def _edges():
    for path in sorted(PKG.rglob("*.py")):
        name = _module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        for line, mod in _imports(tree, name, path.name == "__init__.py"):
            if mod.split(".")[0] == "gradflow" and mod != name:
                yield name, mod, f"{path.relative_to(ROOT)}:{line}"


def _violations(edges, allowed=ALLOWED_EDGES) -> list[str]:
    bad = []
    for src, dst, where in edges:
        if (src, dst) in allowed:
            continue
        ls, ld = _layer(src), _layer(dst)
        base_src, base_dst = src.split(".")[-1] in BASE, dst.split(".")[-1] in BASE
        if src == "gradflow":  # the public API: core layers only, never sweep/papers/cli
            if ld in ("sweep", "papers", "cli"):
                bad.append(f"{where}: gradflow/__init__ imports {dst}")
            continue
        if src == "gradflow.__main__":  # `python -m gradflow` runs the CLI
            if dst != "gradflow.cli":
                bad.append(f"{where}: gradflow/__main__ imports {dst}")
            continue
        if dst == "gradflow":
            if ls != "cli":
                bad.append(f"{where}: {src} imports the top-level gradflow package")
            continue
        if ls is None and not base_src:
            bad.append(f"{where}: {src} is in no layer")
            continue
        if ld is None:
            if not base_dst:
                bad.append(f"{where}: {src} imports {dst}, in no layer")
            continue
        if ls is None:  # a base utility (_validate, _plotting) importing a layer
            bad.append(f"{where}: base utility {src} imports {dst}")
            continue
        if LAYERS.index(ld) > LAYERS.index(ls):
            bad.append(f"{where}: {src} ({ls}) imports {dst} ({ld}), a higher layer")
        ps, pd = _paper(src), _paper(dst)
        if ps and pd and ps != pd:
            bad.append(f"{where}: paper {ps} imports paper {pd}")
    return bad


def test_imports_run_one_way():
    bad = _violations(list(_edges()))
    assert not bad, (
        "imports against losses -> models -> data -> flow -> metrics -> sweep -> papers -> cli:\n"
        + "\n".join(bad)
    )


def test_no_cycles_between_subpackages():
    graph: dict[str, set[str]] = {}
    for src, dst, _ in _edges():
        a, b = _layer(src), _layer(dst)
        if a and b and a != b and (src, dst) not in ALLOWED_EDGES:
            graph.setdefault(a, set()).add(b)
    done: set[str] = set()
    stack: list[str] = []

    def visit(n):
        if n in stack:
            raise AssertionError(f"import cycle: {' -> '.join([*stack[stack.index(n):], n])}")
        if n in done:
            return
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            visit(m)
        stack.pop()
        done.add(n)

    for n in sorted(graph):
        visit(n)


# ----------------------------------------------------------------------------- 3. __all__
PENDING_ALL: set[str] = set()


def test_every_package_defines_a_resolving_all():
    missing = []
    for init in sorted(PKG.rglob("__init__.py")):
        name = _module_name(init)
        if name in PENDING_ALL:
            continue
        mod = importlib.import_module(name)
        names = getattr(mod, "__all__", None)
        if names is None:
            missing.append(f"{name}: no __all__")
            continue
        missing += [f"{name}.{n} does not resolve" for n in names if not hasattr(mod, n)]
    assert not missing, "\n".join(missing)


# ----------------------------------------------------------------------------- 4. light import
def test_import_gradflow_is_light():
    code = (
        "import sys, gradflow\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('matplotlib', 'typer', 'pyarrow', 'torch') or m.startswith('gradflow.papers')]\n"
        "print(heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]", res.stdout


def test_papers_do_not_import_matplotlib():
    code = (
        "import sys, importlib\n"
        "for p in ('min_mallada_vidal', 'yu', 'zhou', 'du', 'nguyen_hein'):\n"
        "    importlib.import_module('gradflow.papers.' + p)\n"
        "print([m for m in sys.modules if m.split('.')[0] == 'matplotlib'])\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]", res.stdout
