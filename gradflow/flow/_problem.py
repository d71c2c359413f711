"""What solve_flow and gd share before integrating: the split of a model into its trainable
leaves and the rest, the loss of those leaves, and the checks of model, data and loss."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
from jaxtyping import Array

from ..data import Dataset
from ..losses import AbstractLoss, as_loss, check_reduction, empirical_loss


def trainable_filter(model: Any) -> Any:
    """Default split of trainable leaves: every inexact (float) array of the model.

    Everything else (functions such as ``eqx.nn.MLP``'s activation, integer arrays, Python
    numbers) is static. To freeze a float leaf, pass ``trainable=`` a filter pytree (same
    structure as the model, True for a trainable leaf) or wrap the leaf in
    ``jax.lax.stop_gradient`` inside the model's ``__call__``.
    """
    return jax.tree_util.tree_map(eqx.is_inexact_array, model)


def split(model: Any, trainable: Any = None) -> tuple[Any, Any]:
    """``(params, static)``: the trainable float leaves, and the rest of the model."""
    spec = trainable_filter(model) if trainable is None else trainable
    try:
        params, static = eqx.partition(model, spec)
    except ValueError as e:
        raise ValueError(
            f"trainable must be a filter pytree with the structure of the model ({e})"
        ) from None
    if not jax.tree_util.tree_leaves(params):
        raise ValueError(
            f"{type(model).__name__} has no trainable float arrays (need at least one "
            "float array leaf; integer weights are not trainable)"
        )
    return params, static


def loss_fn(params, static, data: Dataset, loss: AbstractLoss, reduction: str) -> Array:
    """The loss of ``combine(params, static)`` on ``data`` (used by GF and GD alike)."""
    return empirical_loss(eqx.combine(params, static), data.x, data.y, loss, reduction)


def validate_problem(model: Any, data: Any, loss: Any, reduction: str) -> AbstractLoss:
    """Shared checks of solve_flow and gd; returns the loss object.

    The model must map ONE example ``data.x[0]`` to an output, and the loss must map
    (that output, ``data.y[0]``) to a scalar.
    """
    loss = as_loss(loss)
    check_reduction(reduction)
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be a gradflow.data.Dataset, got {type(data).__name__}")
    if loss.margin:
        data.check_binary()
    try:
        out = eqx.filter_eval_shape(model, data.x[0])
    except Exception as e:  # noqa: BLE001 - re-raised as a clear message
        raise ValueError(
            f"model cannot be applied to one example of shape {tuple(data.x.shape[1:])}: {e}"
        ) from None
    try:
        val = eqx.filter_eval_shape(loss, out, data.y[0])
    except Exception as e:  # noqa: BLE001
        raise ValueError(
            f"loss {loss!r} cannot take the model's output {getattr(out, 'shape', out)} and "
            f"one target of shape {tuple(data.y.shape[1:])}: {e}"
        ) from None
    if getattr(val, "shape", None) != ():
        raise ValueError(
            f"the loss must return a scalar per example, got shape "
            f"{getattr(val, 'shape', '?')} for a model output of shape "
            f"{getattr(out, 'shape', '?')} (a margin loss such as 'exp' needs a scalar output)"
        )
    return loss
