"""CLI: `gradflow demo` prints the table and writes the PNG; bad input gives clear errors."""

import re

import pytest
from typer.testing import CliRunner

from gradflow.cli import app

runner = CliRunner()


def test_help_lists_commands():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("demo", "info"):
        assert cmd in res.output


def test_demo_prints_table_and_writes_png(tmp_path):
    res = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "loss@14" in out and "bound t1" in out and "status" in out
    rows = [line for line in out.splitlines() if line.startswith(("two-point", "mu-sep"))]
    assert len(rows) == 4
    assert all(line.rstrip().endswith("success") for line in rows)
    # the mu-separated row has a finite alignment time below its (finite) bound
    sep = rows[-1].split()
    t_align, bound = float(sep[-6]), float(sep[-5])
    assert 0 < t_align < bound
    # the toy plateaus near 1 at t = 14 and has trained by t = 42
    for line in rows[:3]:
        loss14, loss42 = (float(v) for v in re.findall(r"\s(\d\.\d+(?:e-\d+)?)", line)[:2])
        assert loss14 > 0.9 and loss42 < 0.05
    # progress on stderr: the expected runtime, then each stage with the elapsed time, in order
    assert "demo 'min': expected runtime" in res.stderr
    stages = re.findall(r"\[min +(\d+\.\d) s\] stage (\d)/5: ", res.stderr)
    assert [int(i) for _, i in stages] == [1, 2, 3, 4, 5]
    assert sorted(float(t) for t, _ in stages) == [float(t) for t, _ in stages]
    assert "stage" not in res.stdout  # the table itself stays clean
    png = tmp_path / "min_alignment.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_unknown_paper_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["demo", "--paper", "nope", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "unknown --paper" in res.output


# CI time (30 min on 2 cores): the three heaviest demos (60-110 s each) run with `-m slow`;
# their science is checked by the papers' own tests and the notebooks.
_SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "paper",
    ["yu", "zhou", pytest.param("du", marks=_SLOW), pytest.param("nguyen-hein", marks=_SLOW),
     pytest.param("digits", marks=_SLOW)],
)
def test_each_paper_demo_runs_and_writes_figures(paper, tmp_path):
    res = runner.invoke(app, ["demo", "--paper", paper, "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    pngs = sorted(tmp_path.glob("*.png"))
    assert pngs, f"demo {paper} wrote no figure"
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert f"demo '{paper}' finished" in res.output
    n = re.findall(r"stage 1/(\d+): ", res.stderr)
    assert n and f"stage {n[0]}/{n[0]}: " in res.stderr, res.stderr  # first and last stage
    assert len(res.output.splitlines()) >= 4  # a real table / summary, not just the footer
