"""First root of every pre-activation on one Runge-Kutta step (the kink-aware solve's search).

Along one step the solver's dense interpolant is a polynomial of degree p in theta in [0, 1]
(Dopri5 and Tsit5: 4, Bosh3: 3, Dopri8: 7), so a pre-activation z of kink degree q (1 for a
first layer or conv filters, l for the l-th hidden layer of an MLP) is a polynomial of degree
q p: sampled at that many + 1 Chebyshev-Lobatto nodes it is known exactly. The search looks for
the FIRST root of c = s z + o in the step (s = +1 on, -1 off; o a re-arming offset), not only a
sign change between the ends (a pre-activation can dip through zero and back inside one step):
an entry whose smaller end value exceeds a bound on its polynomial's bend (chord + Chebyshev
coefficients) cannot cross; the others are sampled on a uniform grid (the first negative sample
brackets the first root; with none, a bisection on the derivative near the lowest sample
catches narrower dips) and refined by safeguarded Newton on that polynomial (Chebyshev basis,
Clenshaw). The candidates (typically a few of the n k entries) are gathered into a buffer of
_CAPACITY slots and searched there, a buffer-full at a time when there are more (exact either
way): the search costs O(candidates), the certificate O(n k).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

_T = TypeVar("_T")
_NEWTON = 12  # safeguarded Newton iterations per crossed entry on the interpolant of z
_GRID = 4  # uniform grid points per unit of polynomial degree in the first-root search
_BISECT_MIN = 24  # bisection iterations (on dc/dtheta) of a minimum between grid points
_CAPACITY = 256  # candidates searched per chunk (a compact buffer; typically one chunk a step)
# degree in theta of each solver's dense interpolant (diffrax 0.7); 7 for any other solver
_INTERP_DEGREE = {"dopri5": 4, "tsit5": 4, "bosh3": 3, "dopri8": 7}


def _chebyshev(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Chebyshev-Lobatto nodes theta_k in [0, 1] (k = 0..m, theta_0 = 0, theta_m = 1) and the
    matrix mapping values at them to Chebyshev coefficients in s = 2 theta - 1."""
    s = -np.cos(np.pi * np.arange(m + 1) / m)
    vander = np.cos(np.arange(m + 1)[None, :] * np.arccos(np.clip(s, -1, 1))[:, None])
    return 0.5 * (s + 1.0), np.linalg.inv(vander)


def clenshaw(coef, th):
    """sum_j coef[j] T_j(2 theta - 1), every entry at its own theta (coef: (m+1, ...))."""
    s = 2.0 * th - 1.0
    b1, b2 = jnp.zeros_like(th), jnp.zeros_like(th)
    for j in range(coef.shape[0] - 1, 0, -1):
        b1, b2 = coef[j] + 2.0 * s * b1 - b2, b1
    return coef[0] + s * b1 - b2


def _rowsum(a):
    """sum over the leading axis, as adds of its rows (a fused elementwise kernel)."""
    out = a[0]
    for j in range(1, a.shape[0]):
        out = out + a[j]
    return out


def when(pred: Any, fn: Callable[[_T], _T], x: _T) -> _T:
    """``fn(x) if pred else x`` as a while loop: skipped (even under vmap) when no lane needs it.

    ``fn`` reads its inputs from ``x`` through an optimization barrier: what it computes from
    ``x`` alone cannot be hoisted out of the loop by XLA (under vmap the loop body is
    loop-invariant code otherwise, evaluated even when no lane takes the branch); what it
    computes from closed-over arrays can be."""

    def body(c):
        return jnp.array(True), fn(jax.lax.optimization_barrier(c[1]))

    _, out = jax.lax.while_loop(lambda c: ~c[0], body, (~pred, x))
    return out


class RootSearch(eqx.Module):
    """The first-root search of one step for a solver and kink degree (constants built once).

    Attributes:
        nodes: (m+1,) Chebyshev-Lobatto nodes in [0, 1], m = kink degree x interpolant degree.
        vinv: (m+1, m+1) values at the nodes -> Chebyshev coefficients.
        grid: (G,) uniform grid of the sampling pass. grid_t: (G, m+1) T_j on it.
    """

    nodes: Float[Array, " m1"]
    vinv: Float[Array, "m1 m1"]
    grid: Float[Array, " G"]
    grid_t: Float[Array, "G m1"]

    def __init__(self, solver: str, kink_degree: int, dtype: Any):
        degree = int(kink_degree) * _INTERP_DEGREE.get(solver, 7)
        nodes, vinv = _chebyshev(degree)
        grid = np.linspace(0.0, 1.0, _GRID * degree + 1)
        grid_t = np.cos(
            np.arange(degree + 1)[None, :] * np.arccos(np.clip(2 * grid - 1, -1, 1))[:, None]
        )
        self.nodes, self.vinv = jnp.asarray(nodes, dtype), jnp.asarray(vinv, dtype)
        self.grid, self.grid_t = jnp.asarray(grid, dtype), jnp.asarray(grid_t, dtype)

    def coefficients(self, zs: Float[Array, "m1 ..."]) -> Float[Array, "m1 ..."]:
        """Chebyshev coefficients in theta of z from its values at ``nodes`` (exact)."""
        return jnp.tensordot(self.vinv, zs, axes=1)

    def first_root(
        self,
        coef: Float[Array, "m1 n k"],
        sgn: Float[Array, "n k"],
        off: Float[Array, "n k"],
        free: Bool[Array, "n k"],
        c0: Float[Array, "n k"],
        c1: Float[Array, "n k"],
    ) -> tuple[Bool[Array, "n k"], Float[Array, "n k"]]:
        """Which entries' c = sgn z + off has a root in [0, 1] and the first one (theta; 1
        where none). ``free``: the entries tested (others never cross); ``c0``, ``c1``: c at
        the step's ends as computed (the polynomial's end values up to rounding)."""
        shape, L = c0.shape, c0.size
        cc0 = sgn * coef[0] + off  # Chebyshev coefficients of c_ij(theta): sgn coef, row 0 + off
        end_cross = free & (c1 < 0)
        # c = l + r with l the chord between c0 and c1 (l >= min(c0, c1)) and r = 0 at both
        # ends, |r| <= sum_j |r_j| (Chebyshev coefficients of r: a_j for j >= 2): entries
        # with min(c0, c1) above that bound are certified not to cross (sums over the
        # coefficient axis written out: XLA's CPU reduction over a leading axis is ~10x
        # slower than the same adds)
        rest = _rowsum(jnp.abs(coef[2:]))
        size = jnp.abs(coef[1]) + rest
        bend = jnp.abs(cc0 - 0.5 * (c0 + c1)) + jnp.abs(coef[1] - 0.5 * sgn * (c1 - c0)) + rest
        cand = free & ((jnp.minimum(c0, c1) <= bend) | end_cross)
        noise = 64 * jnp.finfo(sgn.dtype).eps * (size + jnp.abs(cc0))
        # every entry flat: (m+1, L) coefficients, (L,) the rest
        coef, cc0, sgn, c0, c1, cand, end_cross, noise = (
            a.reshape(a.shape[: a.ndim - len(shape)] + (L,))
            for a in (coef, cc0, sgn, c0, c1, cand, end_cross, noise)
        )
        count = jnp.sum(cand)
        rank = jnp.cumsum(cand)  # candidate number (1-based) of every candidate entry
        K = min(_CAPACITY, L)

        def more(c):
            return c[0] * K < count

        def chunk(c):
            # the next K candidates gathered into K slots, the search run on those only,
            # the results scattered back (an empty slot holds index L: dropped); typically
            # one chunk. Its inputs depend on the loop counter: XLA cannot hoist the search
            # out of the loop (under vmap a loop-invariant body would run every step)
            i, cross, th = c
            idx = jnp.nonzero(cand & (rank > i * K), size=K, fill_value=L)[0]
            valid = idx < L
            g = jnp.minimum(idx, L - 1)
            cc = jnp.concatenate([cc0[g][None], sgn[g] * coef[1:, g]])
            cr, tk = self._search(cc, c0[g], c1[g], valid, end_cross[g] & valid, noise[g])
            return i + 1, cross.at[idx].set(cr, mode="drop"), th.at[idx].set(tk, mode="drop")

        init = (jnp.asarray(0), jnp.zeros((L,), bool), jnp.ones((L,), c0.dtype))
        _, cross, th = jax.lax.while_loop(more, chunk, init)
        return cross.reshape(shape), th.reshape(shape)

    def _search(self, cc, c0, c1, cand, end_cross, noise):
        """The first-root search on a flat set of entries (cc: (m+1, L); the rest (L,)):
        (crossed, theta), theta = 1 where not crossed."""
        grid, M = self.grid, self.grid.shape[0]

        def cval(th):
            return clenshaw(cc, th)

        # c on a fine uniform grid; the first grid point below zero brackets the first
        # root; with none, the minimum near the lowest grid point (bisection on
        # dc/dtheta) catches a dip narrower than the grid
        vals = jnp.tensordot(self.grid_t, cc, axes=1)
        vals = vals.at[0].set(c0).at[-1].set(c1)
        neg = (vals < -noise) & cand
        neg = neg.at[-1].set(end_cross)
        has = jnp.any(neg, axis=0)
        m1 = jnp.argmax(neg, axis=0)
        m2 = jnp.argmin(jnp.where(cand, vals, jnp.inf), axis=0)
        lo2, hi2 = grid[jnp.maximum(m2 - 1, 0)], grid[jnp.minimum(m2 + 1, M - 1)]

        def dval(th):
            return jax.jvp(cval, (th,), (jnp.ones_like(th),))[1]

        def mbis(_, lh):
            lo, hi = lh
            mid = 0.5 * (lo + hi)
            up = dval(mid) > 0
            return jnp.where(up, lo, mid), jnp.where(up, mid, hi)

        # only an entry without a negative grid point can be a dip: skipped when none is
        lo2, hi2 = when(
            jnp.any(cand & ~has),
            lambda lh: jax.lax.fori_loop(0, _BISECT_MIN, mbis, lh),
            (lo2, hi2),
        )
        thm = 0.5 * (lo2 + hi2)
        dip = cand & ~has & (cval(thm) < -noise)
        cross = has | dip
        lo = jnp.where(has, grid[jnp.maximum(m1 - 1, 0)], grid[jnp.maximum(m2 - 1, 0)])
        hi = jnp.where(has, grid[m1], thm)
        # safeguarded Newton in the bracket [lo, hi] (c(lo) >= 0 > c(hi)), every entry
        clo, chi = cval(lo), cval(hi)
        th = jnp.where(cross, lo + (hi - lo) * clo / jnp.where(clo > chi, clo - chi, 1.0), hi)
        th = jnp.clip(th, lo, hi)
        for _ in range(_NEWTON):
            val, der = jax.jvp(cval, (th,), (jnp.ones_like(th),))
            neg = val < 0
            lo, hi = jnp.where(neg, lo, th), jnp.where(neg, th, hi)
            step = th - val / jnp.where(der < 0, der, -1.0)
            inside = (der < 0) & (step >= lo) & (step <= hi)
            th = jnp.where(inside, step, 0.5 * (lo + hi))
        return cross, jnp.where(cross, th, 1.0)

    @staticmethod
    def slope(coef: Float[Array, "m1 n k"], th: Float[Array, "n k"]) -> Float[Array, "n k"]:
        """dz/dtheta of every entry at its own theta, from the same exact polynomial."""
        return jax.jvp(lambda u: clenshaw(coef, u), (th,), (jnp.ones_like(th),))[1]
