"""Small synthetic datasets for the demo training run, generated from a seed.

Each returns a dict of equally long tensors; the trainer batches them along the first dimension.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from losslang.bounds import Range


def linear_multilabel(samples: int = 160, seed: int = 0) -> dict[str, Tensor]:
    """The MindSpore multi-label tutorial: ``y1 = 2x + 3 + N(0, 1)``, ``y2 = 2x + 3 + N(-1, 1)``.

    Example:
        >>> data = linear_multilabel(4)
        >>> sorted(data), tuple(data["x"].shape)
        (['label1', 'label2', 'x'], (4, 1))
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(samples, 1, generator=generator) * 20 - 10
    label1 = 2 * x + 3 + torch.randn(samples, 1, generator=generator)
    label2 = 2 * x + 3 + torch.randn(samples, 1, generator=generator) - 1
    return {"x": x, "label1": label1, "label2": label2}


def classification(samples: int = 256, features: int = 2, classes: int = 3, seed: int = 0) -> dict[str, Tensor]:
    """Gaussian blobs, one per class, with integer labels and a regression target (the distance to the origin).

    Example:
        >>> data = classification(6, classes=3)
        >>> data["label"].dtype, tuple(data["x"].shape), tuple(data["radius"].shape)
        (torch.int64, (6, 2), (6,))
    """
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, features, generator=generator) * 3
    label = torch.randint(classes, (samples,), generator=generator)
    x = centres[label] + torch.randn(samples, features, generator=generator)
    return {"x": x, "label": label, "radius": x.norm(dim=1)}


def regression_angle(samples: int = 256, features: int = 4, seed: int = 0) -> dict[str, Tensor]:
    """Targets are 3-vectors ``x @ W`` whose direction matters as much as their length.

    Example:
        >>> tuple(regression_angle(5)["target"].shape)
        (5, 3)
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, features, generator=generator)
    weight = torch.randn(features, 3, generator=generator)
    return {"x": x, "target": x @ weight}


def conflicting_tasks(samples: int = 512, seed: int = 0) -> dict[str, Tensor]:
    """Two regression tasks that compete for a shared representation, on scales 100x apart.

    ``y1 = x[:, :4] @ a`` and ``y2 = 10 * x[:, 4:] @ b`` read disjoint halves of ``x``: a model whose
    shared trunk narrows to one unit cannot fit both, so every step trades one task against the
    other, and a plain sum of their MSEs favours ``y2``, whose loss is 100 times larger.

    Example:
        >>> data = conflicting_tasks(6)
        >>> sorted(data), tuple(data["x"].shape)
        (['x', 'y1', 'y2'], (6, 8))
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, 8, generator=generator)
    a, b = torch.randn(4, 1, generator=generator), torch.randn(4, 1, generator=generator)
    return {"x": x, "y1": x[:, :4] @ a / 2, "y2": 10 * x[:, 4:] @ b / 2}


_SAMPLES, _WIDTH, _SEED = Range(ge=1, le=10_000_000), Range(ge=1, le=10_000), Range(ge=0, lt=2**63)
# The options each dataset takes, and the integers each may be: a config is refused before torch sees it.
DATASET_OPTIONS: dict[str, dict[str, Range]] = {
    "linear_multilabel": {"samples": _SAMPLES, "seed": _SEED},
    "classification": {"samples": _SAMPLES, "features": _WIDTH, "classes": _WIDTH, "seed": _SEED},
    "regression_angle": {"samples": _SAMPLES, "features": _WIDTH, "seed": _SEED},
    "conflicting_tasks": {"samples": _SAMPLES, "seed": _SEED},
}
DATASETS: dict[str, Callable[..., dict[str, Tensor]]] = {
    "linear_multilabel": linear_multilabel,
    "classification": classification,
    "regression_angle": regression_angle,
    "conflicting_tasks": conflicting_tasks,
}
