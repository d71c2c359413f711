"""Losses: per-example ``loss(output, target)`` objects and the empirical loss.

>>> import gradflow as gf
>>> gf.losses.Exp()(2.0, 1.0)          # exp(-2)
>>> gf.losses.as_loss("logistic")      # names are aliases of the objects
"""

from ._losses import (
    LOSSES as LOSSES,
    REDUCTIONS as REDUCTIONS,
    AbstractLoss as AbstractLoss,
    CallableLoss as CallableLoss,
    CrossEntropy as CrossEntropy,
    Exp as Exp,
    Logistic as Logistic,
    Reduction as Reduction,
    Square as Square,
    as_loss as as_loss,
    check_reduction as check_reduction,
    empirical_loss as empirical_loss,
    per_example as per_example,
    reduce as reduce,
)

__all__ = [
    "LOSSES",
    "REDUCTIONS",
    "AbstractLoss",
    "CallableLoss",
    "CrossEntropy",
    "Exp",
    "Logistic",
    "Reduction",
    "Square",
    "as_loss",
    "check_reduction",
    "empirical_loss",
    "per_example",
    "reduce",
]
