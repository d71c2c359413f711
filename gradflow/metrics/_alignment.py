"""Alignment of first-layer neurons with the class directions x_+ / x_- (Min et al.).

Conventions: x_+ = sum of positive-class inputs, x_- = sum of negative-class inputs. Neuron j
"targets" x_+ when v_j > 0 and x_- when v_j <= 0. A neuron is aligned when
cos(w_j, x_target) >= 1 - delta; dead when w_j . x_i <= 0 for every sample (it then gets no
gradient and stays frozen). Cones (Min, Mallada & Vidal, Sec. 2/3):

    S_+    = {z : z . x_i > 0 for every y_i = +1 and z . x_i <= 0 for every y_i = -1}
    S_-    = {z : z . x_i > 0 for every y_i = -1 and z . x_i <= 0 for every y_i = +1}
    S_dead = {z : z . x_i <= 0 for every i}

i.e. S_+ is the cone whose activation pattern is exactly the positive class. Everything here
is pure ``jax.numpy`` (jit/vmap-friendly). :func:`alignment_time` is the one route from a
Trajectory to an alignment time; it also runs under jit/vmap (then its ``reason`` is generic).
"""

from __future__ import annotations

import dataclasses
from typing import overload

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._validate import positive
from ..data import Dataset

_TINY = 1e-300

CONE_DEAD, CONE_PLUS, CONE_MINUS, CONE_OTHER = 0, 1, 2, 3
CONE_NAMES = ("dead", "plus", "minus", "other")
CRITERIA = ("cos", "cone")


def x_plus(data: Dataset) -> Float[Array, " d"]:
    """x_+ = sum_{i: y_i = +1} x_i."""
    return jnp.sum(jnp.where((data.y > 0)[:, None], data.x, 0.0), axis=0)


def x_minus(data: Dataset) -> Float[Array, " d"]:
    """x_- = sum_{i: y_i = -1} x_i."""
    return jnp.sum(jnp.where((data.y < 0)[:, None], data.x, 0.0), axis=0)


@overload
def unit(v: np.ndarray, axis: int = -1) -> np.ndarray: ...


@overload
def unit(v: Array, axis: int = -1) -> Array: ...


def unit(v, axis: int = -1):
    """v / |v| along ``axis``, shape (*batch, d) kept (a zero vector stays zero). Scale-safe:
    v is divided by max |v_i| before the norm, so any finite v works.

    The one unit-vector helper of gradflow. A NumPy array stays NumPy (float64 whatever
    JAX's x64 setting), anything else goes through ``jax.numpy``.

    >>> unit(jnp.array([3.0, 4.0]))     # [0.6, 0.8]
    """
    xp = np if isinstance(v, np.ndarray) else jnp
    # scale-safe: divide by max |v_i| first, so squaring neither overflows (|v| ~ 1e155)
    # nor underflows (|v| ~ 1e-155); a zero vector stays zero
    scale = xp.max(xp.abs(v), axis=axis, keepdims=True)
    s = v / xp.where(scale > 0, scale, 1.0)
    return s / xp.maximum(xp.linalg.norm(s, axis=axis, keepdims=True), _TINY)


def _flat(data: Dataset) -> Array:
    return jnp.reshape(data.x, (data.x.shape[0], -1))


def mu(data: Dataset) -> Float[Array, ""]:
    """Separation mu = min_{i,j} <x_i y_i, x_j y_j> / (|x_i| |x_j|) (Min et al., Assumption 1).

    mu > 0 iff same-label pairs are positively and opposite-label pairs negatively correlated
    ("mu-separated"). Pairs i = j count (cos = 1), so mu <= 1 and mu = 1 for n = 1.
    O(n^2 d); pure jnp.

    >>> mu(two_point(0.1))          # = sin(0.1)
    """
    z = unit(data.y[:, None] * _flat(data))
    return jnp.min(z @ z.T)


def cos_to_class(w: Float[Array, "h d"], data: Dataset) -> tuple[Array, Array]:
    """(cos(w_j, x_+), cos(w_j, x_-)) for every neuron, each of shape (h,)."""
    wu = unit(w)
    return wu @ unit(x_plus(data)), wu @ unit(x_minus(data))


def target_cos(w: Float[Array, "h d"], v: Float[Array, " h"], data: Dataset) -> Array:
    """cos(w_j, x_+) for v_j > 0, cos(w_j, x_-) for v_j < 0 (NaN-free; (h,))."""
    cp, cm = cos_to_class(w, data)
    return jnp.where(v > 0, cp, cm)


def _cos_to_samples(w: Array, data: Dataset) -> Array:
    """(h, n) cos(w_j, x_i) = (w_j . x_i) / (|w_j| |x_i|): dividing AFTER the dot product keeps
    the sign exact (w_j . x_i = 0 gives 0, not a rounding residue of unit vectors), so this is
    deliberately not :func:`cos_to_class`'s unit-vector route (which differs in the last bit).
    Unlike :func:`unit` it is not scale-safe: |w_j| below ~1e-150 underflows the norm."""
    x = _flat(data)
    wn = jnp.maximum(jnp.linalg.norm(w, axis=1), _TINY)
    xn = jnp.maximum(jnp.linalg.norm(x, axis=1), _TINY)
    return (w @ x.T) / (wn[:, None] * xn[None, :])


def dead_margin(w: Float[Array, "h d"], data: Dataset) -> Array:
    """-max_i cos(w_j, x_i): >= 0 exactly when neuron j is dead (inactive on every sample)."""
    return -jnp.max(_cos_to_samples(w, data), axis=1)


def alignment_gap(model, data: Dataset, delta: float | Float[Array, ""]) -> Array:
    """max_j min(1 - delta - cos_j, -dead_margin_j): <= 0 iff every neuron is aligned or dead.

    Real-valued and continuous in the parameters, so it serves as an ODE event condition.
    """
    aligned_score = target_cos(model.w, model.v, data) - (1.0 - delta)
    score = jnp.maximum(aligned_score, dead_margin(model.w, data))
    return -jnp.min(score)


def _cone_scores(w: Array, data: Dataset) -> tuple[Array, Array]:
    """(s_plus, s_minus), each (h,): s_plus > 0 iff w_j in S_+ (up to the z.x_i = 0 face)."""
    c = _cos_to_samples(w, data)  # (h, n) cos(w_j, x_i)
    pos = (data.y > 0)[None, :]
    return jnp.min(jnp.where(pos, c, -c), axis=1), jnp.min(jnp.where(pos, -c, c), axis=1)


def cone_gap(model, data: Dataset) -> Float[Array, ""]:
    """Continuous cone criterion: <= 0 iff every neuron is in the cone its sign predicts or dead.

    Neuron j's score is max(s_j, dead_margin_j) with s_j = min_i y_i cos(w_j, x_i) for
    v_j > 0 (in S_+ iff s_j > 0) and min_i -y_i cos(w_j, x_i) for v_j <= 0 (S_-); the gap is
    -min_j score_j. Like :func:`alignment_gap` it can drive an ODE event.
    """
    w = jnp.reshape(model.w, (model.w.shape[0], -1))
    s_plus, s_minus = _cone_scores(w, data)
    target = jnp.where(model.v > 0, s_plus, s_minus)
    return -jnp.min(jnp.maximum(target, dead_margin(w, data)))


def cones(model, data: Dataset) -> Int[Array, " h"]:
    """Cone of every neuron: 0 dead (S_dead), 1 plus (S_+), 2 minus (S_-), 3 other.

    Membership is exact: active means w_j . x_i > 0. Names: ``CONE_NAMES[code]``.

    >>> [CONE_NAMES[c] for c in cones(model, data)]
    """
    w = jnp.reshape(model.w, (model.w.shape[0], -1))
    act = (w @ _flat(data).T) > 0  # (h, n)
    pos = (data.y > 0)[None, :]
    dead = ~jnp.any(act, axis=1)
    plus = jnp.all(act == pos, axis=1)
    minus = jnp.all(act == ~pos, axis=1)
    code = jnp.where(dead, CONE_DEAD, jnp.where(plus, CONE_PLUS, jnp.where(minus, CONE_MINUS, 3)))
    return code.astype(jnp.int32)


def balancedness(model) -> Float[Array, " h"]:
    """v_j^2 - |w_j|^2 for every neuron: conserved by exact gradient flow (0 for balanced init)."""
    w = jnp.reshape(model.w, (model.w.shape[0], -1))
    return model.v**2 - jnp.sum(w**2, axis=1)


# ---------------------------------------------------------------------------------------------
# alignment time
# ---------------------------------------------------------------------------------------------


def _gap_fn(criterion: str, delta):
    if criterion == "cos":
        return lambda w, v, data: alignment_gap(_WV(w, v), data, delta)
    return lambda w, v, data: cone_gap(_WV(w, v), data)


class _WV:
    """Minimal (w, v) view so the gap functions accept stacked arrays without a model class."""

    def __init__(self, w, v):
        self.w, self.v = w, v


def _check_criterion(criterion: str) -> None:
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")


def first_crossing(
    ts: Float[Array, " T"], gaps: Float[Array, " T"], tol: float = 1e-9
) -> Float[Array, ""]:
    """First time a sampled gap g(t_k) reaches <= tol, linearly interpolated; NaN if never.

    Slots with non-finite ``ts`` (unused) are ignored (the previous save is the last REAL
    one). If the first real save already has g <= tol the result is its time.
    ``tol`` absorbs the root finder's residual at an event-stopped final state.
    Between the last save with g > 0 and the first with g <= 0 the crossing is
    t_{k-1} + (t_k - t_{k-1}) g_{k-1} / (g_{k-1} - g_k). Pure jnp.
    """
    real = jnp.isfinite(ts) & ~jnp.isnan(gaps)
    hit = real & (gaps <= tol)
    k = jnp.argmax(hit)
    any_hit = jnp.any(hit)
    idx = jnp.arange(ts.shape[0])
    prev = jnp.max(jnp.where(real & (idx < k), idx, -1))  # last real save before k
    j = jnp.maximum(prev, 0)
    t0, t1 = ts[j], ts[k]
    g0, g1 = gaps[j], gaps[k]
    ok = g0 - g1 > 0
    frac = jnp.clip(jnp.where(ok, g0 / jnp.where(ok, g0 - g1, 1.0), 1.0), 0.0, 1.0)
    t_cross = jnp.where(prev < 0, ts[k], t0 + (t1 - t0) * frac)
    return jnp.where(any_hit, t_cross, jnp.nan)


def _first_alignment(
    ts: Float[Array, " T"],
    w: Float[Array, "T h d"],
    v: Float[Array, "T h"],
    data: Dataset,
    delta: float | Float[Array, ""],
    criterion: str = "cos",
) -> Float[Array, ""]:
    """Pure-jnp alignment time from stacked saves (used by :func:`alignment_time`).

    criterion "cos": every neuron has cos(w_j, x_{sign v_j}) >= 1 - delta or is dead
    (:func:`alignment_gap`); "cone": every neuron is in S_{sign v_j} or dead
    (:func:`cone_gap`, Theorem 1's criterion). The time is on the clock of ``ts``.
    jit/vmap-friendly (``criterion`` must be static; "cone" ignores ``delta``).
    """
    _check_criterion(criterion)
    gap = _gap_fn(criterion, delta)
    gaps = jax.vmap(lambda wk, vk: gap(wk, vk, data))(w, v)
    gaps = jnp.where(jnp.isfinite(ts), gaps, jnp.inf)
    return first_crossing(ts, gaps)


_first_alignment_jit = jax.jit(_first_alignment, static_argnames="criterion")


@dataclasses.dataclass(frozen=True)
class AlignmentTime:
    """Result of :func:`alignment_time`.

    Attributes:
        time: first alignment time on ``clock`` (NaN when not reached); an array for a
            batched Trajectory.
        reached: whether alignment was reached within the saved run.
        reason: a sentence saying how the time was found, or why it is NaN.
        clock: "mean" (t_mean) or "sum" (t_sum = t_mean / n), the Trajectory's clock.
        criterion: "cos" (cos >= 1 - delta or dead) or "cone" (S_sign(v) or dead).
        delta: the alignment tolerance used by the "cos" criterion.
    """

    time: float | np.ndarray | Array
    reached: bool | np.ndarray | Array
    reason: str
    clock: str
    criterion: str
    delta: float | Array


def _saved_wv(traj):
    """(w, v) stacked over the saves: from ``traj.model`` (fn=None) or from a summary dict
    with keys "w" and "v"; None when the Trajectory holds neither."""
    model = getattr(traj, "model", None)
    if model is not None and hasattr(model, "w") and hasattr(model, "v"):
        return model.w, model.v
    summary = getattr(traj, "summary", None)
    if isinstance(summary, dict) and "w" in summary and "v" in summary:
        return summary["w"], summary["v"]
    return None


def _with_final(traj, w, v):
    """Saved (ts, w, v) with the final state appended (it holds the exact event time)."""
    ts = traj.ts
    fin = traj.final
    if fin is None or not hasattr(fin, "w"):
        return ts, w, v
    t_fin = jnp.asarray(traj.t_final)
    if ts.ndim == 1:
        return (
            jnp.concatenate([ts, t_fin[None]]),
            jnp.concatenate([w, fin.w[None]]),
            jnp.concatenate([v, fin.v[None]]),
        )
    return (
        jnp.concatenate([ts, t_fin[:, None]], axis=1),
        jnp.concatenate([w, fin.w[:, None]], axis=1),
        jnp.concatenate([v, fin.v[:, None]], axis=1),
    )


def _is_traced(*xs) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in xs)  # pyright: ignore[reportAttributeAccessIssue]


def alignment_time(
    traj, data: Dataset, delta: float | Float[Array, ""], criterion: str = "cos"
) -> AlignmentTime:
    """First time every neuron is aligned (or dead), from a Trajectory's saved models.

    The one route to an alignment time in gradflow. Evaluates the gap
    (:func:`alignment_gap` for criterion "cos": cos(w_j, x_{sign v_j}) >= 1 - delta;
    :func:`cone_gap` for "cone", Theorem 1's criterion: every neuron in S_{sign v_j} or dead)
    at every save point and at the final state, and linearly interpolates the first crossing
    (:func:`first_crossing`) between save points, so the error is below the save spacing
    there. For the root-found exact time use ``solve_flow(..., stop=gradflow.aligned(delta))``
    and read ``traj.t_event`` ("cos"). Times are on ``traj.clock`` (mean: t_mean; sum:
    t_sum = t_mean / n). The saves are the models (``fn=None``) or a summary dict with keys
    "w" and "v". Works for a single or a vmapped (batched) Trajectory, and inside jit/vmap
    (traced ``traj`` or ``delta``: ``time`` and ``reached`` are arrays, ``reason`` generic;
    ``criterion`` must be static).

    >>> res = alignment_time(traj, data, delta=1e-3)
    >>> res.time, res.reached, res.reason
    """
    _check_criterion(criterion)
    traced = _is_traced(delta)
    if not traced:
        delta = positive("delta", delta)
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be a gradflow.data.Dataset, got {type(data).__name__}")
    wv = _saved_wv(traj)
    if wv is None:
        raise ValueError(
            "alignment_time needs a Trajectory that saved full two-layer models (solve_flow "
            "with fn=None and a model with fields w and v) or a summary dict with 'w' and 'v'"
        )
    data.check_binary()
    ts, w, v = _with_final(traj, *wv)
    traced = traced or _is_traced(ts, w, v)
    if ts.ndim == 1:
        t = _first_alignment_jit(ts, w, v, data, delta, criterion=criterion)
    else:
        batch = lambda a, b, c: _first_alignment_jit(a, b, c, data, delta, criterion=criterion)
        t = jax.vmap(batch)(ts, w, v)
    if traced:
        reason = "traced: the time is an array (NaN when not reached)"
        return AlignmentTime(t, jnp.isfinite(t), reason, traj.clock, criterion, delta)
    if ts.ndim == 1:
        t = float(t)
        reached = bool(np.isfinite(t))
        real = np.asarray(ts)[np.isfinite(np.asarray(ts))]
        t_first, t_last = float(real[0]), float(real[-1])
        if not reached:
            reason = (
                f"not reached: the {criterion} criterion (delta={delta:g}) never held up to "
                f"the last saved time t={t_last:.6g} [{traj.clock} clock]"
            )
        elif t == t_first:
            reason = f"aligned already at the first saved time t={t_first:.6g}"
        else:
            reason = "reached; linearly interpolated between save points on the gap"
        return AlignmentTime(t, reached, reason, traj.clock, criterion, delta)
    times = np.asarray(t)
    reached = np.isfinite(times)
    reason = f"{int(reached.sum())} of {times.size} runs reached alignment ({criterion})"
    return AlignmentTime(times, reached, reason, traj.clock, criterion, delta)
