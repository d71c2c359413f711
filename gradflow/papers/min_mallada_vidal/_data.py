"""Min, Mallada & Vidal's data: the two-point toy set and mu-separated data with exact mu.

two_point: experiment a (docs/papers/min-mallada-vidal.md). separated: Assumption 1's data.

Construction of separated(), for one key (pure ``jax.random``/``jnp``: ``key`` and ``mu``
may be traced, so a sweep can ``jax.vmap`` over keys or targets). Write z_i = y_i x_i: the
data are mu-separated iff every pairwise cosine of the z_i is >= mu > 0, i.e. the z_i lie
in a narrow cone around an axis u (a random unit vector).

1. Raw directions q_i = p_i + a_i u (p_i orthogonal to u, a_i > 0) from one of two families:
   - ``"cone"``: p_i = r_i, a_i = 1 with unit r_i spread evenly (uniformly at random, in
     antipodal pairs r, -r) on the sphere of u's orthogonal complement. The z_i lie on the
     boundary of a circular cone with axis u; the extreme pairs are the antipodal ones.
   - ``"cluster"``: ``clusters`` centres u + c_k (unit c_k orthogonal to u, c_1 = -c_0 so
     two clusters sit on opposite sides of the axis) and q_i = u + c_{i mod K} + spread * g_i
     / sqrt(d), g_i ~ N(0, I_d): clustered points inside/around the cone, not symmetric.
2. Tilt towards the axis: z_i(phi) = unit(cos(phi) p_i + sin(phi) a_i u). The minimum
   pairwise cosine f(phi) goes continuously from -1 (phi = 0: the first two points have
   exactly antipodal p_i, for both families) to 1 (phi = pi/2); phi is found by 64 bisection
   steps keeping f(phi) >= mu, so the achieved separation equals the target to ~1e-15
   (float64) for every spread. Bounded angles: nothing overflows.
3. Norms |x_i| uniform in ``radius`` (X_min, X_max), labels: round(balance * n) positives
   (clipped to [1, n - 1], so both classes are non-empty) at random positions; x_i = y_i z_i.

The returned ``mu`` is :func:`gradflow.metrics.mu` of the returned data (computed with jnp,
so it is exact for the data and traceable).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ..._validate import integer, open_unit, real
from ...data import Dataset
from ...metrics import mu as _mu, unit as _unit

FAMILIES = ("cone", "cluster")
_BISECT_STEPS = 64


class SeparatedData(NamedTuple):
    """A mu-separated data set and its exact separation ``mu`` (= metrics.mu(data)).

    A NamedTuple (a pytree): unpack it, ``data, mu = separated(...)``, or vmap over it.
    """

    data: Dataset
    mu: Float[Array, ""]



def _perp_unit(g: Array, u: Array) -> Array:
    return _unit(g - (g @ u)[..., None] * u)


def _check(n, d, mu, family, balance, radius, clusters, spread) -> tuple[float, float]:
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if not isinstance(mu, jax.core.Tracer):  # pyright: ignore[reportAttributeAccessIssue]
        open_unit("mu", mu, " (the target separation)")
    open_unit("balance", balance, " (the fraction of positive labels)")
    if not (isinstance(radius, tuple | list) and len(radius) == 2):
        raise ValueError(f"radius must be a pair (X_min, X_max), got {radius!r}")
    r_lo, r_hi = real("radius[0]", radius[0]), real("radius[1]", radius[1])
    info = jnp.finfo(jnp.result_type(float))
    lo_ok = float(info.tiny) / float(info.eps)  # every coordinate >= eps |x| stays normal
    hi_ok = float(info.max) / (4 * n)  # sums of n inputs (x_+, x_-) stay finite
    if not (lo_ok <= r_lo <= r_hi <= hi_ok):
        raise ValueError(
            f"radius must satisfy {lo_ok:.3g} <= X_min <= X_max <= {hi_ok:.3g} (the "
            f"{info.dtype.name} range for n = {n}), got {radius!r}"
        )
    if family == "cluster":
        integer("clusters", clusters, 2)
        if clusters > n:
            raise ValueError(f"clusters must be <= n = {n}, got {clusters}")
        if not (math.isfinite(real("spread", spread)) and spread >= 0):
            raise ValueError(f"spread must be a finite number >= 0, got {spread!r}")
    return r_lo, r_hi


def _check_key(key) -> None:
    if isinstance(key, jax.core.Tracer):  # pyright: ignore[reportAttributeAccessIssue]
        return
    ok = isinstance(key, jax.Array) and (
        jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        or (key.dtype == jnp.uint32 and key.shape == (2,))
    )
    if not ok:
        raise ValueError(
            f"key must be a JAX PRNG key such as jax.random.key(0), got {key!r} "
            f"({type(key).__name__})"
        )


def _raw_directions(g, n, d, family, clusters, spread):
    """Raw directions from one block of standard normals g (1 + m + n rows, d columns)."""
    u = _unit(g[0])
    if family == "cone":
        r = _perp_unit(g[1 : 1 + (n + 1) // 2], u)
        q = u[None, :] + jnp.concatenate([r, -r])[:n]
    else:
        c = _perp_unit(g[1 : 1 + clusters], u)
        c = c.at[1].set(-c[0])
        noise = spread * g[1 + clusters : 1 + clusters + n] / math.sqrt(d)
        q = u[None, :] + c[jnp.arange(n) % clusters] + noise
    a = q @ u
    p = q - a[:, None] * u[None, :]
    if family == "cluster":
        # the first two points sit in the two opposite clusters; make their off-axis parts
        # exactly antipodal so the separation can be tuned from -1 up to any target (with a
        # large spread the noise could otherwise put every p_i on one side, making
        # min cos > target already at phi = 0)
        p = p.at[1].set(-p[0] * jnp.linalg.norm(p[1]) / jnp.linalg.norm(p[0]))
    # keep every point strictly on the axis side (a_i >= 0.1), so stretching reaches cos -> 1
    return u, p, jnp.maximum(jnp.abs(a), 0.1)


def _stretch(u, p, a, target):
    """Angle phi in (0, pi/2) with min_ij cos(z_i, z_j) = target (to rounding), where
    z_i = cos(phi) p_i + sin(phi) a_i u.

    Bisection on the bounded angle (no overflow at any scale): at phi = 0 some pair of the
    p_i is antipodal (cos = -1 < target, guaranteed by the construction), at phi = pi/2 every
    z_i is along u (cos = 1 >= target); the loop keeps f(lo) < target <= f(hi).
    """
    gram = p @ p.T
    diag = jnp.diag(gram)
    aa = a[:, None] * a[None, :]

    def min_cos(phi):
        c2, s2 = jnp.cos(phi) ** 2, jnp.sin(phi) ** 2
        norm = jnp.sqrt(c2 * diag + s2 * a**2)
        return jnp.min((c2 * gram + s2 * aa) / (norm[:, None] * norm[None, :]))

    def step(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        ok = min_cos(mid) >= target
        return jnp.where(ok, lo, mid), jnp.where(ok, mid, hi)

    lo, hi = jnp.asarray(0.0, dtype=p.dtype), jnp.asarray(0.5 * math.pi, dtype=p.dtype)
    _, hi = jax.lax.fori_loop(0, _BISECT_STEPS, step, (lo, hi))
    return hi


def separated(
    n: int,
    d: int,
    mu: float | Float[Array, ""],
    *,
    key: PRNGKeyArray,
    family: str = "cone",
    balance: float = 0.5,
    radius: tuple[float, float] = (1.0, 1.0),
    clusters: int = 2,
    spread: float = 0.2,
) -> SeparatedData:
    """n mu-separated points in R^d, labels +-1; returns ``SeparatedData(data, mu)``.

    ``mu`` (in (0, 1)) is the target separation min_ij <x_i y_i, x_j y_j> / (|x_i| |x_j|);
    the returned ``.mu`` is the exact separation of the returned data (metrics.mu), equal to
    the target up to rounding (>= target - 1e-12 in float64). See the module docstring for
    the construction of the two families ("cone": evenly on a cone boundary; "cluster":
    ``clusters`` clusters of relative angular ``spread``). ``balance`` is the fraction of
    positive labels, ``radius = (X_min, X_max)`` the range of the norms |x_i|.

    Traceable in ``key`` and ``mu`` (n, d, family, clusters are static)::

        sets = jax.vmap(lambda k: separated(100, 10, 0.2, key=k))(jax.random.split(key, 8))

    >>> data, mu = separated(200, 10, 0.1, key=jax.random.key(0), family="cluster")
    """
    n, d = integer("n", n, 2), integer("d", d, 2)
    if family == "cluster":
        clusters = integer("clusters", clusters, 2)
    r_lo, r_hi = _check(n, d, mu, family, balance, radius, clusters, spread)
    _check_key(key)
    n_pos = min(max(int(round(balance * n)), 1), n - 1)
    dtype = jnp.result_type(float)
    x, y, achieved = _generate(
        key, jnp.asarray(mu, dtype=dtype), jnp.asarray(float(spread), dtype=dtype),
        jnp.asarray(r_lo, dtype=dtype), jnp.asarray(r_hi, dtype=dtype),
        n, d, family, clusters, n_pos,
    )
    return SeparatedData(Dataset(x, y), achieved)


@functools.partial(jax.jit, static_argnums=(5, 6, 7, 8, 9))
def _generate(key, target, spread, r_lo, r_hi, n, d, family, clusters, n_pos):
    # spread and radius are traced: one compiled kernel per (n, d, family, clusters, n_pos)
    dtype = target.dtype
    # two random draws in all (threefry compiles slowly on CPU): normals and uniforms
    k_normal, k_uniform = jax.random.split(key)
    m = (n + 1) // 2 if family == "cone" else clusters + n
    u, p, a = _raw_directions(
        jax.random.normal(k_normal, (1 + m, d), dtype=dtype), n, d, family, clusters, spread
    )
    phi = _stretch(u, p, a, target)
    z = _unit(jnp.cos(phi) * p + jnp.sin(phi) * a[:, None] * u[None, :])
    unif = jax.random.uniform(k_uniform, (2, n), dtype=dtype)
    norms = r_lo + (r_hi - r_lo) * unif[0]
    rank = jnp.argsort(jnp.argsort(unif[1]))  # a uniformly random permutation of 0..n-1
    y = jnp.where(rank < n_pos, 1.0, -1.0).astype(dtype)
    x = y[:, None] * norms[:, None] * z
    return x, y, _mu(Dataset(x, y))


def two_point(theta: float | ArrayLike) -> Dataset:
    """x1 = [1, 0], x2 = [sin theta, cos theta], both labelled +1; shape x (2, 2), y (2,).

    <x1, x2> = sin theta, so the separation is mu = sin theta (theta = 0: orthogonal
    inputs, mu = 0; the paper uses theta in {0.1, 0.001, 0}). Traceable in ``theta``.

    >>> data = two_point(0.1)
    >>> float(gradflow.metrics.mu(data))   # sin(0.1)
    """
    if not isinstance(theta, jax.core.Tracer):  # pyright: ignore[reportAttributeAccessIssue]
        try:
            t = float(theta)  # pyright: ignore[reportArgumentType]
        except (TypeError, ValueError):
            raise ValueError(f"theta must be a real number, got {theta!r}") from None
        if not math.isfinite(t):
            raise ValueError(f"theta must be finite, got {theta!r}")
    dtype = jnp.result_type(float)
    th = jnp.asarray(theta, dtype=dtype)
    x = jnp.stack(
        [jnp.array([1.0, 0.0], dtype=dtype), jnp.stack([jnp.sin(th), jnp.cos(th)])]
    )
    return Dataset(x, jnp.ones(2, dtype=dtype))
