"""Du, Lee & Tian (arXiv 1709.06129): learning one convolutional filter from a teacher."""

from ._data import (
    DISTRIBUTIONS as DISTRIBUTIONS,
    close_patches as close_patches,
    sample_inputs as sample_inputs,
    teacher_data as teacher_data,
)
from ._demo import run as run
from ._figures import (
    du_figure as du_figure,
    time_to_learn_figure as time_to_learn_figure,
    time_to_learn_summary as time_to_learn_summary,
)
from ._problem import FilterLearned as FilterLearned, TimeToLearnProblem as TimeToLearnProblem
from ._theory import (
    POPULATION_OFFSET as POPULATION_OFFSET,
    DuPopulation as DuPopulation,
    population_data as population_data,
    population_flow as population_flow,
    population_loss as population_loss,
    population_loss_nonoverlap as population_loss_nonoverlap,
    relu_kernel as relu_kernel,
    relu_kernel_cov as relu_kernel_cov,
)

__all__ = [
    "DISTRIBUTIONS",
    "POPULATION_OFFSET",
    "DuPopulation",
    "FilterLearned",
    "TimeToLearnProblem",
    "close_patches",
    "du_figure",
    "population_data",
    "population_flow",
    "population_loss",
    "population_loss_nonoverlap",
    "relu_kernel",
    "relu_kernel_cov",
    "run",
    "sample_inputs",
    "teacher_data",
    "time_to_learn_figure",
    "time_to_learn_summary",
]
