"""Metrics: mu, cones, balancedness, stable rank, alignment time (vs the root-found event)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradflow as gf
from gradflow.data import Dataset
from gradflow.metrics import (
    CONE_DEAD,
    CONE_MINUS,
    CONE_NAMES,
    CONE_OTHER,
    CONE_PLUS,
    alignment_time,
    balancedness,
    cone_gap,
    cones,
    first_crossing,
    mu,
    numerical_rank,
    sigma_min,
    stable_rank,
)
from gradflow.models import TwoLayerReLU
from gradflow.papers.min_mallada_vidal import separated

# positives (1, 0), (0.8, 0.6); negative (-0.6, -0.8): mu = 0.6
HAND = Dataset(np.array([[1.0, 0.0], [0.8, 0.6], [-0.6, -0.8]]), np.array([1.0, 1.0, -1.0]))


def test_mu_hand_and_scale_invariance():
    assert float(mu(HAND)) == pytest.approx(0.6, abs=1e-15)
    scaled = Dataset(HAND.x * np.array([[3.0], [0.1], [7.0]]), HAND.y)
    assert float(mu(scaled)) == pytest.approx(0.6, abs=1e-15)
    flipped = Dataset(HAND.x, np.array([1.0, -1.0, -1.0]))  # (0.8,0.6) now negative
    assert float(mu(flipped)) == pytest.approx(-0.96, abs=1e-15)


def test_cones_on_hand_built_neurons():
    w = jnp.array([[1.0, 0.5], [-0.6, -0.8], [-1.0, 1.0], [1.0, -1.0], [0.1, -1.0]])
    v = jnp.array([1.0, -1.0, 1.0, -1.0, 1.0])
    model = TwoLayerReLU(w=w, v=v)
    codes = np.asarray(cones(model, HAND))
    assert codes.tolist() == [CONE_PLUS, CONE_MINUS, CONE_DEAD, CONE_OTHER, CONE_OTHER]
    assert [CONE_NAMES[c] for c in codes] == ["plus", "minus", "dead", "other", "other"]
    # cone_gap <= 0 iff every neuron is in its predicted cone or dead
    assert float(cone_gap(model, HAND)) > 0
    good = TwoLayerReLU(w=w[:3], v=v[:3])
    assert float(cone_gap(good, HAND)) < 0
    wrong_sign = TwoLayerReLU(w=w[:1], v=-v[:1])  # in S_+ but v < 0 predicts S_-
    assert float(cone_gap(wrong_sign, HAND)) > 0


def test_balancedness():
    m = TwoLayerReLU(w=jnp.array([[1.0, 1.0], [0.0, 3.0]]), v=jnp.array([2.0, -1.0]))
    np.testing.assert_allclose(balancedness(m), [2.0, -8.0])
    b = TwoLayerReLU.balanced(3, 7, 1e-4, key=jax.random.key(0))
    np.testing.assert_allclose(balancedness(b), 0.0, atol=1e-22)


def test_stable_rank_and_friends():
    u, v = jnp.arange(1.0, 5.0), jnp.array([1.0, -2.0, 0.5])
    assert float(stable_rank(jnp.outer(u, v))) == pytest.approx(1.0, rel=1e-12)
    for k in (1, 3, 5):
        assert float(stable_rank(jnp.eye(k))) == pytest.approx(k, rel=1e-12)
    assert float(stable_rank(jnp.diag(jnp.array([2.0, 1.0])))) == pytest.approx(1.25)
    assert float(stable_rank(jnp.zeros((3, 2)))) == 0.0
    batch = jax.vmap(stable_rank)(jnp.stack([jnp.eye(2), jnp.diag(jnp.array([1.0, 0.0]))]))
    np.testing.assert_allclose(batch, [2.0, 1.0])
    assert int(numerical_rank(jnp.outer(u, v))) == 1
    assert float(sigma_min(jnp.diag(jnp.array([3.0, 0.5])))) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="W must be a 2-D"):
        stable_rank(jnp.ones(3))


def test_first_crossing_interpolates():
    ts = jnp.array([0.0, 1.0, 2.0, 3.0, jnp.inf])
    assert float(first_crossing(ts, jnp.array([1.0, 0.5, -0.5, -1.0, -9.0]))) == 1.5
    assert np.isnan(float(first_crossing(ts, jnp.array([1.0, 0.5, 0.2, 0.1, -9.0]))))
    assert float(first_crossing(ts, jnp.array([-1.0, 0.5, 0.2, 0.1, 0.0]))) == 0.0
    # unused (inf) slots between real saves are skipped when interpolating
    gaps = jnp.array([1.0, 0.5, 9.0, -0.5])
    assert float(first_crossing(jnp.array([0.0, 1.0, jnp.inf, 3.0]), gaps)) == 2.0


DELTA = 1e-2
T1 = 40.0
N_SAVE = 161


@pytest.fixture(scope="module")
def runs():
    """One mu-separated problem, solved to T1 and (separately) up to the aligned event."""
    data, m = separated(16, 4, 0.3, key=jax.random.key(1), family="cone")
    model = TwoLayerReLU.balanced(4, 12, 1e-6, key=jax.random.key(2))
    ts = jnp.linspace(0.0, T1, N_SAVE)
    full = gf.solve_flow(model, data, t1=T1, saveat=ts)
    stopped = gf.solve_flow(model, data, t1=T1, saveat=ts, stop=gf.aligned(DELTA))
    return data, m, full, stopped


def test_alignment_time_matches_event_time(runs):
    data, _, full, stopped = runs
    assert full.status == gf.Status.SUCCESS and stopped.status == gf.Status.EVENT
    t_event = float(stopped.t_event)
    assert 1.0 < t_event < T1
    res = alignment_time(full, data, DELTA)
    assert res.reached and res.clock == "mean" and res.criterion == "cos"
    spacing = T1 / (N_SAVE - 1)
    assert abs(res.time - t_event) <= spacing
    # the event-stopped trajectory holds the exact crossing in its final state
    res_stop = alignment_time(stopped, data, DELTA)
    assert res_stop.reached and res_stop.time == pytest.approx(t_event, abs=1e-9)
    # a tighter delta is reached later
    assert alignment_time(full, data, 1e-3).time > res.time
    # the same run cut before alignment: NaN with a reason
    cut = int(np.searchsorted(np.asarray(full.ts), t_event)) - 2
    short = eqx.tree_at(
        lambda t: (t.ts, t.ys, t.final, t.t_final),
        full,
        (full.ts[:cut], jax.tree.map(lambda a: a[:cut], full.ys), full.at(cut - 1),
         full.ts[cut - 1]),
    )
    never = alignment_time(short, data, DELTA)
    assert not never.reached and np.isnan(never.time) and "not reached" in never.reason


def test_alignment_time_core_jit_vmap(runs):
    data, _, full, _ = runs
    core = jax.jit(lambda dl: alignment_time(full, data, dl).time)
    deltas = jnp.array([1e-2, 1e-3])
    batch = jax.vmap(core)(deltas)
    loop = [float(core(dl)) for dl in deltas]
    np.testing.assert_allclose(batch, loop, rtol=1e-12)
    # the wrapper adds the final state (t1 here, already saved): same number
    assert float(batch[0]) == pytest.approx(alignment_time(full, data, 1e-2).time, rel=1e-12)
    # a batched (vmapped-shape) Trajectory gives one time per run
    two = jax.tree.map(lambda a: jnp.stack([a, a]), full)
    res = alignment_time(two, data, 1e-2)
    np.testing.assert_allclose(res.time, [batch[0], batch[0]], rtol=1e-12)
    assert res.reached.tolist() == [True, True] and "2 of 2" in res.reason


def test_alignment_time_rejects_bad_input(runs):
    data, _, full, _ = runs
    with pytest.raises(ValueError, match="criterion"):
        alignment_time(full, data, DELTA, criterion="angle")
    with pytest.raises(ValueError, match="delta"):
        alignment_time(full, data, 0.0)
    with pytest.raises(ValueError, match="saved full two-layer models"):
        alignment_time(full.summary, data, DELTA)


def test_alignment_on_separated_data_cones_and_rank(runs):
    data, m, traj, _ = runs
    assert float(m) == pytest.approx(0.3, abs=1e-9)
    cos_time = alignment_time(traj, data, 1e-3)
    cone_time = alignment_time(traj, data, 1e-3, criterion="cone")
    assert cos_time.reached and cone_time.reached
    assert cone_time.time <= cos_time.time < T1  # cos >= 1 - delta implies the cone here
    codes = np.asarray(cones(traj.final, data))
    sign = np.asarray(traj.final.v) > 0
    ok = (codes == CONE_DEAD) | (sign & (codes == CONE_PLUS)) | (~sign & (codes == CONE_MINUS))
    assert ok.all(), codes
    assert (codes == CONE_PLUS).any() and (codes == CONE_MINUS).any()
    assert float(traj.loss[-1]) < 0.2  # from 1 at init: the loss has dropped after alignment
    assert float(stable_rank(traj.final.w)) <= 2.5
    # exact flow conserves v_j^2 - |w_j|^2 (= 0 for the balanced init), relative to |W|^2
    drift = np.abs(np.asarray(balancedness(traj.final))).max()
    assert drift <= 1e-5 * float(jnp.sum(traj.final.w**2))
