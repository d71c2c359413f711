"""Yu, Zhang & Zhu (arXiv 1905.10157, our reconstruction): key-pattern CNN filters."""

from ._data import PatternSet as PatternSet, pattern_data as pattern_data
from ._demo import run as run
from ._figures import filter_curves as filter_curves
from ._metrics import (
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

__all__ = [
    "FilterSummary",
    "PatternSet",
    "accuracy",
    "assignment",
    "best_key_cos",
    "filter_curves",
    "filter_norms",
    "is_key_filter",
    "key_background_ratio",
    "margins",
    "pattern_cos",
    "pattern_data",
    "ratio_from_summary",
    "run",
]
