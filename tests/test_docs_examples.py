"""Every ```python block of README.md and docs/**/*.md runs as written.

Each block runs in a fresh interpreter (a subprocess), from an empty working directory, with
``JAX_ENABLE_X64`` removed from the environment: a block that needs float64 must say so
itself, as a reader copying it would have to. Blocks not meant to run use another fence tag
(```text, ```bash, ```pycon).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def _sources() -> list[Path]:
    docs = sorted(p for p in (ROOT / "docs").rglob("*.md") if "notebooks" not in p.parts)
    return [ROOT / "README.md", *docs]


def _blocks() -> list[tuple[str, str]]:
    found = []
    for path in _sources():
        text = path.read_text()
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return found


BLOCKS = _blocks()


def test_blocks_are_found():
    names = {name.split(":")[0] for name, _ in BLOCKS}
    assert "README.md" in names and len(BLOCKS) >= 10, names


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_code_block_runs(where, code, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{where} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
