"""Bad-input catalogue: every wrong argument gives ONE clear ValueError naming it, valid
NumPy/JAX scalars are accepted, a blown-up solve stops at once with a status naming the
cause, and the alignment numerics do not overflow at any scale (issue 15)."""

import struct
import time

import equinox as eqx
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from typer.testing import CliRunner

import gradflow as gf
from gradflow.cli import app
from gradflow.data import Dataset, read_idx
from gradflow.metrics import mu as measured_mu
from gradflow.models import TwoLayerReLU
from gradflow.papers.min_mallada_vidal import min_bounds, separated, two_point
from gradflow.sweep import expand_grid, expand_seeds

KEY = jax.random.key(0)
DATA = Dataset(jnp.array([[1.0, 0.2], [0.3, 1.0], [-1.0, -0.1]]), jnp.array([1.0, 1.0, -1.0]))
MODEL = TwoLayerReLU.balanced(2, 4, 1e-3, key=KEY)


class IntModel(eqx.Module):
    w: jax.Array

    def __call__(self, x):
        return jnp.sum(self.w * x)


def _solve(**kw):
    args = dict(t1=1.0)
    args.update(kw)
    return gf.solve_flow(args.pop("model", MODEL), args.pop("data", DATA), **args)


def _gd(**kw):
    args = dict(eta=1e-2, steps=4, saves=2)
    args.update(kw)
    return gf.gd(MODEL, DATA, **args)


def _idx(tmp_path, dims):
    p = tmp_path / "huge.idx"
    p.write_bytes(bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + b"\0")
    return p


def _sep(**kw):
    args = dict(n=4, d=3, mu=0.5, key=KEY)
    args.update(kw)
    return separated(args.pop("n"), args.pop("d"), args.pop("mu"), **args)


# (case id, thunk, word the message must contain). Every case raises ValueError.
CASES = [
    # FlowConfig: tolerances in (0, 1), numbers not strings, integers not floats
    ("config-rtol-5", lambda: gf.FlowConfig(rtol=5), "rtol"),
    ("config-rtol-1", lambda: gf.FlowConfig(rtol=1.0), "rtol"),
    ("config-rtol-0", lambda: gf.FlowConfig(rtol=0.0), "rtol"),
    ("config-rtol-nan", lambda: gf.FlowConfig(rtol=float("nan")), "rtol"),
    ("config-rtol-str", lambda: gf.FlowConfig(rtol="1e-6"), "rtol"),  # pyright: ignore
    ("config-rtol-complex", lambda: gf.FlowConfig(rtol=1e-6j), "rtol"),  # pyright: ignore
    ("config-rtol-bool", lambda: gf.FlowConfig(rtol=True), "rtol"),
    ("config-atol-str", lambda: gf.FlowConfig(atol="1e-8"), "atol"),  # pyright: ignore
    ("config-atol-neg", lambda: gf.FlowConfig(atol=-1e-8), "atol"),
    ("config-atol-inf", lambda: gf.FlowConfig(atol=float("inf")), "atol"),
    ("config-atol-factor-0", lambda: gf.FlowConfig(atol_factor=0.0), "atol_factor"),
    ("config-max-steps-float", lambda: gf.FlowConfig(max_steps=2.5), "max_steps"),  # pyright: ignore
    ("config-max-steps-0", lambda: gf.FlowConfig(max_steps=0), "max_steps"),
    ("config-max-steps-bool", lambda: gf.FlowConfig(max_steps=True), "max_steps"),
    ("config-dt0-neg", lambda: gf.FlowConfig(dt0=-1.0), "dt0"),
    ("config-dt0-str", lambda: gf.FlowConfig(dt0="0.1"), "dt0"),  # pyright: ignore
    ("config-solver", lambda: gf.FlowConfig(solver="rk4"), "solver"),
    ("config-solver-int", lambda: gf.FlowConfig(solver=3), "solver"),  # pyright: ignore
    ("config-kinks", lambda: gf.FlowConfig(kinks="maybe"), "kinks"),
    ("config-max-events", lambda: gf.FlowConfig(max_events=1.5), "max_events"),  # pyright: ignore
    ("config-progress", lambda: gf.FlowConfig(progress="yes"), "progress"),  # pyright: ignore
    ("config-track-implicit", lambda: gf.FlowConfig(kinks="track", solver="kvaerno5"), "kinks"),
    # Dataset: real, rectangular, finite, d >= 1
    ("data-complex-x", lambda: Dataset(np.ones((2, 2)) * 1j, np.ones(2)), "x"),
    ("data-complex-y", lambda: Dataset(np.ones((2, 2)), np.ones(2) * 1j), "y"),
    ("data-ragged-x", lambda: Dataset([[1.0, 2.0], [3.0]], [1.0, -1.0]), "x"),
    ("data-ragged-y", lambda: Dataset(np.ones((2, 2)), [[1.0], [1.0, 2.0]]), "y"),
    ("data-nan-x", lambda: Dataset([[np.nan, 1.0]], [1.0]), "x"),
    ("data-inf-y", lambda: Dataset([[0.0, 1.0]], [np.inf]), "y"),
    ("data-str-x", lambda: Dataset([["a", "b"]], [1.0]), "x"),
    ("data-d0", lambda: Dataset(np.ones((3, 0)), np.ones(3)), "d = 0"),
    ("data-n-mismatch", lambda: Dataset(np.ones((3, 2)), np.ones(2)), "same number"),
    ("data-empty", lambda: Dataset(np.ones((0, 2)), np.ones(0)), "empty"),
    ("data-1d-x", lambda: Dataset(np.ones(3), np.ones(3)), "x"),
    ("data-int-overflow", lambda: Dataset(np.ones((1, 2)), np.array([2**40])), "int32"),
    # solve_flow
    ("solve-t1-neg", lambda: _solve(t1=-1.0), "t1"),
    ("solve-t1-str", lambda: _solve(t1="1"), "t1"),
    ("solve-t0-nan", lambda: _solve(t0=float("nan")), "t0"),
    ("solve-t0-after-t1", lambda: _solve(t0=2.0), "t0"),
    ("solve-config-dict", lambda: _solve(config={"rtol": 1e-6}), "config"),
    ("solve-stop-lambda", lambda: _solve(stop=lambda m, d, loss: loss < 1), "stop"),
    ("solve-fn-str", lambda: _solve(fn=lambda t, m: "not an array"), "fn"),
    ("solve-fn-not-callable", lambda: _solve(fn=3), "fn"),
    ("solve-int-weights", lambda: _solve(model=IntModel(jnp.ones(2, dtype=int))), "trainable"),
    ("solve-data-tuple", lambda: _solve(data=(DATA.x, DATA.y)), "data"),
    ("solve-loss-name", lambda: _solve(loss="hinge2"), "loss"),
    ("solve-float16-rtol", lambda: _solve(
        model=jax.tree_util.tree_map(lambda a: a.astype(jnp.float16), MODEL)), "rtol"),
    ("solve-float32-rtol-1e-12", lambda: _solve(
        model=jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), MODEL),
        config=gf.FlowConfig(rtol=1e-12)), "rtol"),
    # gd: steps > 0 and integer, a positive step or schedule
    ("gd-steps-float", lambda: _gd(steps=2.5), "steps"),
    ("gd-steps-0", lambda: _gd(steps=0), "steps"),
    ("gd-saves-0", lambda: _gd(saves=0), "saves"),
    ("gd-eta-neg", lambda: _gd(eta=-1e-2), "eta"),
    ("gd-eta-nan", lambda: _gd(eta=float("nan")), "eta"),
    ("gd-schedule-neg", lambda: _gd(eta=optax.constant_schedule(-1e-2)), "eta"),
    ("gd-schedule-zero-later", lambda: _gd(
        eta=optax.piecewise_constant_schedule(1e-2, {2: 0.0})), "eta"),
    # separated / two_point
    ("sep-n-float", lambda: _sep(n=2.5), "n"),
    ("sep-d-0", lambda: _sep(d=0), "d"),
    ("sep-mu-1.5", lambda: _sep(mu=1.5), "mu"),
    ("sep-mu-0", lambda: _sep(mu=0.0), "mu"),
    ("sep-mu-str", lambda: _sep(mu="0.3"), "mu"),
    ("sep-key-int", lambda: _sep(key=0), "key"),
    ("sep-balance-bool", lambda: _sep(balance=True), "balance"),
    ("sep-balance-1", lambda: _sep(balance=1.0), "balance"),
    ("sep-radius-tiny", lambda: _sep(radius=(1e-300, 1.0)), "radius"),
    ("sep-radius-huge", lambda: _sep(radius=(1.0, 1e308)), "radius"),
    ("sep-radius-order", lambda: _sep(radius=(2.0, 1.0)), "radius"),
    ("sep-radius-str", lambda: _sep(radius="big"), "radius"),
    ("sep-family", lambda: _sep(family="ring"), "family"),
    ("sep-clusters-1", lambda: _sep(family="cluster", clusters=1), "clusters"),
    ("sep-spread-neg", lambda: _sep(family="cluster", spread=-1.0), "spread"),
    ("two-point-str", lambda: two_point("a"), "theta"),  # pyright: ignore
    ("two-point-inf", lambda: two_point(float("inf")), "theta"),
    # min_bounds
    ("bounds-delta-5", lambda: min_bounds(DATA, 4, 1e-3, delta=5.0), "delta"),
    ("bounds-h-float", lambda: min_bounds(DATA, 4.0, 1e-3), "h"),  # pyright: ignore
    ("bounds-eps-neg", lambda: min_bounds(DATA, 4, -1e-3), "eps"),
    ("bounds-eps-vs-model", lambda: min_bounds(DATA, 4, 1.0, model=MODEL), "eps"),
    ("bounds-h-vs-model", lambda: min_bounds(DATA, 5, 1e-3, model=MODEL), "h"),
    # sweep argument parsing
    ("seeds-float", lambda: expand_seeds([0, 1.5]), "seed"),
    ("seeds-0", lambda: expand_seeds(0), "seeds"),
    ("grid-2d-array", lambda: expand_grid({"n": np.ones((2, 2))}), "grid"),
]


@pytest.mark.parametrize(("thunk", "word"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_value_error(thunk, word):
    with pytest.raises(ValueError) as info:
        thunk()
    assert type(info.value) is ValueError
    assert word in str(info.value)


def test_read_idx_dims_overflow_is_clear(tmp_path):
    with pytest.raises(ValueError, match="declares shape"):
        read_idx(_idx(tmp_path, (2**31, 2**31, 2**31)))


def test_float32_finiteness_is_checked_after_the_cast():
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(ValueError, match="x contains 1 non-finite.*after the cast"):
            Dataset([[1e300, 1.0]], [1.0])
        assert Dataset([[1e30, 1.0]], [1.0]).x.dtype == jnp.float32
    finally:
        jax.config.update("jax_enable_x64", True)


# ---------------------------------------------------------------------- valid values accepted
def test_numpy_and_jax_scalars_are_accepted():
    cfg = gf.FlowConfig(rtol=np.float32(1e-5), atol=jnp.asarray(1e-9), max_steps=np.int64(100))
    assert cfg == gf.FlowConfig(rtol=float(np.float32(1e-5)), atol=1e-9, max_steps=100)
    assert type(cfg.rtol) is float and type(cfg.max_steps) is int
    d, m = separated(np.int64(6), 3, np.float32(0.5), key=KEY, balance=np.float32(0.5))
    assert d.n == 6 and abs(float(m) - float(np.float32(0.5))) < 1e-12
    assert expand_grid({"n": np.array([10, 30])}) == [{"n": 10}, {"n": 30}]
    assert expand_seeds(np.int64(3)) == [0, 1, 2]
    assert Dataset(np.ones((2, 2), dtype=np.float32), np.array([1, 0])).y.dtype == jnp.int32


# ---------------------------------------------------------------------- fail fast
def test_nan_weight_stops_at_once_with_nonfinite():
    bad = eqx.tree_at(lambda m: m.w, MODEL, MODEL.w.at[0, 0].set(jnp.nan))
    _solve(model=bad, t1=10.0)  # compile
    start = time.perf_counter()
    traj = _solve(model=bad, t1=10.0)
    jax.block_until_ready(traj.result)
    elapsed = time.perf_counter() - start
    assert traj.status == gf.Status.NONFINITE
    assert float(traj.t_final) == 0.0 and int(traj.stats["num_steps"]) <= 2
    assert elapsed < 1.0


class Blow(eqx.Module):
    """dθ/dt = θ^2 from the gradient of -θ^3/3: blows up at t = 1/θ0 = 1."""

    theta: jax.Array

    def __call__(self, x):
        return self.theta[0] + 0.0 * jnp.sum(x)


def _cube(out, target):
    return -(out**3) / 3.0


def test_finite_time_blowup_ends_fast_and_names_the_cause():
    data = Dataset(jnp.ones((1, 1)), jnp.ones(1))
    traj = gf.solve_flow(Blow(jnp.ones(1)), data, loss=_cube, t1=2.0)
    assert traj.status in (gf.Status.NONFINITE, gf.Status.STIFF)
    assert 0.99 < float(traj.t_final) < 1.001  # the singularity is at t = 1
    assert int(traj.stats["num_steps"]) < 5000
    assert "blow" in traj.status.message


def test_collapse_statuses_keep_codes_and_name_causes():
    assert [int(s) for s in gf.Status][:6] == [0, 1, 2, 3, 4, 5]
    assert "stiff" in gf.Status.STIFF.message and "float64" in gf.Status.PRECISION.message
    assert not gf.Status.STIFF.ok and not gf.Status.PRECISION.ok
    assert "max_steps" not in gf.Status.STIFF.message


# ---------------------------------------------------------------------- scale-safe numerics
@pytest.mark.parametrize("scale", [1e-154, 1e-100, 1.0, 1e100, 1e155, 1e300])
def test_mu_and_unit_are_scale_free(scale):
    ref = measured_mu(DATA)
    scaled = Dataset(DATA.x * scale, DATA.y)
    assert abs(float(measured_mu(scaled)) - float(ref)) < 1e-14
    u = gf.metrics.unit(jnp.array([3.0, 4.0]) * scale)
    np.testing.assert_allclose(u, [0.6, 0.8], rtol=1e-15)


def _mu_reference(x, y) -> float:
    """mu in NumPy, independently of gradflow: scale each row by its max |entry| first."""
    z = np.asarray(y, float)[:, None] * np.asarray(x, float).reshape(len(y), -1)
    z = z / np.abs(z).max(axis=1, keepdims=True)
    z = z / np.sqrt((z * z).sum(axis=1, keepdims=True))
    return float((z @ z.T).min())


@pytest.mark.parametrize(("radius", "family", "spread"), [
    ((1e155, 1e156), "cone", 0.2), ((1e-154, 1e-153), "cone", 0.2),
    ((1e300, 1e300), "cluster", 0.2), ((1.0, 1.0), "cluster", 5.0),
])
def test_separated_keeps_its_promise_at_extremes(radius, family, spread):
    for seed in range(4):
        data, mu = separated(2 if spread == 5.0 else 7, 3, 0.5, key=jax.random.key(seed),
                             family=family, radius=radius, spread=spread)
        assert abs(float(mu) - 0.5) < 1e-12
        assert abs(_mu_reference(data.x, data.y) - float(mu)) < 1e-12


# ---------------------------------------------------------------------- property tests
@settings(max_examples=25, deadline=None)
@given(
    n=st.sampled_from([2, 7]), d=st.just(3), mu=st.floats(0.01, 0.99),
    family=st.sampled_from(["cone", "cluster"]), spread=st.floats(0.0, 10.0),
    log_r=st.floats(-280.0, 300.0), seed=st.integers(0, 2**31 - 1),
)
def test_separated_mu_is_measured_and_on_target(n, d, mu, family, spread, log_r, seed):
    r = 10.0**log_r
    data, got = separated(n, d, mu, key=jax.random.key(seed), family=family, spread=spread,
                          radius=(r, 2 * r) if 2 * r < 1e306 / n else (r, r))
    assert abs(_mu_reference(data.x, data.y) - float(got)) < 1e-12
    assert abs(float(got) - mu) < 1e-12


finite_floats = st.floats(-1e300, 1e300, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 5), d=st.integers(1, 4), ints=st.booleans(),
    bad=st.sampled_from([None, "nan", "inf", "complex", "ragged", "mismatch"]),
    data=st.data(),
)
def test_dataset_accepts_good_and_refuses_bad(n, d, ints, bad, data):
    x = np.array(data.draw(st.lists(finite_floats, min_size=n * d, max_size=n * d))).reshape(n, d)
    y = np.arange(n) % 3 if ints else np.linspace(-1.0, 1.0, n)
    if bad is None:
        ds = Dataset(x, y)
        np.testing.assert_array_equal(np.asarray(ds.x), x)
        assert ds.y.dtype == (jnp.int32 if ints else jnp.float64)
        return
    if bad in ("nan", "inf"):
        x[0, 0] = float(bad)
    arg = {
        "complex": lambda: Dataset(x + 1j, y),
        "ragged": lambda: Dataset([list(r) for r in x] + [[1.0] * (d + 1)], list(y) + [1.0]),
        "mismatch": lambda: Dataset(x, np.ones(n + 1)),
    }.get(bad, lambda: Dataset(x, y))
    with pytest.raises(ValueError, match="x"):
        arg()


@settings(max_examples=50, deadline=None)
@given(
    rtol=st.one_of(st.floats(allow_nan=True), st.integers(-3, 3), st.text(max_size=3)),
    max_steps=st.one_of(st.integers(-5, 10**7), st.floats(-5, 1e7)),
)
def test_flow_config_accepts_exactly_the_valid_fields(rtol, max_steps):
    valid = (
        isinstance(rtol, float | int) and not isinstance(rtol, bool) and 0 < rtol < 1
        and isinstance(max_steps, int) and max_steps >= 1
    )
    if valid:
        cfg = gf.FlowConfig(rtol=rtol, max_steps=max_steps)
        assert cfg.rtol == rtol and cfg.max_steps == max_steps
    else:
        with pytest.raises(ValueError, match="rtol|max_steps"):
            gf.FlowConfig(rtol=rtol, max_steps=max_steps)


# ---------------------------------------------------------------------- CLI option parsing
runner = CliRunner()


@settings(max_examples=30, deadline=None)
@given(value=st.one_of(
    st.floats(0.01, 1e6).filter(lambda v: v != int(v)),
    st.sampled_from(["2.5", "1e3", "ten", "10,x", ",", "3.0"]),
))
def test_cli_sweep_refuses_non_integer_n(value, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    res = runner.invoke(app, ["sweep", "--n", str(value), "--out", str(out / "s")])
    assert res.exit_code == 2, res.output
    assert "--n" in res.output
    assert not (out / "s").exists()


def test_cli_plot_on_a_store_without_chunks(tmp_path):
    from gradflow.sweep import SweepStore, make_manifest

    grid = [{"n": 10, "mu": 0.3, "family": "cone"}]
    manifest = make_manifest(name="alignment", grid=grid, seeds=[0], chunk_size=1, config={})
    SweepStore.open(tmp_path / "s", manifest)
    res = runner.invoke(app, ["plot", str(tmp_path / "s")])
    assert res.exit_code == 2
    assert "no finished runs" in res.output
