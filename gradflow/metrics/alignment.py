"""Compatibility path for ``gradflow.flow.events.aligned`` only (its lazy import).

Removed by the core engine change, which deletes ``aligned`` from flow; everyone else uses
``gradflow.metrics.alignment_gap`` / ``gradflow.metrics.aligned``.
"""

from ._alignment import alignment_gap as alignment_gap

__all__ = ["alignment_gap"]
