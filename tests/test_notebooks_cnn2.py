"""notebooks 01 (toy + digits), 04 (Du filter) and 06 (wide CNN) run end to end without error."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"

EXPECTED = {
    "01_alignment_toy_and_digits.ipynb": ["aligned=50/50", "theta=0.1"],
    "04_conv_filter.ipynb": ["stride 1 (k=13)", "time to learn"],
    "06_wide_cnn.ipynb": ["rank= 72  min(N,n_1)= 72", "narrow c= 1"],
}


def _text(nb) -> str:
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_executes(name):
    nb = nbformat.read(NB_DIR / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False).execute()
    text = _text(nb)
    for snippet in EXPECTED[name]:
        assert snippet in text, snippet
    assert nb.cells[-1].cell_type == "markdown" and "What was measured" in nb.cells[-1].source
    assert any(
        o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
