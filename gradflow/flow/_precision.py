"""The precision rule: a tolerance the state's floating-point type cannot resolve is refused.

Measured (the README's two-point toy: h = 50, alpha = 1e-6, mean exp loss, t1 = 42, Dopri5,
bare mode, max_steps 30 000): in float32 rtol 1e-3 ... 3e-6 all reach t1 (final loss
7.48e-3 ... 7.47e-3); at rtol 1e-6 the controller rejects 29 591 of 30 000 steps and the solve
ends MAX_STEPS at t = 8.4 with loss inf. The floor below keeps a margin of ~3x above the
last rtol that worked: 1e-5 in float32, scaled by machine epsilon for other types (float64:
1.9e-14).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

MIN_RTOL_FLOAT32 = 1e-5


def min_rtol(dtype) -> float:
    """The smallest ``FlowConfig.rtol`` gradflow accepts for a state of floating type ``dtype``:
    ``1e-5 * eps(dtype) / eps(float32)`` (1e-5 in float32, 1.9e-14 in float64)."""
    scale = float(jnp.finfo(dtype).eps) / float(np.finfo(np.float32).eps)
    return MIN_RTOL_FLOAT32 * scale


def check_precision(params, rtol: float) -> None:
    """Raise ``ValueError`` when ``rtol`` is below what the state's least precise float type
    resolves (works on tracers: only dtypes are read)."""
    dtypes = {
        jnp.dtype(a.dtype)
        for a in jax.tree_util.tree_leaves(params)
        if jnp.issubdtype(a.dtype, jnp.inexact)
    }
    if not dtypes:
        return
    coarse = max(dtypes, key=lambda d: float(jnp.finfo(d).eps))
    floor = min_rtol(coarse)
    if rtol < floor:
        raise ValueError(
            f"rtol={rtol:g} is below what {coarse.name} resolves (the model's parameters are "
            f"{coarse.name}; the smallest rtol accepted is {floor:.2g}): the step-size "
            "controller would reject nearly every step and the solve would end at max_steps. "
            "Either enable float64 before creating the model and data "
            '(jax.config.update("jax_enable_x64", True), or JAX_ENABLE_X64=1) or use '
            f"FlowConfig(rtol={floor:.2g}) or larger."
        )
