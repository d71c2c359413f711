"""Generic data: the Dataset container, the IDX reader, bundled digits and MNIST loaders.

Paper-specific generators live with their paper (e.g. ``gradflow.papers.min_mallada_vidal``).
"""

from ._dataset import Dataset as Dataset
from ._digits import digits as digits, mnist as mnist, read_idx as read_idx

__all__ = ["Dataset", "digits", "mnist", "read_idx"]
