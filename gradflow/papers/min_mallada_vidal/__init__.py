"""Min, Mallada & Vidal: early alignment of two-layer ReLU nets, Theorem 1's bound."""

from ._bounds import MinBounds as MinBounds, min_bounds as min_bounds
from ._data import (
    FAMILIES as FAMILIES,
    SeparatedData as SeparatedData,
    separated as separated,
    two_point as two_point,
)
from ._demo import run as run
from ._digits_demo import DELTA as DIGITS_DELTA, digits_flow as digits_flow, run as run_digits
from ._families import FAMILY_NAMES as FAMILY_NAMES, family_data as family_data
from ._figures import (
    alignment_figure as alignment_figure,
    loss_and_directions as loss_and_directions,
    neuron_images as neuron_images,
    plot as plot,
    summarize as summarize,
)
from ._fit import (
    FORMS as FORMS,
    FormFit as FormFit,
    PowerFit as PowerFit,
    bootstrap_median as bootstrap_median,
    bound_variable as bound_variable,
    fit_bound_constant as fit_bound_constant,
    fit_forms as fit_forms,
    fraction_under as fraction_under,
)
from ._problem import AlignmentProblem as AlignmentProblem, cone_time as cone_time

__all__ = [
    "DIGITS_DELTA",
    "FAMILIES",
    "FAMILY_NAMES",
    "FORMS",
    "AlignmentProblem",
    "FormFit",
    "MinBounds",
    "PowerFit",
    "SeparatedData",
    "alignment_figure",
    "bootstrap_median",
    "bound_variable",
    "cone_time",
    "digits_flow",
    "family_data",
    "fit_bound_constant",
    "fit_forms",
    "fraction_under",
    "loss_and_directions",
    "min_bounds",
    "neuron_images",
    "plot",
    "run",
    "run_digits",
    "separated",
    "summarize",
    "two_point",
]
