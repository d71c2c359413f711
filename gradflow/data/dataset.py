"""Compatibility path for ``gradflow.flow`` only (``from ..data.dataset import Dataset``).

Removed by the core engine change, which imports ``from ..data import Dataset``; everyone
else imports ``gradflow.data.Dataset``.
"""

from ._dataset import Dataset as Dataset

__all__ = ["Dataset"]
