"""Public numerical functions that no test compared with a value computed another way (issue 16).

Each is checked here against NumPy or a hand computation of its definition. The rule (every
public numerical function has at least one such test) and the list are in
benchmarks/results/mutation.md. Pure array code: fast.
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import gradflow as gf
from gradflow.metrics import numerical_rank, rank_rtol, sigma_min, singular_values, stable_rank
from gradflow.models import Linear
from gradflow.papers.min_mallada_vidal import bound_variable, fraction_under
from gradflow.papers.yu import (
    PatternSet,
    accuracy,
    assignment,
    best_key_cos,
    filter_norms,
    is_key_filter,
    key_background_ratio,
    margins,
    pattern_cos,
)
from gradflow.papers.zhou import condensation_index, cos_to_direction, order_by_projection


def test_rank_measures_match_numpy_svd():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 2)) @ rng.normal(size=(2, 5))  # rank 2
    a = a + np.outer(rng.normal(size=6), rng.normal(size=5)) * 1e-3  # rank 3, a small third
    s = np.linalg.svd(a, compute_uv=False)
    np.testing.assert_allclose(singular_values(jnp.asarray(a)), s, rtol=1e-12)
    assert float(sigma_min(jnp.asarray(a))) == pytest.approx(s[-1], rel=1e-8, abs=1e-14)
    fro2, spec2 = float(np.sum(a * a)), float(np.linalg.norm(a, 2) ** 2)
    assert float(stable_rank(jnp.asarray(a))) == pytest.approx(fro2 / spec2, rel=1e-12)
    assert int(numerical_rank(jnp.asarray(a))) == np.linalg.matrix_rank(a) == 3
    assert int(numerical_rank(jnp.asarray(a), rtol=1e-2)) == 2  # the 1e-3 direction drops
    assert rank_rtol(a) == 6 * np.finfo(np.float64).eps
    assert float(stable_rank(jnp.zeros((3, 2)))) == 0.0


def test_log_times_by_numpy():
    ts = np.asarray(gf.log_times(50.0, num=7))
    np.testing.assert_allclose(ts, np.r_[0.0, np.geomspace(5e-3, 50.0, 6)], rtol=1e-13)
    ts2 = np.asarray(gf.log_times(3.0, num=4, t_min=0.3))
    np.testing.assert_allclose(ts2, [0.0, 0.3, 0.3 * 10 ** (1 / 2), 3.0], rtol=1e-13)


def test_bound_variable_and_fraction_under_by_hand():
    x = bound_variable([4, 100], [0.25, 0.04])
    np.testing.assert_allclose(x, [math.log(4) / 0.5, math.log(100) / 0.2], rtol=1e-14)
    # finite and <= bound: 1 <= 2 yes, 3 <= 3 yes (a tie counts), 5 <= 4 no, NaN no
    assert fraction_under([1.0, 3.0, 5.0, np.nan], [2.0, 3.0, 4.0, 9.0]) == 0.5


def _patterns():
    e = np.eye(4)
    return PatternSet(key=jnp.asarray(e[:2]), background=jnp.asarray(e[2:]),
                      position=jnp.zeros(1, jnp.int32))


def test_yu_filter_metrics_by_hand():
    pats = _patterns()
    # filters: mostly p_+ (norm 5), mostly p_- (norm 2), a background one (norm 3),
    # and one with no positive cosine to any pattern (a dead filter, norm 1)
    w = jnp.array([[4.0, 0.0, 3.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0],
                   [-1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(filter_norms(w), [5.0, 2.0, 3.0, 1.0], rtol=1e-15)
    cos = np.asarray(pattern_cos(w, pats))
    np.testing.assert_allclose(cos[0], [0.8, 0.0, 0.6, 0.0], atol=1e-15)
    np.testing.assert_allclose(cos[3], [-1.0, 0.0, 0.0, 0.0], atol=1e-15)
    assert list(np.asarray(assignment(w, pats))) == [0, 1, 3, 1]  # ties go to the first
    assert list(np.asarray(is_key_filter(jnp.asarray(cos)))) == [True, True, False, False]
    np.testing.assert_allclose(best_key_cos(w, pats), [0.8, 1.0], atol=1e-15)
    # key norms 5, 2; background norms 3, 1: max ratio 5 / 3, mean ratio 3.5 / 3
    assert float(key_background_ratio(w, pats)) == pytest.approx(5.0 / 3.0, rel=1e-14)
    assert float(key_background_ratio(w, pats, "mean")) == pytest.approx(3.5 / 3.0, rel=1e-14)


def test_margins_and_accuracy_by_hand():
    data = gf.Dataset(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]]),
                      np.array([1.0, -1.0, 1.0, -1.0]))
    model = Linear(jnp.array([1.0, 1.0]))  # f = x1 + x2: 1, 1, 2, 1
    np.testing.assert_allclose(margins(model, data), [1.0, -1.0, 2.0, -1.0], rtol=1e-15)
    assert float(accuracy(model, data)) == 0.5
    tie = Linear(jnp.array([0.0, 0.0]))  # f = 0: a tie counts as wrong
    assert float(accuracy(tie, data)) == 0.0


def test_zhou_kernel_metrics_by_hand():
    u = jnp.array([1.0, 0.0, 0.0])
    w = jnp.array([[2.0, 0.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 3.0], [0.5, 0.0, 0.0]])
    assert list(np.asarray(order_by_projection(w, u))) == [1, 2, 3, 0]  # projections 2,-1,0,.5
    np.testing.assert_allclose(cos_to_direction(w, 5.0 * u),
                               [1.0, -1 / math.sqrt(2), 0.0, 1.0], atol=1e-15)
    # |cos| of the 6 pairs: (0,1) .71, (0,2) 0, (0,3) 1, (1,2) 0, (1,3) .71, (2,3) 0
    # (rel 1e-6: jnp.mean of a bool array is float32 even under x64)
    assert float(condensation_index(w, 0.95)) == pytest.approx(1 / 6, rel=1e-6)
    assert float(condensation_index(w, 0.5)) == pytest.approx(3 / 6, rel=1e-6)
