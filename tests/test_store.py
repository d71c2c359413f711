"""Results store: atomic chunks, resume after SIGKILL without loss or duplicates, refusals."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow as pa
import pytest

import gradflow.sweep as gs
from gradflow.sweep import SweepStore, chunk_name, make_manifest

PROBLEM_SRC = textwrap.dedent(
    """
    import os, time
    import jax, jax.numpy as jnp
    import gradflow as gf
    from gradflow import FlowConfig

    STOP = gf.aligned(1e-2)
    CFG = FlowConfig(rtol=1e-6)
    def cone_problem(p, key):
        time.sleep(float(os.environ.get("GF_TEST_SLEEP", "0")))  # so a kill lands mid-sweep
        kd, km = jax.random.split(key)
        n, d = p["n"], 6
        y = jnp.where(jnp.arange(n) % 2 == 0, 1.0, -1.0)
        z = jnp.zeros(d).at[0].set(1.0) + p["s"] * jax.random.normal(kd, (n, d))
        data = gf.Dataset(y[:, None] * z, y)
        model = gf.models.TwoLayerReLU.balanced(d, 8, 1e-4, key=km)
        return model, data, dict(t1=200.0, stop=STOP, config=CFG, saveat=4)
    """
)
exec(PROBLEM_SRC, globals())
GRID = {"n": [8], "s": [0.2, 0.4]}
SEEDS = 8
KW = dict(chunk_size=2, progress=False, strategy="map")


def _rows(table):
    c = table.to_pydict()
    c.pop("wall_s")
    return c


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    out = tmp_path / "sweep"
    script = PROBLEM_SRC + textwrap.dedent(
        f"""
        import sys
        jax.config.update("jax_enable_x64", True)
        import gradflow.sweep as gs
        gs.sweep(cone_problem, {GRID!r}, {SEEDS}, out=sys.argv[1], **{KW!r})
        """
    )
    env = dict(os.environ, JAX_PLATFORMS="cpu", GF_TEST_SLEEP="0.15")
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if out.is_dir() and len(list(out.glob("chunk-*.parquet"))) >= 2:
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    n_done = len(list(out.glob("chunk-*.parquet")))
    assert 2 <= n_done < 8, n_done  # killed mid-way: some chunks done, some not
    partial = gs.load_results(out)
    assert partial.num_rows == 2 * n_done
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("chunk-*.parquet")}

    resumed = gs.sweep(cone_problem, GRID, SEEDS, out=str(out), **KW)  # noqa: F821
    full = gs.sweep(cone_problem, GRID, SEEDS, **KW)  # noqa: F821
    a, b = _rows(resumed), _rows(full)
    assert a == b  # same rows, same order, bit-identical numbers
    pairs = list(zip(a["grid_index"], a["seed"], strict=True))
    assert len(pairs) == len(set(pairs)) == 2 * SEEDS  # none duplicated, none missing
    # finished chunks were kept as they were (not rewritten), the rest were added
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept
    assert len(list(out.glob("chunk-*.parquet"))) == 8
    p = _rows(partial)
    index = {pair: i for i, pair in enumerate(pairs)}
    for j, pair in enumerate(zip(p["grid_index"], p["seed"], strict=True)):
        assert p["t_event"][j] == a["t_event"][index[pair]]


class Counting:
    """cone_problem counting its calls; declares its identity (its counter is not one)."""

    def __init__(self):
        self.calls = 0

    def sweep_fingerprint(self):
        return "counting-cone-v1"

    def __call__(self, p, key):
        self.calls += 1
        return cone_problem(p, key)  # noqa: F821


def test_finished_chunks_are_not_recomputed(tmp_path):
    out = tmp_path / "s"
    counting = Counting()
    gs.sweep(counting, GRID, 4, out=str(out), **KW)
    assert counting.calls == 2 + 8  # seed 0 of each grid point built first (checks), 8 runs
    os.remove(out / chunk_name(1, 0))  # lose one chunk of 2 runs
    t = gs.sweep(counting, GRID, 4, out=str(out), **KW)
    assert counting.calls - 10 == 2 + 2  # the checks, then only the missing chunk ran again
    assert t.num_rows == 8


def _manifest(problem_fingerprint="x", x64=True):
    return make_manifest(
        problem_fingerprint=problem_fingerprint,
        grid=[{"n": 8}],
        seeds=[0, 1, 2],
        chunk_size=2,
        x64=x64,
        gradflow_version="test",
    )


def _store(tmp_path, **over):
    m = _manifest(**over)
    return SweepStore.open(tmp_path / "s", m), m


def _chunk(g, seeds):
    return pa.table(
        {
            "grid_index": np.full(len(seeds), g),
            "seed": np.asarray(seeds),
            "t": np.arange(len(seeds), dtype=float),
        }
    )


def test_store_roundtrip_and_atomic_write(tmp_path):
    store, m = _store(tmp_path)
    store.write(0, 1, _chunk(0, [2]))
    store.write(0, 0, _chunk(0, [0, 1]))
    assert store.done() == {(0, 0), (0, 1)}
    t = gs.load_results(tmp_path / "s").to_pydict()
    assert t["seed"] == [0, 1, 2] and t["t"] == [0.0, 1.0, 0.0]
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["seeds"] == [0, 1, 2]
    # a leftover temporary file of a killed writer is ignored, and deleted on open
    tmp = tmp_path / "s" / ".chunk-g0000-c00000.parquet.tmp-999-ab"
    tmp.write_bytes(b"half")
    assert SweepStore.open(tmp_path / "s", m).done() == {(0, 0), (0, 1)}
    assert not tmp.exists()


def test_corrupt_or_mismatched_directory_is_refused(tmp_path):
    store, m = _store(tmp_path)
    store.write(0, 0, _chunk(0, [0, 1]))
    with pytest.raises(ValueError, match=r"different sweep .*seeds"):
        SweepStore.open(tmp_path / "s", {**m, "seeds": [0, 1, 2, 3]})
    with pytest.raises(ValueError, match=r"x64"):
        SweepStore.open(tmp_path / "s", _manifest(x64=False))
    # a truncated chunk file
    f = tmp_path / "s" / chunk_name(0, 0)
    f.write_bytes(f.read_bytes()[:20])
    with pytest.raises(ValueError, match="corrupt chunk file"):
        SweepStore.open(tmp_path / "s", m)
    with pytest.raises(ValueError, match="corrupt chunk file"):
        gs.load_results(tmp_path / "s")
    # a chunk holding other seeds than its name says
    store2, m2 = _store(tmp_path / "b")
    store2.write(0, 0, _chunk(0, [0, 2]))
    with pytest.raises(ValueError, match="other runs"):
        SweepStore.open(tmp_path / "b" / "s", m2)
    # corrupt manifest, foreign files, non-empty dir without a manifest
    (tmp_path / "s" / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt sweep manifest"):
        SweepStore.open(tmp_path / "s", m)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        SweepStore.open(tmp_path / "other", m)
    with pytest.raises(ValueError, match="not a gradflow sweep"):
        gs.load_results(tmp_path / "other")
    store3, m3 = _store(tmp_path / "c")
    (tmp_path / "c" / "s" / "rows.csv").write_text("a,b")
    with pytest.raises(ValueError, match="unexpected file"):
        SweepStore.open(tmp_path / "c" / "s", m3)
