"""Metrics read off a model or a Trajectory."""

from .alignment import (
    alignment_gap as alignment_gap,
    cos_to_class as cos_to_class,
    dead_margin as dead_margin,
    target_cos as target_cos,
    x_minus as x_minus,
    x_plus as x_plus,
)
