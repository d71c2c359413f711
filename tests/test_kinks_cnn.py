"""Kink-aware solve (FlowConfig(kinks="track")) for TwoLayerCNN on Yu-style pattern data, float64.

Problem: n=8, 2 patches of length 6 (2 background patterns), K=4 filters, eps=1e-2, exp loss,
t in [0, 30]; 40 (relu) / 32 (leaky) switches at rtol 1e-10, no sliding contact (the
larger sizes of tests/test_cnn.py slide along w_k . b = 0 and hit MAX_EVENTS within t ~ 2e-3).
Reference: an independent bare Dopri8 solve at rtol 1e-13.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradflow as gf
from gradflow.flow import AUTO_RTOL, supports_kinks, wants_kinks
from gradflow.models import TwoLayerCNN
from gradflow.papers.yu import pattern_data

T1 = 30.0
TS = jnp.linspace(0.0, T1, 17)


def _data():
    data, _ = pattern_data(8, 6, 2, num_background=2, key=jax.random.key(2))
    return data


def _model(activation="relu", **kw):
    return TwoLayerCNN.gaussian(
        (12,), 6, 4, 1e-2, activation=activation, key=jax.random.key(9), **kw
    )


def _solve(model, data, kinks, rtol, solver="dopri5"):
    cfg = gf.FlowConfig(rtol=rtol, kinks=kinks, solver=solver)
    return gf.solve_flow(model, data, loss="exp", t1=T1, saveat=TS, config=cfg)


def _rel(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_cnn_kink_solve_matches_tight_bare_reference(activation):
    data, model = _data(), _model(activation)
    ref = _solve(model, data, "off", 1e-13, solver="dopri8")
    assert ref.status == gf.Status.SUCCESS
    tr = _solve(model, data, "track", 1e-10)
    assert tr.status == gf.Status.SUCCESS, tr.describe()
    assert int(tr.stats["num_switches"]) > 0
    assert int(tr.events.count) == int(tr.stats["num_switches"])
    assert _rel(tr.model.w, ref.model.w) <= 1e-8
    assert _rel(tr.final.w, ref.final.w) <= 1e-8
    np.testing.assert_allclose(tr.loss, ref.loss, rtol=1e-8)
    # SwitchLog "neuron" is the flat (filter, patch) index k * P + q
    c = int(tr.events.count)
    kp = model.num_filters * model.num_patches
    assert tr.events.initial.shape == (data.x.shape[0], kp)
    assert np.all(np.asarray(tr.events.neuron[:c]) < kp)


def _true_mask(model, x):
    return model.preactivations(x) > 0


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("pooling", ["mean", "sum", "none"])
def test_masked_call_with_true_mask_equals_call(activation, pooling):
    data = _data()
    model = _model(activation, pooling=pooling)
    kp = model.num_filters * model.num_patches
    for x in data.x:
        z = model.preactivations(x)
        assert z.shape == (kp,)
        m = _true_mask(model, x)
        want = model(x)
        np.testing.assert_allclose(model.masked_call(x, m), want, rtol=1e-13, atol=1e-16)
        np.testing.assert_allclose(
            model.masked_call(x, m.reshape(model.num_filters, model.num_patches)),
            want,
            rtol=1e-13,
            atol=1e-16,
        )
    # pre-activations are linear in w: z(w1 + 2 w2) = z(w1) + 2 z(w2)
    x = data.x[0]
    fields = {f: getattr(model, f) for f in model.__dataclass_fields__}

    def z_of(w):
        return TwoLayerCNN(**{**fields, "w": w}).preactivations(x)

    w1, w2 = model.w, jnp.sin(model.w)
    np.testing.assert_allclose(z_of(w1 + 2 * w2), z_of(w1) + 2 * z_of(w2), rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("activation", ["tanh", "xsigmoid"])
def test_smooth_activation_rejects_track_and_auto_falls_back(activation):
    data, model = _data(), _model(activation)
    assert not supports_kinks(model)
    with pytest.raises(ValueError, match="smooth"):
        _solve(model, data, "track", 1e-8)
    cfg = gf.FlowConfig(rtol=AUTO_RTOL / 10, kinks="auto")
    assert not wants_kinks(cfg, model)
    tr = gf.solve_flow(model, data, loss="exp", t1=1.0, saveat=3, config=cfg)
    assert tr.status == gf.Status.SUCCESS
    assert "num_switches" not in tr.stats
    with pytest.raises(ValueError, match="piecewise-linear"):
        model.masked_call(data.x[0], _true_mask(model, data.x[0]))


def test_relu_cnn_auto_tracks():
    model = _model()
    assert supports_kinks(model)
    assert wants_kinks(gf.FlowConfig(rtol=AUTO_RTOL / 10, kinks="auto"), model)
    assert not wants_kinks(gf.FlowConfig(rtol=AUTO_RTOL * 10, kinks="auto"), model)
