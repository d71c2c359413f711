"""Execute the CNN notebooks (03 key patterns, 05 condensation) and check the numbers they print.

Each notebook ends with a cell that prints its measured conclusion; the checks on those numbers
live here (not in the notebooks), so a passing test means the numbers its final markdown quotes
still hold.
"""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["03_key_patterns_cnn.ipynb", "05_condensation.ipynb"])
def test_notebook_runs(name):
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()  # raises CellExecutionError on any failing cell
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    assert nb.cells[-1].cell_type == "markdown" and "What was measured" in nb.cells[-1].source
    images = sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    )
    assert images >= 1
    CHECKS[name](_text(nb))


def _text(nb) -> str:
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


def _floats(pattern: str, text: str) -> list[float]:
    m = re.search(pattern, text)
    assert m, pattern
    return [float(g) for g in m.groups()]


def _check_key_patterns(text: str) -> None:
    best_p, best_m = _floats(r"best cos to p\+ ([\d.]+), to p- ([\d.]+)", text)
    assert best_p > 0.99 and best_m > 0.99
    mid, end, mean = _floats(
        r"key/background ratio ([\d.]+) at t = \S+, ([\d.]+) at t = 200 "
        r"\(mean key filter ([\d.]+)\)",
        text,
    )
    assert end > 15 and mean > 10 and end > 2 * mid
    acc0, acc1, ratio_tr, acc_tr = _floats(
        r"accuracy ([\d.]+) -> ([\d.]+); trained readout: ratio ([\d.]+), accuracy ([\d.]+)", text
    )
    assert abs(acc0 - 0.35) < 1e-9 and acc1 == 1.0 and acc_tr == 1.0 and ratio_tr > 500
    gf_loss, gd_loss = _floats(r"loss at t = 200: GF ([\d.]+), GD ([\d.]+)", text)
    assert abs(gd_loss - gf_loss) < 0.01


def _check_condensation(text: str) -> None:
    mc_b = _floats(r"bumps mean\|cos\| at t_early, eps [^:]+:" + r" ([\d.]+)" * 5, text)
    # smaller eps -> more condensed
    assert all(a >= b - 1e-3 for a, b in zip(mc_b, mc_b[1:], strict=False)), mc_b
    assert mc_b[1] > 0.99 and mc_b[4] < 0.5
    d6, d2, d0 = _floats(r"digits mean\|cos\| at t_early, eps [^:]+:" + r" ([\d.]+)" * 3, text)
    assert d6 > 0.88 and d2 < d6 - 0.1 and d0 < 0.4
    lo, hi = _floats(r"at t = 0, over eps: min ([\d.]+) max ([\d.]+)", text)
    assert hi - lo < 1e-5 and 0.25 < lo < 0.30


CHECKS = {
    "03_key_patterns_cnn.ipynb": _check_key_patterns,
    "05_condensation.ipynb": _check_condensation,
}
