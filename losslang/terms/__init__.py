"""Built-in term functions: pure ``(tensors, *, options) -> Tensor`` maths, no registry code.

``BUILTINS`` lists what :mod:`losslang.registry` registers at import: name, function, kind
(``"loss"`` terms are reported under their own names) and aliases.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from losslang.terms import functions, geometry, regression

BUILTINS: list[tuple[str, Callable[..., Tensor], str, tuple[str, ...]]] = [
    ("mse", regression.mse, "loss", ()),
    ("mae", regression.mae, "loss", ("l1",)),
    ("sin_angle", geometry.sin_angle, "loss", ()),
    ("mean", functions.mean, "function", ()),
    ("sum", functions.sum, "function", ()),
    ("max", functions.max, "function", ()),
    ("min", functions.min, "function", ()),
    ("detach", functions.detach, "function", ()),
]
