"""Ray executor on a real local cluster (loopback only): a head and a worker node started
here, chunks on worker actors; rows equal the local executor's bit for bit; a worker killed
mid-sweep loses no row and duplicates none (its restart reads the persistent compilation
cache); a rerun resumes. The cluster is stopped at the end.

The problem is a plain two-layer ReLU flow (cheap to compile: the test is about the executor;
any ``gradflow.sweep.Problem`` goes through the same path).
"""

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jax
import numpy as np
import pytest

ray = pytest.importorskip("ray")

import gradflow.sweep as gs  # noqa: E402
from gradflow import FlowConfig  # noqa: E402
from gradflow.models import TwoLayerReLU  # noqa: E402
from gradflow.papers.min_mallada_vidal import separated  # noqa: E402

ROOT = str(Path(__file__).resolve().parents[1])
GRID = {"n": [8], "mu": [0.3, 0.6]}
SEEDS, CHUNK = 4, 2  # 4 chunks of 2 runs


@dataclasses.dataclass(frozen=True)
class Plain(gs.Problem):
    """Gradient flow of a small two-layer ReLU net on mu-separated data, to t1 (default row)."""

    d: int = 4
    h: int = 4
    eps: float = 1e-3
    t1: float = 20.0

    def __call__(self, params, key):
        kd, km = jax.random.split(key)
        data, _ = separated(params["n"], self.d, params["mu"], key=kd)
        model = TwoLayerReLU.balanced(self.d, self.h, self.eps, key=km)
        return model, data, {"t1": self.t1, "saveat": 2, "config": FlowConfig(rtol=1e-6)}


@dataclasses.dataclass(frozen=True)
class Slow(gs.Problem):
    """A problem, slower to build, leaving the pid of each process that builds a run."""

    inner: Plain
    piddir: str

    def __call__(self, params, key):
        (Path(self.piddir) / str(os.getpid())).touch()
        time.sleep(0.25)
        return self.inner(params, key)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop a `ray start --block` we started, and every process of its group (its nodes)."""
    for sig, wait in ((signal.SIGTERM, 4), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
            if sig == signal.SIGTERM:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group
            return


def _tail(folder: Path, lines: int = 6) -> str:
    """The last lines of every non-empty log under ``folder`` (what a failed start said)."""
    out = []
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix in (".log", ".out", ".err") and f.stat().st_size:
            text = f.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {f.relative_to(folder)}\n" + "\n".join(text))
    return "\n".join(out)[-6000:]


# Ray >= 2.5x turns token authentication on in `ray start --head` when ~/.ray/auth_token
# exists (any earlier `ray.init()` writes one), but a driver given an explicit address never
# turns it on: the driver is refused ("InvalidAuthToken") and ray.init fails after ~40 s.
# This was why the cluster did not start. Every process of the test cluster gets the
# driver's own mode explicitly (disabled unless RAY_AUTH_MODE says token, read when the
# fixture starts: an earlier local ray.init() in this process sets it to token; then the
# same token, from the same env / file, is used by all).


def _start(temp: Path, env: dict, deadline: float) -> tuple[list, str]:
    """Start a head and a worker node (``ray start --block``) on loopback; the address."""
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts", "start"]  # no PATH / venv lookup
    port = _port()
    # 127.0.0.2 (loopback): Ray rewrites 127.0.0.1/localhost to the host's network address
    address = f"127.0.0.2:{port}"
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    procs: list[subprocess.Popen] = []

    def launch(name, args):
        with open(temp / f"{name}.log", "ab") as log:
            procs.append(subprocess.Popen([*ray_cli, *args, *common], env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))

    try:
        launch("head", ["--head", f"--port={port}", "--include-dashboard=false",
                        f"--temp-dir={temp}", f"--dashboard-agent-listen-port={_port()}"])
        while True:  # the GCS accepts connections: the head is up
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if procs[0].poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the head node did not open port {port}")
            time.sleep(0.25)
        launch("worker", [f"--address={address}", f"--dashboard-agent-listen-port={_port()}"])
        ray.init(address=address, _node_ip_address="127.0.0.1", log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": env["PYTHONPATH"]}})
        while sum(n["Alive"] for n in ray.nodes()) < 2:
            if any(p.poll() is not None for p in procs) or time.time() > deadline:
                raise RuntimeError(f"{sum(n['Alive'] for n in ray.nodes())} of 2 nodes alive")
            time.sleep(0.25)
        return procs, address
    except BaseException:
        with contextlib.suppress(Exception):
            ray.shutdown()
        for p in reversed(procs):
            _stop(p)
        raise


@pytest.fixture(scope="module")
def cluster():
    """A loopback head + worker, one per module; tried twice (fresh ports, 90 s each)."""
    temp = Path(tempfile.mkdtemp(prefix="gfray", dir="/tmp"))  # short: Ray's socket paths
    auth_mode = os.environ.get("RAY_AUTH_MODE") or "disabled"
    env = dict(
        os.environ,
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE=auth_mode,
        JAX_PLATFORMS="cpu",
        PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p),
    )
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = auth_mode  # the driver (this process) as its nodes
    procs, errors = [], []
    try:
        for attempt in range(2):
            try:
                procs, _ = _start(temp, env, time.time() + 90)
                break
            except Exception as e:  # noqa: BLE001 - tried again once, then reported
                errors.append(f"attempt {attempt + 1}: {type(e).__name__}: {e}")
        else:
            pytest.fail("could not start a loopback Ray cluster:\n" + "\n".join(errors)
                        + "\n" + _tail(temp))
        yield
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        for p in reversed(procs):
            _stop(p)
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved
        import shutil

        shutil.rmtree(temp, ignore_errors=True)


def _rows(table):
    c = table.to_pydict()
    c.pop("wall_s")
    return c


def _assert_same(a, b):
    """Equal columns, bit for bit (NaN equals NaN: a run that never reached a time)."""
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k, strict=True)


def test_ray_rows_equal_local_and_survive_a_killed_worker(cluster, tmp_path):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers get Slow by value
    inner = Plain()
    local = gs.sweep(inner, GRID, SEEDS, strategy="map", chunk_size=CHUNK, progress=False)
    piddir = tmp_path / "pids"
    piddir.mkdir()
    problem = Slow(inner, str(piddir))
    out = tmp_path / "ray"
    cache = tmp_path / "jax-cache"
    ex = gs.RayExecutor(num_cpus=1, max_retries=3, compilation_cache=str(cache))
    result, killed = {}, []

    def drive():
        result["t"] = gs.sweep(problem, GRID, SEEDS, strategy="map", chunk_size=CHUNK,
                               executor=ex, out=str(out), progress=False)

    start = time.perf_counter()
    driver = threading.Thread(target=drive)
    driver.start()
    deadline = time.time() + 120
    while time.time() < deadline and not killed and driver.is_alive():
        workers = [int(p.name) for p in piddir.iterdir() if int(p.name) != os.getpid()]
        if workers:  # a worker is building a chunk: kill it mid-task
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])
        time.sleep(0.05)
    driver.join(240)
    elapsed = time.perf_counter() - start
    assert killed, "no Ray worker was seen building a chunk"
    assert "t" in result, "the Ray sweep did not finish"
    a, b = _rows(result["t"]), _rows(local)
    _assert_same(a, b)  # every row, bit for bit, as the local executor's
    pairs = list(zip(a["grid_index"], a["seed"], strict=True))
    assert len(pairs) == len(set(pairs)) == 2 * SEEDS  # none lost, none duplicated
    workers = {int(p.name) for p in piddir.iterdir()} - {os.getpid()}
    assert len(workers) >= 2 and killed[0] in workers  # the lost task ran again elsewhere
    assert any(cache.iterdir())  # the workers' persistent compilation cache was written
    print(f"\nray sweep with a killed worker: {elapsed:.1f} s, worker pids {sorted(workers)}")
    # a driver killed mid-sweep: its rerun computes only the missing chunk
    os.remove(out / gs.chunk_name(1, 1))
    start = time.perf_counter()
    again = gs.sweep(problem, GRID, SEEDS, strategy="map", chunk_size=CHUNK, executor=ex,
                     out=str(out), progress=False)
    print(f"rerun computing 1 missing chunk on Ray: {time.perf_counter() - start:.1f} s")
    _assert_same(_rows(again), b)


def test_executor_settings_are_clear_errors():
    with pytest.raises(ValueError, match="workers must be None or an integer >= 1"):
        gs.RayExecutor(workers=0)
    with pytest.raises(ValueError, match="compilation_cache must be a directory"):
        gs.RayExecutor(compilation_cache=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_cpus must be > 0"):
        gs.RayExecutor(num_cpus=0)
