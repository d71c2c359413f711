"""Execute the CNN notebooks (03 key patterns, 05 condensation) and check they ran cleanly.

Each notebook ends with an assertion cell that checks the numbers its final markdown quotes,
so a clean run means the measured numbers still hold.
"""

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
