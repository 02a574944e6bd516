"""The Lovasz losses of Berman, Rannen Triki and Blaschko (CVPR 2018): the Jaccard index, optimised directly.

Ported from the authors' ``pytorch/lovasz_losses.py`` (bermanmaxim/LovaszSoftmax, MIT): the
errors are sorted, and the Lovasz extension's gradient of the Jaccard loss weights them. Their
code loops over images and classes in Python; here every image and class is one batched sort,
with the same values and gradients (``tests/test_terms_lovasz.py`` runs their functions, ported
line by line, against these). Pixels labelled ``ignore_index`` (their ``ignore``) are left out:
they sort last with no error, which changes no other pixel's weight.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from losslang.errors import LossShapeError
from losslang.terms.reduction import Reduction, reduce


def lovasz_softmax(
    probas: Tensor,
    target: Tensor,
    *,
    classes: Literal["present", "all"] = "present",
    per_image: bool = False,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """The multi-class Lovasz-Softmax loss of class probabilities ``(N, C, ...)`` and class indices ``(N, ...)``.

    As the authors' ``lovasz_softmax``: the mean over classes (those ``present`` in the labels, or
    ``all``) of the Lovasz extension of each class's Jaccard loss, over the whole batch, or per
    image with ``per_image`` (then ``reduction`` combines the images). Give probabilities:
    ``lovasz_softmax(softmax(logits, dim=1), y)``.

    Example:
        >>> import torch
        >>> probas = torch.tensor([[[0.9, 0.2], [0.1, 0.8]]])  # one image of two pixels, two classes
        >>> lovasz_softmax(probas, torch.tensor([[0, 1]]))
        tensor(0.1750)
    """
    if probas.dim() == target.dim():  # (N, H, W): one class, as the authors' flatten_probas reads it
        probas = probas.unsqueeze(1)
    if probas.dim() < 2 or target.shape != (probas.shape[0], *probas.shape[2:]):
        raise LossShapeError(
            f"lovasz_softmax(): probas of shape {tuple(probas.shape)} need class indices of shape "
            f"{(probas.shape[0], *probas.shape[2:])}, not {tuple(target.shape)}"
        )
    count, pixels = probas.shape[1], math.prod(probas.shape[2:])
    scores = probas.movedim(1, -1).reshape(probas.shape[0], pixels, count)  # (N, P, C)
    labels = target.reshape(target.shape[0], pixels)
    if not per_image:  # the batch as one image
        scores, labels = scores.reshape(1, -1, count), labels.reshape(1, -1)
    valid = _valid(labels, ignore_index)
    fg = (labels.unsqueeze(-1) == torch.arange(count, device=labels.device)).to(scores.dtype) * valid.unsqueeze(-1)
    errors = torch.where(valid.unsqueeze(-1), (fg - scores).abs(), -1.0).transpose(1, 2)  # (N, C, P)
    losses = _lovasz(errors, fg.transpose(1, 2))
    weights = (fg.sum(1) > 0).to(losses.dtype) if classes == "present" else torch.ones_like(losses)
    per = (losses * weights).sum(-1) / weights.sum(-1).clamp_min(1)  # no class present: 0, as the authors
    return _reduced(per, per_image, len(probas), reduction)


def lovasz_hinge(
    logits: Tensor,
    target: Tensor,
    *,
    per_image: bool = True,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """The binary Lovasz hinge loss of logits ``(N, ...)`` and 0/1 labels of the same shape.

    As the authors' ``lovasz_hinge``: the Lovasz extension of the Jaccard loss of the hinge errors
    ``1 - logit * sign``, per image by default (their default too), then ``reduction`` over images.

    Example:
        >>> import torch
        >>> lovasz_hinge(torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[1, 0, 0]]))
        tensor(0.7500)
    """
    if logits.shape != target.shape or logits.dim() < 1:
        raise LossShapeError(
            f"lovasz_hinge(): logits and labels must have the same shape (N, ...), not {tuple(logits.shape)} "
            f"and {tuple(target.shape)}"
        )
    pixels = math.prod(logits.shape[1:])
    scores, labels = logits.reshape(logits.shape[0], pixels), target.reshape(target.shape[0], pixels)
    if not per_image:  # the batch as one image
        scores, labels = scores.reshape(1, -1), labels.reshape(1, -1)
    valid = _valid(labels, ignore_index)
    fg = (labels == 1).to(scores.dtype) * valid
    errors = torch.where(valid, 1 - scores * (2 * fg - 1), -torch.inf)
    return _reduced(_lovasz(errors, fg, hinge=True), per_image, len(logits), reduction)


def _reduced(per: Tensor, per_image: bool, images: int, reduction: Reduction) -> Tensor:
    """Per image, ``reduction`` over the images; for the batch as one image, its value (none for an empty batch)."""
    if not per_image:
        per = per.reshape(()) if images else per[:0]
    return reduce(per, reduction)


def _valid(labels: Tensor, ignore_index: int | None) -> Tensor:
    return torch.ones_like(labels, dtype=torch.bool) if ignore_index is None else labels != ignore_index


def _lovasz(errors: Tensor, fg: Tensor, *, hinge: bool = False) -> Tensor:
    """Each row's errors, sorted, times the Lovasz gradient of its sorted labels (the authors' lovasz_grad), summed."""
    if errors.shape[-1] == 0:
        return errors.sum(-1)
    ordered, order = torch.sort(errors, dim=-1, descending=True)
    fg_sorted = fg.gather(-1, order)
    total = fg_sorted.sum(-1, keepdim=True)
    jaccard = 1 - (total - fg_sorted.cumsum(-1)) / (total + (1 - fg_sorted).cumsum(-1))
    grad = torch.cat([jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], dim=-1)
    return ((F.relu(ordered) if hinge else ordered.clamp_min(0)) * grad).sum(-1)
