"""Kink-aware gradient flow of DeepCNN (conv + max-pool + dense, relu / leaky relu), float64.

The reference is written here, independently of gradflow's model and solver: the network as
a flat function of a parameter vector with explicit patch sums (no lax.conv), its activation
pattern frozen (a side per conv / dense unit and the index of the maximum of every pooling
window), its gradient by jax.grad, integrated by SciPy's DOP853 at rtol 1e-12 with one
terminal event on the smallest signed constraint (s * z for a unit, v_max - v_other for a
window); at an event the crossed unit flips side (or the window's maximum moves to the entry
that caught up) and the integration restarts.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import gradflow as gf
from gradflow.models import AbstractKinkModel, DeepCNN

N, T1 = 4, 2.0
TS = np.linspace(0.0, T1, 5)


def _problem(activation, pools, t1=T1, seed=3):
    in_shape = (1, 5, 5) if pools[0] > 1 else (1, 4, 4)
    net = DeepCNN.init(in_shape, (2,), kernel=2, pools=pools, dense=(3,),
                       activation=activation, scale=1.0, bias_scale=0.1, key=jax.random.key(seed))
    x = jax.random.normal(jax.random.key(4), (N, int(np.prod(in_shape))))
    return net, gf.Dataset(x, jnp.array([1.0, 2.0, 1.5, 1.0]))


# ------------------------------------------------------------------ independent reference
class _Flat:
    """The DeepCNN of ``net`` as a function of a flat parameter vector, pattern frozen."""

    def __init__(self, net, data):
        self.shapes = [np.shape(a) for a in self._leaves(net)]
        self.c, self.hh, self.ww = net.in_shape
        self.k = net.weights[0].shape[-1]
        self.p = net.pools[0]
        self.slope = net.leaky_slope if net.activation == "leaky_relu" else 0.0
        self.x = np.asarray(data.x).reshape(-1, self.c, self.hh, self.ww)
        self.y = np.asarray(data.y)
        self.grad = jax.jit(jax.grad(self.loss))
        self.cons = jax.jit(self.constraints)

    @staticmethod
    def _leaves(net):
        return [net.weights[0], net.biases[0], net.weights[1], net.biases[1], net.head_w,
                net.head_b]

    def pack(self, net):
        return np.concatenate([np.ravel(np.asarray(a)) for a in self._leaves(net)])

    def unpack(self, th):
        out, i = [], 0
        for s in self.shapes:
            m = int(np.prod(s))
            out.append(th[i:i + m].reshape(s))
            i += m
        return out

    def conv(self, w, b):  # (n, co, H', W'): explicit sum over kernel offsets
        k, ho, wo = self.k, self.hh - self.k + 1, self.ww - self.k + 1
        z = sum(jnp.einsum("oc,ncij->noij", w[:, :, a, bb], self.x[:, :, a:a + ho, bb:bb + wo])
                for a in range(k) for bb in range(k))
        return z + b[None, :, None, None]

    def windows(self, h):  # (n, co, hp, wp, p*p), row-major inside a window
        n, co, ho, wo = h.shape
        p = self.p
        hp, wp = ho // p, wo // p
        return jnp.stack([h[:, :, a:hp * p:p, bb:wp * p:p] for a in range(p) for bb in range(p)],
                         axis=-1)

    def forward(self, th, pat):
        w1, b1, v, c, u, u0 = self.unpack(th)
        z1 = self.conv(w1, b1)
        h = jnp.where(pat["conv"], z1, self.slope * z1)
        if self.p > 1:  # the frozen argmax of every window
            h = jnp.take_along_axis(self.windows(h), pat["arg"][..., None], axis=-1)[..., 0]
        h = h.reshape(h.shape[0], -1)
        z2 = h @ v.T + c
        h2 = jnp.where(pat["dense"], z2, self.slope * z2)
        return h2 @ u + u0, z1, z2

    def loss(self, th, pat):
        f = self.forward(th, pat)[0]
        return 0.5 * jnp.mean((f - self.y) ** 2)

    def constraints(self, th, pat):
        """Signed constraints, all > 0 while the pattern is right (flat)."""
        _, z1, z2 = self.forward(th, pat)
        s1 = jnp.where(pat["conv"], z1, -z1)
        s2 = jnp.where(pat["dense"], z2, -z2)
        parts = [s1.ravel(), s2.ravel()]
        if self.p > 1:
            win = self.windows(jnp.where(pat["conv"], z1, self.slope * z1))
            top = jnp.take_along_axis(win, pat["arg"][..., None], axis=-1)
            gap = top - win  # >= 0; the argmax's own entry is 0: masked out
            own = jnp.arange(win.shape[-1]) == pat["arg"][..., None]
            # relu: two entries that are both off are both exactly 0, never a switch
            on = self.windows(jnp.asarray(pat["conv"]))
            top_on = jnp.take_along_axis(on, pat["arg"][..., None], axis=-1)
            dead = (self.slope == 0.0) & ~on & ~top_on
            parts.append(jnp.where(own | dead, jnp.inf, gap).ravel())
        return jnp.concatenate(parts)

    def pattern(self, th):
        w1, b1, v, c, *_ = self.unpack(th)
        z1 = np.asarray(self.conv(w1, b1))
        pat = {"conv": z1 > 0}
        h = np.where(z1 > 0, z1, self.slope * z1)
        if self.p > 1:
            win = np.asarray(self.windows(jnp.asarray(h)))
            pat["arg"] = np.argmax(win, axis=-1)
            h = np.max(win, axis=-1)
        z2 = h.reshape(h.shape[0], -1) @ np.asarray(v).T + np.asarray(c)
        pat["dense"] = z2 > 0
        return pat


def _reference(net, data, ts):
    fl = _Flat(net, data)
    th = fl.pack(net)
    pat = fl.pattern(th)
    atol = 1e-14 * np.sqrt(np.mean(th**2))
    t, out, switches = 0.0, {}, 0
    offset = np.zeros(np.size(fl.cons(th, pat)))
    while True:
        def event(tt, s, pat=pat, offset=offset):
            return float(jnp.min(fl.cons(s, pat) + offset))

        event.terminal, event.direction = True, -1
        sol = solve_ivp(lambda tt, s, pat=pat: -np.asarray(fl.grad(s, pat)), (t, ts[-1]), th,
                        method="DOP853", rtol=1e-12, atol=atol, events=event, dense_output=True)
        assert sol.status >= 0, sol.message
        t_end = sol.t[-1]
        for tk in ts:
            if t <= tk <= t_end and tk not in out:
                out[tk] = sol.sol(tk)
        th, t = sol.y[:, -1], t_end
        if sol.status == 0:
            return np.stack([out[tk] for tk in ts]), switches, fl
        # the crossed constraint: flip the unit or move the window's maximum
        cons = np.asarray(fl.cons(th, pat))
        j = int(np.argmin(cons))
        n1, n2 = pat["conv"].size, pat["dense"].size
        if j < n1:
            pat["conv"].flat[j] = ~pat["conv"].flat[j]
        elif j < n1 + n2:
            pat["dense"].flat[j - n1] = ~pat["dense"].flat[j - n1]
        else:
            pp = fl.p * fl.p
            w = (j - n1 - n2) // pp
            pat["arg"] = pat["arg"].copy()
            old = int(pat["arg"].flat[w])
            pat["arg"].flat[w] = (j - n1 - n2) % pp
            j = n1 + n2 + w * pp + old  # the entry that is now at ~0: the old maximum
        # re-arm: the flipped entry starts at ~0; its event fires only once it is clearly back
        offset = np.zeros_like(offset)
        offset[j] = 1e-13 * np.abs(cons[np.isfinite(cons)]).max()
        switches += 1
        assert switches < 500, "reference: too many switches"


def _params(tree):
    return np.concatenate([np.ravel(np.asarray(a)) for a in _Flat._leaves(tree)])


def _solve(net, data, rtol, t1=T1, ts=TS):
    cfg = gf.FlowConfig(rtol=rtol, kinks="track")
    return gf.solve_flow(net, data, loss="square", t1=t1, saveat=jnp.asarray(ts), config=cfg)


# sliding-free windows (probed): relu without pooling to t = 2 (8 switches); leaky relu
# until a conv unit slides at t = 1.89; with 2x2 max pooling until a dense unit slides at 0.82
# (the CI runs the pooled case, which covers conv, pool and dense units; the other two are slow)
CASES = [
    pytest.param("relu", (1,), 2.0, marks=pytest.mark.slow),
    pytest.param("leaky_relu", (1,), 1.5, marks=pytest.mark.slow),
    ("relu", (2,), 0.6),
]


@pytest.mark.parametrize(("activation", "pools", "t1"), CASES)
def test_deep_cnn_track_matches_scipy_reference(activation, pools, t1):
    net, data = _problem(activation, pools, seed=5)
    ts = np.linspace(0.0, t1, 5)
    ref, switches, _ = _reference(net, data, ts)
    assert switches > 0
    tr = _solve(net, data, 1e-10, t1=t1, ts=ts)
    assert tr.status == gf.Status.SUCCESS, tr.describe()
    c = int(tr.stats["num_switches"])
    if pools == (1,):  # one unit, one switch: the counts agree
        assert c == switches
    else:  # some switch is a max-pool comparison (flat indices 2*4*4 .. 2*4*4 + 2*2*2*3)
        neurons = np.asarray(tr.events.neuron[:c])
        assert np.any((neurons >= 32) & (neurons < 56)), neurons
    got = np.stack([_params(tr.at(i)) for i in range(len(ts))])
    err = np.abs(got - ref).max() / np.abs(ref).max()
    print(activation, pools, "switches", c, "rel err", err)
    assert err <= 1e-8, err


def test_deep_cnn_kink_protocol():
    net, data = _problem("relu", (2,), seed=5)
    assert isinstance(net, AbstractKinkModel) and gf.supports_kinks(net)
    assert net.kink_degree == 2  # conv (degree 1) -> dense (degree 2)
    # units: 2 x 4 x 4 conv entries, 2 x 2 x 2 windows x 3 comparisons, 3 dense
    z = jax.vmap(net.preactivations)(data.x)
    assert z.shape == (N, 32 + 24 + 3)
    # the frozen network at the true pattern is the network; its pooled maxima are the maxima
    np.testing.assert_allclose(jax.vmap(net.masked_call)(data.x, z > 0), jax.vmap(net)(data.x),
                               rtol=1e-14, atol=1e-15)
    fl = _Flat(net, data)
    th = fl.pack(net)
    f_ref = np.asarray(fl.forward(th, fl.pattern(th))[0])
    np.testing.assert_allclose(np.asarray(jax.vmap(net)(data.x)), f_ref, rtol=1e-12)


@pytest.mark.slow
def test_deep_cnn_vmap_equals_loop():
    # vmap over two inits == a loop of single solves (no pooling; t1 = 1, switches on both)
    nets = [_problem("relu", (1,), seed=5)[0], _problem("relu", (1,), seed=3)[0]]
    data = _problem("relu", (1,))[1]
    ts = np.linspace(0.0, 1.0, 5)  # the compiled solve of the relu SciPy test, reused
    loop = [_solve(m, data, 1e-10, t1=1.0, ts=ts) for m in nets]
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *nets)
    batch = eqx.filter_vmap(lambda m: _solve(m, data, 1e-10, t1=1.0, ts=ts))(stacked)
    for i, tr in enumerate(loop):
        assert tr.status == gf.Status.SUCCESS and int(tr.stats["num_switches"]) > 0
        assert int(batch.stats["num_switches"][i]) == int(tr.stats["num_switches"])
        np.testing.assert_allclose(
            _params(jax.tree_util.tree_map(lambda a, i=i: a[i], batch.final)),
            _params(tr.final), rtol=1e-12, atol=1e-15)


def test_deep_cnn_smooth_activation_refuses_track():
    net, data = _problem("relu", (1,))
    soft = DeepCNN.init((1, 4, 4), (2,), kernel=2, dense=(3,), activation="softplus",
                        key=jax.random.key(0))
    assert not gf.supports_kinks(soft)
    with pytest.raises(ValueError, match="smooth"):
        gf.solve_flow(soft, data, loss="square", t1=1.0,
                      config=gf.FlowConfig(kinks="track"))
    with pytest.raises(ValueError, match="'relu' or 'leaky_relu'"):
        soft.preactivations(data.x[0])
    del net
