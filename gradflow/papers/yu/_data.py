"""Key-pattern data of Yu, Zhang & Zhu (arXiv 1905.10157) -- OUR RECONSTRUCTION.

The full text was not available; this is the documented setup gradflow uses:

- Patterns: one orthonormal set of 2 + B unit vectors of length ``d_patch`` (the rows of the
  Q factor of a Gaussian matrix): the key patterns p_+ (row 0) and p_- (row 1) and B
  background patterns b_1..b_B. Needs 2 + B <= d_patch.
- Example i: label y_i = +1 for the first ceil(n/2) examples, -1 for the rest (balanced);
  a signal of ``num_patches`` non-overlapping patches of length ``d_patch`` (a 1-D vector of
  length num_patches * d_patch). The key pattern p_{y_i} sits at a uniformly random patch
  position; every other patch holds ``background_scale`` times a background pattern drawn
  uniformly from b_1..b_B (independently per patch); each patch then gets i.i.d. Gaussian
  noise N(0, noise^2 / d_patch) per coordinate (so E|noise|^2 = noise^2 per patch).
- The label is decided by the key pattern alone: background statistics are the same in
  both classes, so a filter that learns a background pattern carries no signal.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ..._validate import integer, positive
from ...data import Dataset


class PatternSet(eqx.Module):
    """The patterns behind :func:`pattern_data`.

    Attributes:
        key: (2, d_patch), rows p_+ and p_-.
        background: (B, d_patch), the background patterns.
        position: (n,), the patch index holding the key pattern of each example.
    """

    key: Float[Array, "2 p"]
    background: Float[Array, "B p"]
    position: Int[Array, " n"]

    @property
    def p_plus(self) -> Array:
        return self.key[0]

    @property
    def p_minus(self) -> Array:
        return self.key[1]

    @property
    def all(self) -> Array:
        """(2 + B, d_patch): p_+, p_-, then the background patterns."""
        return jnp.concatenate([self.key, self.background], axis=0)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _build_patterns(key, n, d_patch, num_patches, num_background, background_scale, noise):
    """One compiled draw of :func:`pattern_data` (static sizes; cached across calls)."""
    k_basis, k_pos, k_bg, k_noise = jax.random.split(key, 4)
    g = jax.random.normal(k_basis, (d_patch, 2 + num_background))
    basis = jnp.linalg.qr(g)[0].T  # (2 + B, d_patch), orthonormal rows
    key_pats, background = basis[:2], basis[2:]
    y = jnp.where(jnp.arange(n) < -(-n // 2), 1.0, -1.0)
    position = jax.random.randint(k_pos, (n,), 0, num_patches)
    if num_background:
        choice = jax.random.randint(k_bg, (n, num_patches), 0, num_background)
        x = background_scale * background[choice]  # (n, P, d_patch)
    else:
        x = jnp.zeros((n, num_patches, d_patch))
    key_of = jnp.where((y > 0)[:, None], key_pats[0], key_pats[1])  # (n, d_patch)
    at_key = (jnp.arange(num_patches)[None, :] == position[:, None])[..., None]
    x = jnp.where(at_key, key_of[:, None, :], x)
    if noise > 0:
        x = x + noise / np.sqrt(d_patch) * jax.random.normal(k_noise, x.shape)
    return x, y, key_pats, background, position


def pattern_data(
    n: int,
    d_patch: int,
    num_patches: int,
    *,
    num_background: int = 3,
    background_scale: float = 1.0,
    noise: float = 0.0,
    key: PRNGKeyArray,
) -> tuple[Dataset, PatternSet]:
    """Yu et al.-style key-pattern data (our reconstruction; see the module docstring).

    x_i = [patch_1, ..., patch_P] (P = num_patches, each of length d_patch), with
    patch_{pos_i} = p_{y_i} and the others background_scale * b_{c_iq} (+ noise).

    Returns:
        (Dataset with x (n, P * d_patch) and y (n,) in {+1, -1}, :class:`PatternSet`).

    >>> data, pats = pattern_data(40, 8, 4, key=jax.random.key(0))
    >>> data.x.shape, pats.key.shape      # (40, 32), (2, 8)
    """
    n = integer("n", n, 2)
    d_patch = integer("d_patch", d_patch, 2)
    num_patches = integer("num_patches", num_patches, 1)
    num_background = integer("num_background", num_background, 0)
    if 2 + num_background > d_patch:
        raise ValueError(
            f"need 2 + num_background <= d_patch for orthonormal patterns, got "
            f"2 + {num_background} > {d_patch}"
        )
    if num_patches > 1 and num_background == 0:
        raise ValueError("num_background must be >= 1 when num_patches > 1")
    background_scale = positive("background_scale", background_scale)
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    x, y, key_pats, background, position = _build_patterns(
        key, n, d_patch, num_patches, num_background, background_scale, float(noise)
    )
    data = Dataset(x.reshape(n, num_patches * d_patch), y)
    return data, PatternSet(key=key_pats, background=background, position=position)
