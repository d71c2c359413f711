"""Zhou et al. (arXiv 2305.09947, our reconstruction): kernel condensation from small init."""

from ._data import bump_data as bump_data
from ._demo import (
    EPSILONS as EPSILONS,
    condense as condense,
    digits_images as digits_images,
    run as run,
)
from ._figures import cos_to_prediction as cos_to_prediction, cosine_strip as cosine_strip
from ._metrics import (
    CondensationSummary as CondensationSummary,
    condensation_index as condensation_index,
    cos_to_direction as cos_to_direction,
    data_matrix as data_matrix,
    early_time as early_time,
    kernel_cosines as kernel_cosines,
    order_by_projection as order_by_projection,
    ordered_cosines as ordered_cosines,
    predicted_direction as predicted_direction,
    symmetrised as symmetrised,
    top_directions as top_directions,
)

__all__ = [
    "EPSILONS",
    "CondensationSummary",
    "bump_data",
    "condensation_index",
    "condense",
    "cos_to_direction",
    "cos_to_prediction",
    "cosine_strip",
    "data_matrix",
    "digits_images",
    "early_time",
    "kernel_cosines",
    "order_by_projection",
    "ordered_cosines",
    "predicted_direction",
    "run",
    "symmetrised",
    "top_directions",
]
