"""Metrics read off a model or a Trajectory."""

from .alignment import (
    CONE_DEAD as CONE_DEAD,
    CONE_MINUS as CONE_MINUS,
    CONE_NAMES as CONE_NAMES,
    CONE_OTHER as CONE_OTHER,
    CONE_PLUS as CONE_PLUS,
    AlignmentTime as AlignmentTime,
    alignment_gap as alignment_gap,
    alignment_time as alignment_time,
    alignment_time_core as alignment_time_core,
    balancedness as balancedness,
    cone_gap as cone_gap,
    cones as cones,
    cos_to_class as cos_to_class,
    dead_margin as dead_margin,
    first_crossing as first_crossing,
    mu as mu,
    target_cos as target_cos,
    x_minus as x_minus,
    x_plus as x_plus,
)
from .rank import (
    numerical_rank as numerical_rank,
    sigma_min as sigma_min,
    singular_values as singular_values,
    stable_rank as stable_rank,
)
