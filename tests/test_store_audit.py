"""The store audit, case by case: each way the store could return wrong rows is refused."""

import os
import shutil
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_store import GRID, PROBLEM_SRC  # noqa: F401 - the same small problem and kernel

import gradflow.sweep as gs
from gradflow.sweep import SweepStore, chunk_name, make_manifest

exec(PROBLEM_SRC, globals())
KW = dict(chunk_size=2, progress=False, strategy="map")


def _manifest(fp="x", x64=True):
    return make_manifest(
        problem_fingerprint=fp, grid=[{"n": 8}], seeds=[0, 1, 2], chunk_size=2, x64=x64,
        gradflow_version="test",
    )


def _chunk(seeds, dtype=np.float64):
    return pa.table({"grid_index": np.zeros(len(seeds), np.int64), "seed": np.asarray(seeds),
                     "t": np.arange(len(seeds), dtype=dtype)})


def test_lambdas_with_other_behaviour_never_share_rows(tmp_path):
    def make(scale):  # two problems with one qualname, other behaviour
        return lambda p, key: cone_problem({**p, "s": scale * p["s"]}, key)  # noqa: F821

    a, b = make(1.0), make(2.0)
    assert a.__qualname__ == b.__qualname__
    assert gs.fingerprint(a) != gs.fingerprint(b)
    assert gs.fingerprint(a) == gs.fingerprint(make(1.0))  # equal behaviour: equal identity
    out = tmp_path / "s"
    first = gs.sweep(a, {"n": [8], "s": [0.2]}, 2, out=str(out), **KW)
    with pytest.raises(ValueError, match=r"different sweep .*fingerprint"):
        gs.sweep(b, {"n": [8], "s": [0.2]}, 2, out=str(out), **KW)
    again = gs.sweep(make(1.0), {"n": [8], "s": [0.2]}, 2, out=str(out), **KW)
    assert again.to_pydict() == first.to_pydict()


def test_foreign_partial_or_other_precision_chunks_are_refused(tmp_path):
    a = SweepStore.open(tmp_path / "a", _manifest("eps=1e-6"))
    a.write(0, 0, _chunk([0, 1]))
    b = SweepStore.open(tmp_path / "b", _manifest("eps=1e-3"))
    b.write(0, 1, _chunk([2]))
    # a chunk copied in from another sweep (another eps)
    shutil.copy(a.path / chunk_name(0, 0), b.path / chunk_name(0, 0))
    with pytest.raises(ValueError, match=r"chunk-g0000-c00000.parquet belongs to another sweep"):
        gs.load_results(b.path)
    # a chunk with a column dropped, or in float32, keeping this sweep's fingerprint
    f = a.path / chunk_name(0, 0)
    good = pq.read_table(f)
    for bad in (good.drop_columns(["t"]), good.set_column(2, "t", good["t"].cast(pa.float32()))):
        pq.write_table(bad.replace_schema_metadata(good.schema.metadata), f)
        with pytest.raises(ValueError, match=r"c00000.parquet has other columns or types"):
            gs.load_results(a.path)
        with pytest.raises(ValueError, match=r"other columns or types"):
            SweepStore.open(a.path, _manifest("eps=1e-6"))
    # precision is identity: a float32 resume of a float64 sweep is refused up front
    with pytest.raises(ValueError, match=r"differs in \['fingerprint', 'x64'\]"):
        SweepStore.open(a.path, _manifest("eps=1e-6", x64=False))
    # and a chunk of other columns is never written next to the stored schema
    pq.write_table(good, f)
    with pytest.raises(ValueError, match="other columns or types"):
        a.write(0, 1, _chunk([2], np.float32))


def test_two_sweeps_opening_one_fresh_folder_exactly_one_wins(tmp_path):
    trials, wins = 12, []
    for i in range(trials):
        out = tmp_path / f"t{i}"
        barrier, results = threading.Barrier(2), []

        def open_(fp, out=out, barrier=barrier, results=results):
            barrier.wait()
            try:
                SweepStore.open(out, _manifest(fp))
                results.append(fp)
            except ValueError as e:
                assert "different sweep" in str(e)

        threads = [threading.Thread(target=open_, args=(fp,)) for fp in ("A", "B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wins.append(len(results))
        assert gs.read_manifest(out)["problem_fingerprint"] == results[0]
    assert wins == [1] * trials


class Counting:
    def __init__(self):
        self.calls = 0

    def sweep_fingerprint(self):
        return "counting-cone-audit"

    def __call__(self, p, key):
        self.calls += 1
        return cone_problem(p, key)  # noqa: F821


def test_two_identical_sweeps_share_the_chunks(tmp_path):
    out, problems, tables = tmp_path / "s", [Counting(), Counting()], {}
    gs.sweep(Counting(), GRID, 2, out=str(tmp_path / "warm"), **KW)  # compile once, first
    barrier = threading.Barrier(2)

    def run(i):
        barrier.wait()
        tables[i] = gs.sweep(problems[i], GRID, 8, out=str(out), **KW)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = sum(p.calls - 2 for p in problems)  # less each driver's 2 checks (one per point)
    assert runs == 16  # every run computed exactly once, by one driver or the other
    assert min(p.calls for p in problems) > 2  # ... and both drivers did some of them
    assert tables[0].to_pydict() == tables[1].to_pydict()
    assert tables[0].num_rows == 16


def test_stale_temporaries_are_cleaned_but_not_a_live_writers(tmp_path):
    store = SweepStore.open(tmp_path / "s", _manifest())
    stale = store.path / ".chunk-g0000-c00000.parquet.tmp-1-aa"
    live = store.path / ".chunk-g0000-c00001.parquet.tmp-2-bb"
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    with store.claim(0, 1) as mine:  # a writer still busy with chunk (0, 1)
        assert mine
        assert SweepStore.open(store.path, _manifest()).clean_temporaries() == []
        assert live.exists() and not stale.exists()
    SweepStore.open(store.path, _manifest())
    assert not live.exists()
    assert sorted(p for p in os.listdir(store.path) if not p.startswith(".")) == ["manifest.json"]


def test_progress_moves_per_run_and_keeps_compile_apart(monkeypatch):
    from gradflow.sweep import _progress

    left, compiles = [], []
    end, compiled = _progress.Progress.end_chunk, _progress.Progress.compiled

    def spy_end(self, runs, run_s, compile_s=0.0):
        left.append(self._left)  # runs not ticked by the kernel itself
        end(self, runs, run_s, compile_s)

    monkeypatch.setattr(_progress.Progress, "end_chunk", spy_end)
    monkeypatch.setattr(_progress.Progress, "compiled", lambda s, t: (compiles.append(t),
                                                                      compiled(s, t)))
    t = gs.sweep(cone_problem, {"n": [8], "s": [0.3]}, 5, chunk_size=3, progress=True)  # noqa: F821
    assert t.num_rows == 5
    assert left == [0, 0]  # every run of both chunks ticked the bar as it finished
    assert all(c > 0 for c in compiles)  # compile time reported apart (0 or 1 new kernels)
    assert all(w > 0 for w in t.column("wall_s").to_pylist())
