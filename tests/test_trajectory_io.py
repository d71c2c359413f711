"""Trajectory.save / load_trajectory / to_table: round trips, tables, clear errors."""

import dataclasses
import hashlib
import zipfile

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradflow as gf
from gradflow.flow import SwitchLog, load_trajectory
from gradflow.models import TwoLayerReLU

CFG = gf.FlowConfig(rtol=1e-4)


@pytest.fixture(scope="module")
def data():
    x = jax.random.normal(jax.random.key(0), (12, 3))
    return gf.Dataset(x, jnp.where(x[:, 0] + 0.3 * x[:, 1] > 0, 1.0, -1.0))


@pytest.fixture(scope="module")
def relu_run(data):
    # the stop ends the run early (t ~ 15): unused save slots are inf and must round-trip
    model = TwoLayerReLU.balanced(3, 6, 1e-2, key=jax.random.key(1))
    stop = gf.loss_below(0.3)
    return model, gf.solve_flow(model, data, t1=100.0, saveat=9, stop=stop, config=CFG)


@pytest.fixture(scope="module")
def mlp_run(data):
    model = eqx.nn.MLP(3, "scalar", 5, 2, key=jax.random.key(2))
    return model, gf.solve_flow(model, data, loss="logistic", t1=1.0, saveat=5, config=CFG)


def _arrays(tree):
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))]


def _bit_equal(a, b):
    la, lb = _arrays(a), _arrays(b)
    assert len(la) == len(lb)
    for u, v in zip(la, lb, strict=True):
        assert u.dtype == v.dtype and u.shape == v.shape
        assert np.array_equal(u, v, equal_nan=True)


def _hand_hash(x, y):
    h = hashlib.sha256()
    for a in (np.asarray(x), np.asarray(y)):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def test_relu_round_trip(tmp_path, data, relu_run):
    model, traj = relu_run
    path = traj.save(tmp_path / "relu.npz")
    back = load_trajectory(path, like=model)
    _bit_equal(traj, back)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(traj)
    assert back.metadata == traj.metadata
    assert back.status == traj.status and back.describe() == traj.describe()
    # the loaded model predicts exactly what the original does, at every saved time
    pred = jax.vmap(lambda m: jax.vmap(m)(data.x))
    np.testing.assert_array_equal(pred(back.model), pred(traj.model))
    # the metadata describes the run: config fields, loss, and the data hashed by hand
    meta = back.metadata
    assert meta["config"]["rtol"] == 1e-4 and meta["config"]["solver"] == "dopri5"
    assert meta["loss"] == "Exp()" and meta["t1"] == 100.0 and meta["clock"] == "mean"
    assert "LossBelow" in meta["stop"] and back.status == gf.Status.EVENT
    assert meta["data"]["x_shape"] == [12, 3] and meta["data"]["hash"] == _hand_hash(data.x, data.y)
    assert meta["gradflow_version"] == gf.__version__


def test_mlp_round_trip_like_model_and_like_trajectory(tmp_path, data, mlp_run):
    model, traj = mlp_run
    path = traj.save(tmp_path / "mlp.npz", loss="logistic, labels +-1")
    fresh = eqx.nn.MLP(3, "scalar", 5, 2, key=jax.random.key(99))  # other weights, same arch
    for like in (fresh, traj):
        back = load_trajectory(path, like=like)
        _bit_equal(traj, back)
        np.testing.assert_array_equal(jax.vmap(back.final)(data.x), jax.vmap(traj.final)(data.x))
        at2 = back.at(2)
        np.testing.assert_array_equal(jax.vmap(at2)(data.x), jax.vmap(traj.at(2))(data.x))
        assert back.metadata["loss"] == "logistic, labels +-1"
        assert {k: v for k, v in back.metadata.items() if k != "loss"} == {
            k: v for k, v in traj.metadata.items() if k != "loss"
        }
        assert back.final.activation is model.activation  # the function came from `like`


def test_without_like_gives_arrays_and_metadata(tmp_path, mlp_run):
    _, traj = mlp_run
    back = load_trajectory(traj.save(tmp_path / "m.npz"))
    assert set(back.model) == {f"layers.{i}.{p}" for i in range(3) for p in ("weight", "bias")}
    np.testing.assert_array_equal(back.model["layers.1.weight"], traj.model.layers[1].weight)
    np.testing.assert_array_equal(back.final["layers.0.bias"], traj.final.layers[0].bias)
    assert back.metadata == traj.metadata and back.status == traj.status
    assert back.stats.keys() == traj.stats.keys()


def test_batched_round_trip_and_seed_column(tmp_path, data):
    keys = jax.random.split(jax.random.key(3), 3)

    @eqx.filter_vmap
    def run(key):
        return gf.solve_flow(
            TwoLayerReLU.balanced(3, 4, 1e-2, key=key), data, t1=2.0, saveat=4, config=CFG
        )

    traj = run(keys)
    back = load_trajectory(
        traj.save(tmp_path / "b.npz"), like=TwoLayerReLU.balanced(3, 4, 1.0, key=keys[0])
    )
    _bit_equal(traj, back)
    assert back.statuses == traj.statuses and back.describe() == traj.describe()
    table = back.to_table()
    np.testing.assert_array_equal(table["seed"], np.repeat(np.arange(3), 4))
    np.testing.assert_array_equal(table["t"], np.asarray(traj.ts).ravel())
    # seed 1's w-norm column is the norm of that seed's own w, computed by hand
    w = np.asarray(traj.ys.w)[1]
    np.testing.assert_allclose(
        table["norm.w"][table["seed"] == 1], np.sqrt((w.reshape(4, -1) ** 2).sum(1)), rtol=1e-14
    )


def test_table_columns_computed_by_hand(data, relu_run):
    _, traj = relu_run
    assert traj.status == gf.Status.EVENT
    table = traj.to_table()
    ts = np.asarray(traj.ts)
    filled = np.isfinite(ts)
    assert 1 < filled.sum() < 9 and len(table["t"]) == filled.sum()
    np.testing.assert_array_equal(table["t"], ts[filled])
    assert list(table["status"]) == ["EVENT"] * int(filled.sum())
    x, y = np.asarray(data.x), np.asarray(data.y)
    for row, i in enumerate(np.flatnonzero(filled)):
        w, v = np.asarray(traj.ys.w[i]), np.asarray(traj.ys.v[i])
        f = np.maximum(x @ w.T, 0.0) @ v  # the two-layer ReLU net, written out in NumPy
        assert table["loss"][row] == pytest.approx(np.mean(np.exp(-y * f)), rel=1e-12)
        assert table["norm.w"][row] == pytest.approx(np.sqrt((w**2).sum()), rel=1e-14)
        assert table["norm.v"][row] == pytest.approx(np.sqrt((v**2).sum()), rel=1e-14)


def test_summary_events_and_gd_round_trip(tmp_path, data, relu_run):
    model, traj = relu_run

    def norms(t, m):
        return {"w2": jnp.sum(m.w**2), "t": t}

    # gd with a summary fn: restored exactly with like=Trajectory, as a dict with like=model
    g = gf.gd(model, data, eta=0.05, steps=40, saves=4, fn=norms)
    path = g.save(tmp_path / "g.npz", config=CFG)
    back = load_trajectory(path, like=g)
    _bit_equal(g, back)
    assert back.metadata["eta"] == 0.05 and back.metadata["steps"] == 40 and back.method == "gd"
    assert back.metadata["config"]["rtol"] == 1e-4 and back.metadata["fn"].endswith("norms")
    table = back.to_table()
    np.testing.assert_allclose(table["summary.t"], 0.05 * 10 * np.arange(5), rtol=1e-12)
    assert "norm.w" not in table  # fn= saves summaries, not models
    as_dict = load_trajectory(path, like=model).summary
    np.testing.assert_array_equal(as_dict["w2"], g.summary["w2"])

    # an event log (what kinks="track" records) comes back as a SwitchLog
    log = SwitchLog(
        t=jnp.array([0.5, jnp.inf]),
        neuron=jnp.array([2, 0]),
        sample=jnp.array([7, 0]),
        direction=jnp.array([1, 0]),
        count=jnp.array(1),
        initial=jnp.ones((12, 6), bool),
    )
    logged = dataclasses.replace(traj, events=log, mode="kinks")
    kb = load_trajectory(logged.save(tmp_path / "k.npz"), like=model)
    assert isinstance(kb.events, SwitchLog) and kb.mode == "kinks"
    _bit_equal(logged, kb)


def test_errors_name_the_file(tmp_path, relu_run, mlp_run):
    model, traj = relu_run
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_trajectory(missing)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="garbage.npz.*not a readable"):
        load_trajectory(garbage)
    good = traj.save(tmp_path / "good.npz")
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="trunc.npz"):
        load_trajectory(truncated)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(ValueError, match="plain.npz.*not a gradflow trajectory"):
        load_trajectory(plain)
    lacking = tmp_path / "lacking.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(lacking, "w") as dst:
        for item in src.namelist():
            if item != "a0.npy":
                dst.writestr(item, src.read(item))
    with pytest.raises(ValueError, match="lacking.npz.*corrupt"):
        load_trajectory(lacking)
    with pytest.raises(ValueError, match="good.npz.*does not match"):
        load_trajectory(good, like=mlp_run[0])
    with pytest.raises(ValueError, match="good.npz.*does not match"):
        load_trajectory(good, like=mlp_run[1])
    wider = TwoLayerReLU.balanced(3, 7, 1e-2, key=jax.random.key(1))
    with pytest.raises(ValueError, match=r"good.npz.*shape \(6, 3\) in the file"):
        load_trajectory(good, like=wider)
    with pytest.raises(ValueError, match=r"end in \.npz"):
        traj.save(tmp_path / "x.pkl")
    with pytest.raises(ValueError, match="no folder"):
        traj.save(tmp_path / "sub" / "x.npz")


def test_data_hash_is_computed_when_read_not_per_solve(tmp_path, monkeypatch, data, relu_run):
    model, _ = relu_run
    want = _hand_hash(data.x, data.y)
    x_bytes, real, fed = np.asarray(data.x).tobytes(), hashlib.sha256, []

    class Spy:  # a sha256 that notes when it is fed x's bytes (JAX hashes other things)
        def __init__(self, *args, **kwargs):
            self._h = real(*args, **kwargs)

        def update(self, b):
            fed.extend([1] if bytes(b) == x_bytes else [])
            self._h.update(b)

        def __getattr__(self, name):
            return getattr(self._h, name)

    monkeypatch.setattr(hashlib, "sha256", Spy)
    # the same solve as relu_run (compiled already), and a plain gd
    traj = gf.solve_flow(model, data, t1=100.0, saveat=9, stop=gf.loss_below(0.3), config=CFG)
    g = gf.gd(model, data, eta=0.05, steps=8, saves=2)
    assert traj.describe() and traj.to_table()["t"].size and g.to_table()["t"].size
    assert len(fed) == 0  # neither the solves nor reading the arrays hashed the data
    assert traj.metadata["data"]["hash"] == want and len(fed) == 1  # the first read hashes
    assert want in traj.provenance and len(fed) == 1  # once
    back = load_trajectory(g.save(tmp_path / "g.npz"), like=g)  # save is a read too
    assert len(fed) == 2 and back.metadata["data"]["hash"] == want
    assert back.provenance == g.provenance
