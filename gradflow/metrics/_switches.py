"""Metrics read from the activation-switch log of a kink-aware solve (kinks="track").

The log (:class:`gradflow.SwitchLog`) holds every switch of z_ij = w_j . x_i with its
root-found time, so activation patterns, cone memberships and their entry times are EXACT (to
the root finder), not sampled at save times. Times are on the trajectory's loss clock.

Cones (Min et al., patterns only): S_+ = neuron on exactly for the positive samples,
S_- = on exactly for the negative samples, S_dead = off for every sample.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from ..flow import SwitchLog


def _rows(log: SwitchLog) -> Bool[Array, " E"]:
    """Mask of the filled rows of the log."""
    return jnp.arange(log.t.shape[-1]) < jnp.minimum(log.count, log.t.shape[-1])


def switch_counts(log: SwitchLog) -> Int[Array, "h n"]:
    """Number of switches of every (neuron j, sample i) pair, shape (h, n).

    Min et al. prove each hyperplane w . x_i = 0 is crossed at most once on mu-separated data
    (no Zeno behaviour): every entry should be <= 1 there.

    >>> switch_counts(traj.events).max()   # 1 on mu-separated data
    """
    n, h = log.initial.shape
    flat = jnp.where(_rows(log), log.neuron * n + log.sample, h * n)
    return jnp.zeros(h * n + 1, jnp.int32).at[flat].add(1)[:-1].reshape(h, n)


def zeno_violations(log: SwitchLog) -> Int[Array, ""]:
    """Number of (neuron, sample) pairs that switched more than once (0 under the theory)."""
    return jnp.sum(switch_counts(log) > 1)


def pattern_at(log: SwitchLog, t: float | Float[Array, ""]) -> Bool[Array, "n h"]:
    """The activation pattern (n, h) at time ``t`` (switches at times <= t applied)."""
    n, h = log.initial.shape
    use = _rows(log) & (log.t <= t)
    flat = jnp.where(use, log.sample * h + log.neuron, n * h)
    flips = jnp.zeros(n * h + 1, jnp.int32).at[flat].add(1)[:-1].reshape(n, h)
    return log.initial ^ (flips % 2 == 1)


def cone_entry_times(
    log: SwitchLog, y: Float[Array, " n"], t0: float = 0.0
) -> Float[Array, "h 3"]:
    """Exact first time each neuron's pattern is S_+, S_-, S_dead (columns); NaN if never.

    ``t0`` (the solve's start time) is reported for a neuron already in a cone at the start.
    Exact: a pattern changes only at a logged switch, whose time is root-found.

    >>> cone_entry_times(traj.events, data.y)[:, 0]   # entry times into S_+
    """
    n, h = log.initial.shape
    targets = jnp.stack([y > 0, y < 0, jnp.zeros_like(y, bool)], axis=1)  # (n, 3)
    mism0 = jnp.sum(log.initial[:, :, None] != targets[:, None, :], axis=0)  # (h, 3)
    first0 = jnp.where(mism0 == 0, jnp.asarray(t0, log.t.dtype), jnp.nan)
    rows = _rows(log)

    def step(carry, row):
        mism, first = carry
        t, j, i, d, use = row
        on = d > 0
        delta = jnp.where(on == targets[i], -1, 1) * use
        mism = mism.at[j].add(delta)
        hit = (mism[j] == 0) & jnp.isnan(first[j]) & use
        first = first.at[j].set(jnp.where(hit, t, first[j]))
        return (mism, first), None

    (_, first), _ = jax.lax.scan(
        step, (mism0, first0), (log.t, log.neuron, log.sample, log.direction, rows)
    )
    return first
