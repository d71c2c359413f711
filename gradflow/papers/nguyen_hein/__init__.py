"""Nguyen & Hein (arXiv 1710.10928): a wide layer gives full-rank features."""

from ._demo import PAIR as PAIR, T1 as T1, rank_sweep as rank_sweep, run as run, train as train
from ._figures import wide_cnn_figure as wide_cnn_figure
from ._metrics import feature_matrix as feature_matrix, feature_rank as feature_rank

__all__ = [
    "PAIR",
    "T1",
    "feature_matrix",
    "feature_rank",
    "rank_sweep",
    "run",
    "train",
    "wide_cnn_figure",
]
