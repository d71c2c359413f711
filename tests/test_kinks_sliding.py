"""Filippov sliding in the kink-aware solve (FlowConfig(kinks="track", sliding=True)), float64.

Tiny problem (two ReLU neurons with equal init, exp loss, mean clock): x_1 = (1, 0), y_1 = +1;
x_2 = (0.5, 1), y_2 = -1; w_j = (0, 1), v_j = -1. On x_1 both neurons sit at z = w_j1 = 0 and
the field pushes z down when the neuron is on (-v/2 + e^{2 v w_2}/4 < 0) and up when it is off
(e^{2 v w_2}/4 > 0): both slide along w_j1 = 0 with slope alpha = e^{2 v w_2}/2. The reduced flow
(w_j1 = 0, v = -w_2 by balancedness) is w_2' = w_2 e^{-2 w_2^2} / 2, in closed form
Ei(2 w_2(t)^2) = Ei(2) + t (Ei: the exponential integral, scipy.special.expi).
Before sliding was added (sliding=False) this solve chatters: MAX_EVENTS after 40 switches
at t ~ 1e-9.

Yu-style pattern data (noise 0.1, so every patch is its own surface): TwoLayerCNN n=12,
3 patches of length 6, K=4 filters, eps=1e-3, t1 = 3e-3; with sliding it reaches t1 with 3
sliding entries and 2 exits; without, it stops with MAX_EVENTS at t ~ 1.4e-3. Reference: the
flow of the smoothed activation softplus(beta z)/beta written in NumPy and solved by SciPy
Radau (analytic Jacobian): its distance to the sliding solution falls like 1/beta.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq
from scipy.special import expi, expit

import gradflow as gf
from gradflow.models import TwoLayerCNN, TwoLayerReLU
from gradflow.papers.yu import pattern_data

TINY_T1 = 5.0
TINY_TS = np.linspace(0.0, TINY_T1, 6)


def _tiny():
    model = TwoLayerReLU(w=jnp.array([[0.0, 1.0], [0.0, 1.0]]), v=jnp.array([-1.0, -1.0]))
    data = gf.Dataset(jnp.array([[1.0, 0.0], [0.5, 1.0]]), jnp.array([1.0, -1.0]))
    return model, data


def _tiny_solve(**kw):
    model, data = _tiny()
    cfg = gf.FlowConfig(rtol=1e-8, kinks="track", **kw)
    return gf.solve_flow(model, data, t1=TINY_T1, saveat=jnp.asarray(TINY_TS), config=cfg)


def _w2_closed_form(t):
    """w_2(t) of the reduced sliding flow: Ei(2 w^2) = Ei(2) + t."""
    u = brentq(lambda s: expi(s) - expi(2.0) - t, 2.0, 60.0, xtol=1e-15, full_output=False)
    assert isinstance(u, float)
    return np.sqrt(u / 2.0)


def test_tiny_sliding_matches_closed_form():
    tr = _tiny_solve(max_events=40, max_sliding=2)
    assert tr.status == gf.Status.SUCCESS, tr.describe()
    assert float(tr.t_final) == TINY_T1
    assert int(tr.stats["num_slides"]) == 2 and int(tr.stats["num_slide_exits"]) == 0
    assert int(tr.stats["num_switches"]) == 0 and int(tr.stats["peak_sliding"]) == 2
    w, v = np.asarray(tr.model.w), np.asarray(tr.model.v)
    ref = np.array([_w2_closed_form(t) for t in TINY_TS])
    assert ref[-1] > 1.1  # the flow moved: w_2 from 1 to ~1.2
    # measured: 3e-8 at rtol 1e-8
    np.testing.assert_allclose(w[:, :, 1], np.stack([ref, ref], 1), rtol=0, atol=5e-7)
    np.testing.assert_allclose(v, -np.stack([ref, ref], 1), rtol=0, atol=5e-7)
    # z = w_j1 on the sliding sample stays on the surface (the re-arming offset ~1e-12)
    assert np.max(np.abs(w[:, :, 0])) <= 1e-11


def test_tiny_without_sliding_chatters_and_is_capped():
    """The pre-sliding behaviour (sliding=False, also every model without fractional masks):
    each switch is undone within a tiny step; the cap ends it, never a hang."""
    tr = _tiny_solve(max_events=40, sliding=False)
    assert tr.status == gf.Status.MAX_EVENTS
    assert int(tr.events.count) > 40 and float(tr.t_final) < 1e-6
    assert np.all(np.asarray(tr.events.sample) == 0)


def test_sliding_slots_exhausted_is_capped():
    """Two surfaces slide but only one slot: the other chatters until max_events."""
    tr = _tiny_solve(max_events=30, max_sliding=1)
    assert tr.status == gf.Status.MAX_EVENTS
    assert int(tr.stats["num_slides"]) == 1 and int(tr.stats["peak_sliding"]) == 1
    assert float(tr.t_final) < 1e-6
    assert int(tr.stats["num_kink_stops"]) == 31  # the cap: max_events + 1 stops


# ---- Yu-style pattern data -------------------------------------------------------------------

N, D_PATCH, NUM_PATCHES, NUM_BACKGROUND, FILTERS, EPS = 12, 6, 3, 2, 4, 1e-3
YU_T1 = 3e-3  # three sliding entries and two exits by then
YU_TS = np.linspace(0.0, YU_T1, 5)


def _yu():
    data, _ = pattern_data(
        N,
        D_PATCH,
        NUM_PATCHES,
        num_background=NUM_BACKGROUND,
        noise=0.1,
        key=jax.random.key(1),
    )
    model = TwoLayerCNN.gaussian(
        (D_PATCH * NUM_PATCHES,),
        D_PATCH,
        FILTERS,
        EPS,
        key=jax.random.key(1),
    )
    return model, data


def _smoothed_flow(w0, a, patches, y, beta, ts):
    """dw/dt = -grad L_beta for f(x) = sum_k a_k mean_q softplus(beta w_k . X_q) / beta,
    L = mean_i exp(-y_i f_i): hand-written NumPy, SciPy Radau with the analytic Jacobian."""
    n, num, p = patches.shape
    k = w0.shape[0]
    c = 1.0 / (n * num)

    def parts(wf):
        z = np.einsum("kp,iqp->kiq", wf.reshape(k, p), patches)
        s = expit(beta * z)
        f = np.einsum("k,kiq->i", a, np.logaddexp(0.0, beta * z) / beta) / num
        return s, np.exp(-y * f)

    def rhs(t, wf):
        s, e = parts(wf)
        g = np.einsum("kiq,iqp->kip", s, patches)
        return (c * np.einsum("i,k,kip->kp", y * e, a, g)).ravel()

    def jac(t, wf):
        s, e = parts(wf)
        g = np.einsum("kiq,iqp->kip", s, patches)
        out = -c / num * np.einsum("i,k,l,kip,lir->kplr", e, a, a, g, g)
        ds = beta * s * (1.0 - s)
        out[np.arange(k), :, np.arange(k), :] += c * np.einsum(
            "i,k,kiq,iqp,iqr->kpr", y * e, a, ds, patches, patches
        )
        return out.reshape(k * p, k * p)

    sol = solve_ivp(
        rhs,
        (ts[0], ts[-1]),
        w0.ravel(),
        method="Radau",
        jac=jac,
        t_eval=ts,
        rtol=1e-9,
        atol=1e-14 * np.max(np.abs(w0)),
    )
    assert sol.success, sol.message
    return sol.y.T.reshape(len(ts), k, p)


def test_yu_pattern_set_slides_to_t1_and_matches_smoothed_limit():
    model, data = _yu()
    cfg = gf.FlowConfig(rtol=1e-10, kinks="track", max_events=1000)
    tr = gf.solve_flow(model, data, loss="exp", t1=YU_T1, saveat=jnp.asarray(YU_TS), config=cfg)
    assert tr.status == gf.Status.SUCCESS, tr.describe()
    assert int(tr.stats["num_slides"]) > 0 and int(tr.stats["num_slide_exits"]) > 0
    w = np.asarray(tr.model.w)
    n, num, p = N, NUM_PATCHES, D_PATCH
    patches = np.asarray(data.x).reshape(n, num, p)
    y, a, w0 = np.asarray(data.y), np.asarray(model.a), np.asarray(model.w)
    # same model and loss: the NumPy loss at t0 (beta -> inf: relu) equals gradflow's
    f0 = np.einsum("k,kiq->i", a, np.maximum(np.einsum("kp,iqp->kiq", w0, patches), 0)) / num
    np.testing.assert_allclose(float(tr.loss[0]), np.mean(np.exp(-y * f0)), rtol=1e-14)
    # the smoothed flow converges to the sliding solution like 1/beta (beta * eps = 500, 4000;
    # measured relative errors 3.9e-3 and 4.4e-4); a boundary-layer (log beta) / beta term
    # spoils Richardson extrapolation, so the test checks the rate instead
    errs = []
    for beta in (5e2 / EPS, 4e3 / EPS):
        ws = _smoothed_flow(w0, a, patches, y, beta, YU_TS)
        errs.append(np.max(np.abs(ws - w)) / np.max(np.abs(w)))
    assert errs[1] <= 6e-4, errs
    assert 5.0 <= errs[0] / errs[1] <= 12.0, errs  # 8x beta: ~8x smaller, no plateau


def test_yu_without_sliding_hits_max_events():
    model, data = _yu()
    cfg = gf.FlowConfig(rtol=1e-10, kinks="track", max_events=200, sliding=False)
    tr = gf.solve_flow(model, data, loss="exp", t1=YU_T1, saveat=3, config=cfg)
    assert tr.status == gf.Status.MAX_EVENTS
    assert float(tr.t_final) < 1e-2


def _full_yu():
    data, _ = pattern_data(40, 8, 4, num_background=3, noise=0.1, key=jax.random.key(0))
    model = TwoLayerCNN.gaussian((32,), 8, 8, 1e-3, key=jax.random.key(1))
    return model, data


@pytest.mark.slow
def test_full_yu_pattern_set_runs_to_t1():
    """The issue's case: n=40, 4 patches of length 8, 3 backgrounds (noise 0.1), K=8 filters,
    eps=1e-3, t1=200. Without sliding: MAX_EVENTS at t ~ 1.3e-3 (one (filter, patch) pair
    chattering); with sliding it reaches t1 (measured at rtol 1e-8: 93 sliding entries, 85
    exits; ~50 s on 2 busy cores) and the loss never increases."""
    model, data = _full_yu()
    ts = np.array([0.0, 1e-2, 1.0, 50.0, 200.0])
    cfg = gf.FlowConfig(rtol=1e-10, kinks="track", max_events=4000)
    tr = gf.solve_flow(model, data, loss="exp", t1=200.0, saveat=jnp.asarray(ts), config=cfg)
    assert tr.status == gf.Status.SUCCESS, tr.describe()
    assert float(tr.t_final) == 200.0 and int(tr.stats["num_slides"]) > 16
    loss = np.asarray(tr.loss)
    assert np.all(np.diff(loss) <= 1e-12 * loss[0]) and loss[-1] < 0.5 * loss[0]


def _full_yu_window(ts):
    """The full Yu set solved kink-aware (rtol 1e-10) to t = 1e-2, saved at ``ts``: model,
    data, config, w at ``ts``, and the NumPy inputs of ``_smoothed_flow``."""
    model, data = _full_yu()
    cfg = gf.FlowConfig(rtol=1e-10, kinks="track", max_events=4000)
    tr = gf.solve_flow(model, data, loss="exp", t1=1e-2, saveat=jnp.asarray(ts), config=cfg)
    assert tr.status == gf.Status.SUCCESS, tr.describe()
    patches = np.asarray(data.x).reshape(40, 4, 8)
    y, a, w0 = np.asarray(data.y), np.asarray(model.a), np.asarray(model.w)
    return model, data, cfg, np.asarray(tr.model.w), patches, y, a, w0


@pytest.mark.slow
def test_full_yu_early_window_matches_smoothed_limit():
    """The full Yu set on [0, 1e-2] against the smoothed flow at beta*eps = 1.6e4 and 1.28e5.

    At beta*eps <= 4000 (the values the small set uses) the smoothed flow of filter 0 ends 4%
    away (3.99e-2 at beta*eps = 500 and 3.98e-2 at 4000). This is NOT a sliding error. Two
    kink surfaces of filter 0 meet near the trajectory at t ~ 1.5e-3: z(5,3) = 0 and
    z(0,1) = 0 (nearly parallel patches, cos 0.99), and whichever entry crosses first decides
    filter 0's fate. (5,3) switching on nearly stops z(0,1) (dz/dt -6.1e-3 -> -6.5e-5).
    (0,1) switching off turns z(5,3) back (+4.8e-3 -> -1.2e-3), and with (0,1) off the
    surface z(5,3) = 0 repels. So (on, off) and (off, off) are both Filippov continuations
    at the corner, and the flow is discontinuous across the states whose trajectory meets it.

    The exact flow misses the corner by 1.3e-6 in z (1.6e-3 of filter 0's largest |z|). By
    t = 1e-3 the smoothed flow carries its ordinary O(1/beta) state error (3e-4 of max|w| at
    beta = 4e6), enough to put it on the other side; the threshold lies between beta = 4.0e6
    and 4.3e6. Measured with solve_flow restarted at t = 1e-3 on the segment from our state
    to the beta = 4e6 one: the outcome jumps between 0.875 and 0.8875 of the way. The
    beta = 4e6 flow restarted from our state follows ours, and ours restarted from its state
    follows it.

    From beta = 4.3e6 on the smoothed flow takes our branch, at distance 1.0e4 / beta
    (2.3e-3 at 4.3e6, 1.26e-3 at 8e6, 6.3e-4 at 1.6e7, 3.2e-4 at 3.2e7, 1.6e-4 at 6.4e7,
    7.9e-5 at 1.28e8, 4.0e-5 at 2.56e8). The sliding entries' alphas equal the limit of
    sigmoid(beta z): filter 0, (35,3), alpha 0.8611 at t = 3e-3.
    """
    ts = np.array([0.0, 2.5e-3, 5e-3, 1e-2])
    _, _, _, w, patches, y, a, w0 = _full_yu_window(ts)
    errs = []
    for beta in (1.6e7, 1.28e8):
        ws = _smoothed_flow(w0, a, patches, y, beta, ts)
        errs.append(np.max(np.abs(ws - w)) / np.max(np.abs(w)))
    # measured 6.3e-4 and 7.9e-5: 8x beta, 8x closer (no plateau, no other branch)
    assert errs[1] <= 1.2e-4 and 6.0 <= errs[0] / errs[1] <= 10.0, errs


@pytest.mark.slow
def test_full_yu_beta_4e6_branch_is_set_by_the_state_at_1e3():
    """Why beta = 4e6 is too small a reference on the full Yu set (see the test above): by
    t = 1e-3 the two flows differ only by the smoothing error (3e-4 of max|w|), and each one,
    restarted from the OTHER's state at t = 1e-3, lands on the other's branch at t = 1e-2
    (measured: filter 0 3.6e-4 and 2.5e-3 from it, while the two branches are 4.0e-2 apart).
    So no sliding or switching choice after t = 1e-3 tells them apart: the state does."""
    ts = np.array([0.0, 1e-3, 1e-2])
    model, data, cfg, w, patches, y, a, w0 = _full_yu_window(ts)
    ws = _smoothed_flow(w0, a, patches, y, 4e6, ts)
    scale = np.max(np.abs(w))

    def dist0(u, v):  # filter 0, relative to max|w|
        return np.max(np.abs(u[0] - v[0])) / scale

    assert dist0(ws[1], w[1]) <= 1e-3  # measured 3.0e-4 at t = 1e-3
    assert dist0(ws[2], w[2]) >= 3e-2  # measured 4.0e-2 at t = 1e-2: two branches
    # ours from the smoothed state: the smoothed branch
    m = eqx.tree_at(lambda mm: mm.w, model, jnp.asarray(ws[1]))
    tr2 = gf.solve_flow(m, data, loss="exp", t1=9e-3, config=cfg)
    assert tr2.status == gf.Status.SUCCESS, tr2.describe()
    assert dist0(np.asarray(tr2.final.w), ws[2]) <= 1e-2  # measured 3.6e-4
    # the smoothed flow from our state: our branch
    back = _smoothed_flow(w[1], a, patches, y, 4e6, np.array([1e-3, 1e-2]))
    assert dist0(back[-1], w[2]) <= 1e-2  # measured 2.5e-3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"max_sliding": 0}, "max_sliding"), ({"sliding": "yes"}, "sliding must be True or False")],
)
def test_sliding_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gf.FlowConfig(kinks="track", **kwargs)


def test_fractional_mask_is_the_convex_combination():
    """masked_call with a float mask m = the slope m + (1 - m) * slope: at z = 0 its gradient
    is the convex combination of the on and off gradients (what the sliding field uses)."""
    x = jnp.array([1.0, 0.0])
    model = TwoLayerReLU(w=jnp.array([[0.0, 1.0]]), v=jnp.array([-2.0]))
    assert model.fractional_mask
    grads = [
        jax.grad(lambda m, a=a: m.masked_call(x, jnp.array([a])))(model) for a in (0.0, 0.3, 1.0)
    ]
    np.testing.assert_allclose(grads[1].w, 0.3 * grads[2].w + 0.7 * grads[0].w, rtol=1e-15)
    np.testing.assert_allclose(grads[2].w, [[-2.0, 0.0]])  # by hand: v * x
    cnn = TwoLayerCNN.gaussian((12,), 6, 2, 1.0, activation="leaky_relu", key=jax.random.key(0))
    xs = jnp.arange(12.0) / 12.0
    m = jnp.array([0.25, 1.0, 0.0, 0.5])
    z = np.asarray(cnn.preactivations(xs))
    slope = 0.01  # the default leaky slope of TwoLayerCNN
    want = np.sum(np.asarray(cnn.a) * ((m + (1 - m) * slope) * z).reshape(2, 2).mean(1))
    np.testing.assert_allclose(cnn.masked_call(xs, m), want, rtol=1e-13)
