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
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from losslang.errors import LossShapeError
from losslang.terms.reduction import Reduction, reduce
from losslang.terms.shapes import align


def lovasz_softmax(
    probas: Tensor,
    target: Tensor,
    *,
    classes: Literal["present", "all"] = "present",
    per_image: bool = False,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """The multi-class Lovasz-Softmax loss of class probabilities ``(N, C, ...)`` and class indices ``(N, ...)``.

    As the authors' ``lovasz_softmax``: the mean over classes (those ``present`` in the labels, or
    ``all``) of the Lovasz extension of each class's Jaccard loss, over the whole batch, or per
    image with ``per_image`` (then ``reduction`` combines the images). ``reduction="none"`` gives
    each image's loss either way. Give probabilities: ``lovasz_softmax(softmax(logits, dim=1), y)``.
    ``mask`` (per image, or per pixel like ``target``) leaves pixels out as ``ignore_index`` does,
    and a wholly masked image out of the reduction; ``weight`` (per image) weighs each image's loss,
    so with it the loss is reduced over images, as with ``per_image``.

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
    keep = _kept(mask, target)
    if keep is not None:  # a masked pixel's NaN must not reach the value or the gradient
        probas = torch.where(keep.unsqueeze(1), probas, 0)
    count = probas.shape[1]
    scores = probas.movedim(1, -1).reshape(len(probas), math.prod(probas.shape[2:]), count)  # (N, P, C)

    def losses(scores: Tensor, labels: Tensor, valid: Tensor) -> Tensor:
        fg = (labels.unsqueeze(-1) == torch.arange(count, device=labels.device)).to(scores.dtype) * valid[..., None]
        errors = torch.where(valid.unsqueeze(-1), (fg - scores).abs(), -1.0).transpose(1, 2)  # (N, C, P)
        per_class = _lovasz(errors, fg.transpose(1, 2))
        weights = (fg.sum(1) > 0).to(per_class.dtype) if classes == "present" else torch.ones_like(per_class)
        return (per_class * weights).sum(-1) / weights.sum(-1).clamp_min(1)  # no class present: 0, as the authors

    return _images(losses, scores, target, keep, ignore_index, per_image, reduction, weight)


def lovasz_hinge(
    logits: Tensor,
    target: Tensor,
    *,
    per_image: bool = True,
    ignore_index: int | None = None,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """The binary Lovasz hinge loss of logits ``(N, ...)`` and 0/1 labels of the same shape.

    As the authors' ``lovasz_hinge``: the Lovasz extension of the Jaccard loss of the hinge errors
    ``1 - logit * sign``, per image by default (their default too), then ``reduction`` over images;
    ``reduction="none"`` gives each image's loss. ``mask`` and ``weight`` work as in :func:`lovasz_softmax`.

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
    keep = _kept(mask, target)

    def losses(scores: Tensor, labels: Tensor, valid: Tensor) -> Tensor:
        fg = (labels == 1).to(scores.dtype) * valid
        errors = torch.where(valid, 1 - scores * (2 * fg - 1), -torch.inf)
        return _lovasz(errors, fg, hinge=True)

    if keep is not None:
        logits = torch.where(keep, logits, 0)
    scores = logits.reshape(len(logits), math.prod(logits.shape[1:]))
    return _images(losses, scores, target, keep, ignore_index, per_image, reduction, weight)


def _kept(mask: Tensor | None, target: Tensor) -> Tensor | None:
    """The pixels ``mask`` keeps, in the target's shape (a mask per image lines up with the first dimension)."""
    return None if mask is None else torch.broadcast_to(align(mask, target.dim()), target.shape)


def _images(
    losses: Callable[[Tensor, Tensor, Tensor], Tensor],
    scores: Tensor,
    target: Tensor,
    keep: Tensor | None,
    ignore_index: int | None,
    per_image: bool,
    reduction: Reduction,
    weight: Tensor | None,
) -> Tensor:
    """Each image's loss, reduced over the images; or the batch's, taken as one image (the authors' per_image=False).

    ``scores`` has one row per image; ``losses(scores, labels, valid)`` gives one loss per row.
    """
    labels = target.reshape(len(target), math.prod(target.shape[1:]))
    kept = None if keep is None else keep.reshape(labels.shape)
    valid = labels != ignore_index if ignore_index is not None else torch.ones_like(labels, dtype=torch.bool)
    valid = valid if kept is None else valid & kept
    if per_image or reduction == "none" or weight is not None or not len(target):
        images = None if kept is None or not kept.shape[1] else kept.any(-1)  # a wholly masked image is out
        return reduce(losses(scores, labels, valid), reduction, weight, images)
    batch = losses(scores.reshape(1, -1, *scores.shape[2:]), labels.reshape(1, -1), valid.reshape(1, -1))
    return batch.reshape(())


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
