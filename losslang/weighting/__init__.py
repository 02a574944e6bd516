"""Dynamic weighting schemes: ``nn.Module`` aggregates that weight terms as training goes.

``SCHEMES`` lists what :mod:`losslang.registry` registers: name, class, kind, aliases.
"""

from __future__ import annotations

from losslang.weighting.base import WeightingScheme, synced
from losslang.weighting.dwa import DWA
from losslang.weighting.famo import FAMO
from losslang.weighting.gradnorm import GradNorm
from losslang.weighting.gramian import IMTLG, MGDA, AlignedMTL, CAGrad, DualProj, GramianScheme, PCGrad, UPGrad
from losslang.weighting.lr_annealing import LRAnnealing
from losslang.weighting.relobralo import ReLoBRaLo
from losslang.weighting.rlw import RLW
from losslang.weighting.softadapt import SoftAdapt
from losslang.weighting.stateful import StatefulScheme
from losslang.weighting.uncertainty import Uncertainty

SCHEMES: list[tuple[str, type[WeightingScheme], str, tuple[str, ...]]] = [
    ("uncertainty", Uncertainty, "weighting", ()),
    ("gradnorm", GradNorm, "weighting", ()),
    ("lr_annealing", LRAnnealing, "weighting", ()),
    ("softadapt", SoftAdapt, "weighting", ()),
    ("relobralo", ReLoBRaLo, "weighting", ()),
    ("dwa", DWA, "weighting", ()),
    ("rlw", RLW, "weighting", ()),
    ("famo", FAMO, "weighting", ()),
    ("upgrad", UPGrad, "weighting", ()),
    ("mgda", MGDA, "weighting", ()),
    ("pcgrad", PCGrad, "weighting", ()),
    ("cagrad", CAGrad, "weighting", ()),
    ("imtl_g", IMTLG, "weighting", ()),
    ("dualproj", DualProj, "weighting", ()),
    ("aligned_mtl", AlignedMTL, "weighting", ()),
]

__all__ = [
    "DWA",
    "FAMO",
    "IMTLG",
    "MGDA",
    "RLW",
    "SCHEMES",
    "AlignedMTL",
    "CAGrad",
    "DualProj",
    "GradNorm",
    "GramianScheme",
    "LRAnnealing",
    "PCGrad",
    "ReLoBRaLo",
    "SoftAdapt",
    "StatefulScheme",
    "UPGrad",
    "Uncertainty",
    "WeightingScheme",
    "synced",
]
