"""Dynamic weighting schemes: ``nn.Module`` aggregates that weight terms as training goes.

``SCHEMES`` lists what :mod:`losslang.registry` registers: name, class, kind, aliases.
"""

from __future__ import annotations

from losslang.weighting.base import WeightingScheme, synced
from losslang.weighting.uncertainty import Uncertainty

SCHEMES: list[tuple[str, type[WeightingScheme], str, tuple[str, ...]]] = [
    ("uncertainty", Uncertainty, "weighting", ()),
]

__all__ = ["SCHEMES", "Uncertainty", "WeightingScheme", "synced"]
