"""notebooks/02_alignment_bound.ipynb runs end to end (default config, < 2 min on 2 cores)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NB = Path(__file__).resolve().parents[1] / "notebooks" / "02_alignment_bound.ipynb"


@pytest.mark.slow  # ~190 s (a sweep inside the notebook): CI time; the other 5 notebooks run in CI
def test_alignment_bound_notebook_executes():
    nb = nbformat.read(NB, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False).execute()
    text = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "fraction of runs under the bound: 1.000" in text
    assert "statuses: {np.str_('event')" in text
    assert any(
        o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
