"""Losses as small Equinox modules, and the ONE definition of sum vs mean reduction.

A loss is a per-example function ``loss(output, target) -> scalar``, where ``output`` is the
model's output for ONE example (a scalar or a vector) and ``target`` that example's target
(any shape). The empirical loss reduces it over the data set:

    L(theta) = mean_i loss(f_theta(x_i), y_i)     (reduction "mean", clock t_mean)
    L(theta) = sum_i  loss(f_theta(x_i), y_i)     (reduction "sum",  clock t_sum)

Time units: because ``L_sum = n * L_mean``, the two flows coincide with
``t_sum = t_mean / n``. Every gradflow API that returns a time says which clock it uses
(``Trajectory.clock``).

Built in (names are aliases for the objects):
    "exp":           Exp()           exp(-y f)                  (margin loss, y = +-1)
    "logistic":      Logistic()      log(1 + exp(-y f))         (margin loss; no factor 2)
    "square":        Square()        |f - y|^2 / 2
    "cross_entropy": CrossEntropy()  logsumexp(f) - f[y]        (f: logits (k,), y: class id)
Any callable ``loss(output, target) -> scalar`` works too (wrapped in :class:`CallableLoss`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

Reduction = Literal["mean", "sum"]
REDUCTIONS = ("mean", "sum")


class AbstractLoss(eqx.Module):
    """A per-example loss ``loss(output, target) -> scalar``.

    Subclass it with plain-number fields (compared by value, so equal losses share one
    compiled solve). Set the class variable ``margin = True`` for a loss of the margin
    ``y * f`` that needs labels +1/-1 (the data are then checked).
    """

    margin: ClassVar[bool] = False

    @abc.abstractmethod
    def __call__(self, output: Any, target: Any) -> Float[Array, ""]:
        """The loss of one example."""

    def slope_at_zero(self) -> float:
        """-d loss / d f at f = 0, y = +1: how hard a zero-output network is pushed.

        exp: 1, logistic: 1/2, square: 1. Small-init theory (early alignment, condensation
        time scales) depends on the loss only through this number.
        """
        g = jax.grad(lambda f: self(f, jnp.ones(())))(jnp.zeros(()))
        return float(-g)


class Exp(AbstractLoss):
    """Exponential loss of the margin: exp(-y f), labels y = +-1."""

    margin: ClassVar[bool] = True

    def __call__(self, output, target):
        return jnp.exp(-target * output)


class Logistic(AbstractLoss):
    """Logistic loss of the margin: log(1 + exp(-y f)), labels y = +-1 (no factor 2)."""

    margin: ClassVar[bool] = True

    def __call__(self, output, target):
        return jnp.logaddexp(0.0, -target * output)


class Square(AbstractLoss):
    """Square loss |f - y|^2 / 2 (summed over output entries for a vector output)."""

    def __call__(self, output, target):
        return 0.5 * jnp.sum((output - target) ** 2)


class CrossEntropy(AbstractLoss):
    """Softmax cross-entropy of logits ``f`` (k,) and an integer class ``y`` in [0, k)."""

    def __call__(self, output, target):
        return jax.nn.logsumexp(output) - jnp.take(output, target)

    def slope_at_zero(self) -> float:
        raise ValueError("slope_at_zero is defined for scalar-output losses only")


class CallableLoss(AbstractLoss):
    """A user function ``fn(output, target) -> scalar`` as a loss.

    Compared by the identity of ``fn``: define it once (``def my_loss(f, y): ...``), not as
    a fresh lambda per call, or every call compiles anew.
    """

    fn: Callable[[Any, Any], Array] = eqx.field(static=True)

    def __call__(self, output, target):
        return self.fn(output, target)


LOSSES: dict[str, AbstractLoss] = {
    "exp": Exp(),
    "logistic": Logistic(),
    "square": Square(),
    "cross_entropy": CrossEntropy(),
}


def as_loss(loss: str | AbstractLoss | Callable[[Any, Any], Array]) -> AbstractLoss:
    """A loss object from a name (``"exp"``, ...), a loss object, or a callable."""
    if isinstance(loss, AbstractLoss):
        return loss
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(
                f"loss must be one of {sorted(LOSSES)}, a gradflow loss object or a callable "
                f"loss(output, target) -> scalar; got {loss!r}"
            )
        return LOSSES[loss]
    if callable(loss):
        return CallableLoss(loss)
    raise ValueError(
        f"loss must be a name {sorted(LOSSES)}, a gradflow loss object or a callable "
        f"loss(output, target) -> scalar; got {type(loss).__name__}"
    )


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    return reduction


def reduce(values: Float[Array, " n"], reduction: str) -> Float[Array, ""]:
    """Mean or sum over examples (the one place the two clocks differ)."""
    return jnp.mean(values) if reduction == "mean" else jnp.sum(values)


def per_example(loss: AbstractLoss, outputs: Array, targets: Array) -> Float[Array, " n"]:
    """``loss`` of every example: outputs (n, ...) and targets (n, ...)."""
    return jax.vmap(loss)(outputs, targets)


def empirical_loss(
    model: Callable[[Array], Array],
    x: Float[Array, "n ..."],
    y: Array,
    loss: str | AbstractLoss | Callable = "exp",
    reduction: str = "mean",
) -> Float[Array, ""]:
    """L(theta) = reduce_i loss(f(x_i), y_i); the model is written for one example and vmapped.

    >>> empirical_loss(model, data.x, data.y, "exp", "mean")
    """
    loss = as_loss(loss)
    return reduce(per_example(loss, jax.vmap(model)(x), y), check_reduction(reduction))
