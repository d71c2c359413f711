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
from .condensation import (
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
from .features import feature_matrix as feature_matrix, feature_rank as feature_rank
from .filters import (
    FilterSummary as FilterSummary,
    accuracy as accuracy,
    assignment as assignment,
    best_key_cos as best_key_cos,
    filter_norms as filter_norms,
    is_key_filter as is_key_filter,
    key_background_ratio as key_background_ratio,
    margins as margins,
    pattern_cos as pattern_cos,
    ratio_from_summary as ratio_from_summary,
)
from .rank import (
    numerical_rank as numerical_rank,
    sigma_min as sigma_min,
    singular_values as singular_values,
    stable_rank as stable_rank,
)
from .switches import (
    cone_entry_times as cone_entry_times,
    pattern_at as pattern_at,
    switch_counts as switch_counts,
    zeno_violations as zeno_violations,
)
