"""Classification losses: scores against class indices, probabilities or binary labels.

``cross_entropy`` and ``nll`` keep torch's meaning of ``weight``: one weight per class, not per
sample. Their ``mask=`` drops samples exactly as ``ignore_index`` does. The binary losses are
element-wise and take ``weight=`` and ``mask=`` like the regression terms.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from losslang.bounds import Count, Fraction, Index, NonNegative, Range
from losslang.errors import LossShapeError, LossValueError
from losslang.terms.reduction import Reduction, pointwise, reduce
from losslang.terms.shapes import broadcast, class_weight, fit, floating, indices, integral


def cross_entropy(
    logits: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: Fraction = 0.0,
    mask: Tensor | None = None,
) -> Tensor:
    """Cross-entropy of logits against class indices or probabilities, as ``torch.nn.CrossEntropyLoss``.

    ``logits`` has shape ``(C,)`` or ``(N, C, d1, ...)``. An integer ``target`` shaped like the
    logits without the class dimension holds class indices; a floating-point target of the
    logits' shape holds class probabilities. ``weight`` is torch's per-class weight of shape
    ``(C,)``, not a per-sample weight: with class indices the mean divides by the summed weights
    of the counted targets, as torch does. ``mask`` (one boolean per sample) drops samples like
    ``ignore_index``. An empty, all-masked or all-ignored batch gives 0, not NaN.

    Example:
        >>> import torch
        >>> logits = torch.tensor([[0.0, 0.0], [2.0, -2.0]])
        >>> round(float(cross_entropy(logits, torch.tensor([0, 0]), mask=torch.tensor([True, False]))), 4)
        0.6931
    """
    loss = functools.partial(F.cross_entropy, weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing)
    return _classes("cross_entropy", loss, logits, target, weight, ignore_index, reduction, mask)


def nll(
    log_probs: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    mask: Tensor | None = None,
) -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities, as ``torch.nn.NLLLoss``.

    Shapes, the per-class ``weight``, ``mask`` and the empty batch are as in :func:`cross_entropy`.

    Example:
        >>> import torch
        >>> nll(torch.tensor([[-1.0, -2.0], [-3.0, -4.0]]), torch.tensor([1, 0]), reduction="none")
        tensor([2., 3.])
    """
    loss = functools.partial(F.nll_loss, weight=weight, ignore_index=ignore_index)
    return _classes("nll", loss, log_probs, target, weight, ignore_index, reduction, mask, probabilities=False)


def _classes(
    term: str,
    loss: Callable[..., Tensor],
    scores: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: Reduction,
    mask: Tensor | None,
    *,
    probabilities: bool = True,
) -> Tensor:
    class_dim = 1 if scores.dim() > 1 else 0
    shape = tuple(scores.shape[:class_dim] + scores.shape[class_dim + 1 :])
    by_index = _by_index(term, scores, target, shape, probabilities)
    class_weight(term, weight, "logits" if probabilities else "log_probs", scores, class_dim)
    mask = fit(term, "mask", mask, shape)
    if mask is not None:  # zero masked scores too: a NaN there would reach the gradient
        per_class = mask.unsqueeze(class_dim)
        scores = torch.where(per_class, scores, 0)
        target = torch.where(mask, target, ignore_index) if by_index else torch.where(per_class, target, 0)
    if by_index and reduction == "mean":  # torch's mean, except that nothing counted gives 0, not NaN
        if weight is None:
            mean = loss(scores, target, reduction="mean")
            # Nothing counted: torch's 0/0. No target has a gradient, so the backward is already
            # zero; only the value needs fixing, in place (through a detached alias, outside
            # autograd), which keeps no tensor for the backward.
            if target.numel():
                mean.detach().masked_fill_(_all_ignored(target, ignore_index, scores.shape[class_dim]), 0.0)
            else:  # an empty batch: nothing counted
                mean.detach().fill_(0.0)
            return mean
        counted = target != ignore_index  # class weights: counted targets of weight 0 would be 0/0
        total = (weight[torch.where(counted, target, 0)] * counted).sum()
        return loss(scores, target, reduction="sum") / torch.where(total == 0, 1, total)
    return reduce(loss(scores, target, reduction="none"), reduction, None, mask)


def _all_ignored(target: Tensor, ignore_index: int, classes: int) -> Tensor:
    """Whether every class index in ``target`` is ``ignore_index``, in one reduction pass.

    Run after torch's loss, which raises for any index outside ``[0, classes)`` but the ignored
    one, so an ``ignore_index`` below the classes (-100, torch's default) is the largest index
    only when every index is it, and one above them the smallest. An ignored class in between
    takes both ends (one ``aminmax``, a quarter of ``(target == i).all()``).

    Example:
        >>> import torch
        >>> _all_ignored(torch.tensor([-100, -100]), -100, 3), _all_ignored(torch.tensor([0, 2]), 0, 3)
        (tensor(True), tensor(False))
    """
    if ignore_index < 0:
        return target.max() == ignore_index
    if ignore_index >= classes:
        return target.min() == ignore_index
    low, high = torch.aminmax(target)
    return (low == ignore_index) & (high == ignore_index)


def _by_index(term: str, scores: Tensor, target: Tensor, shape: tuple[int, ...], probabilities: bool) -> bool:
    """Whether ``target`` holds class indices (else probabilities); raises if it is neither."""
    name = "logits" if probabilities else "log_probs"
    floating(term, name, scores)
    if probabilities and target.shape == scores.shape:
        if not target.is_floating_point():
            message = f"target of shape {tuple(target.shape)} holds class probabilities"
            raise LossShapeError(f"{term}(): {message}, so it must be floating point, not {target.dtype}")
        if target.dtype != scores.dtype:
            raise LossShapeError(f"{term}(): {name} are {scores.dtype} but target is {target.dtype}")
        return False
    if tuple(target.shape) != shape:
        expected = f"class indices of shape {shape}"
        if probabilities:
            expected += f" or probabilities of shape {tuple(scores.shape)}"
        message = f"{name} have shape {tuple(scores.shape)} but target has shape {tuple(target.shape)}"
        raise LossShapeError(f"{term}(): {message}; expected {expected}")
    indices(term, "target", target, shape)
    return True


def bce(
    probs: Tensor,
    target: Tensor | float,
    *,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
    mask: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy of probabilities, as ``torch.nn.BCELoss``; ``weight`` rescales each element.

    ``weight`` is lined up with the samples like every ``weight=`` here: ``(N,)`` is one weight
    per sample. Torch broadcasts a shorter weight from the right instead, so its per-class
    ``(C,)`` weight of an ``(N, C)`` input is written ``(1, C)``.

    Example:
        >>> import torch
        >>> bce(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0]), reduction="none")
        tensor([0.6931, 0.6931])
    """
    loss = F.binary_cross_entropy
    names = ("probs", "target")
    return pointwise(
        "bce", loss, probs, target, reduction=reduction, weight=weight, mask=mask, native=True, names=names
    )


def bce_with_logits(
    logits: Tensor,
    target: Tensor | float,
    *,
    weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    reduction: Reduction = "mean",
    mask: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy of logits, as ``torch.nn.BCEWithLogitsLoss``; stable for large logits.

    ``weight`` rescales each element, lined up with the samples as for :func:`bce`;
    ``pos_weight`` rescales the positive term of each class and broadcasts from the right, as
    in torch.

    Example:
        >>> import torch
        >>> bce_with_logits(torch.tensor([0.0, 1e4]), torch.tensor([1.0, 1.0]), reduction="none")
        tensor([0.6931, 0.0000])
    """
    if pos_weight is not None:
        broadcast("bce_with_logits", {"logits": logits, "pos_weight": pos_weight})
    loss = functools.partial(F.binary_cross_entropy_with_logits, pos_weight=pos_weight)
    names = ("logits", "target")
    return pointwise(
        "bce_with_logits", loss, logits, target, reduction=reduction, weight=weight, mask=mask, native=True, names=names
    )


def focal(
    logits: Tensor,
    target: Tensor | float,
    *,
    alpha: Annotated[float, Range(le=1)] = 0.25,
    gamma: NonNegative = 2.0,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Sigmoid focal loss of logits, as ``torchvision.ops.sigmoid_focal_loss`` (Lin et al., 2017).

    ``alpha`` in ``[0, 1]`` weighs positives against negatives (a negative ``alpha`` turns it
    off); ``gamma`` down-weights easy examples. The default reduction is ``"mean"``, like every
    term here (torchvision's is ``"none"``). ``1 - p_t`` is computed as a sum of sigmoids rather
    than a difference, so it has no cancellation error for confident predictions.

    Example:
        >>> import torch
        >>> loss = focal(torch.tensor([0.0, 1e4]), torch.tensor([1.0, 1.0]), reduction="none")
        >>> [round(value, 6) for value in loss.tolist()]
        [0.043322, 0.0]
    """
    loss = functools.partial(_focal, alpha=alpha, gamma=gamma)
    names = ("logits", "target")
    return pointwise("focal", loss, logits, target, reduction=reduction, weight=weight, mask=mask, names=names)


def _focal(logits: Tensor, target: Tensor, *, alpha: float, gamma: float) -> Tensor:
    cross_entropy = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    miss = torch.sigmoid(logits) * (1 - target) + torch.sigmoid(-logits) * target  # 1 - p_t
    loss = cross_entropy * _power(miss, gamma)
    return (alpha * target + (1 - alpha) * (1 - target)) * loss if alpha >= 0 else loss


def _power(x: Tensor, gamma: float) -> Tensor:
    """``x**gamma`` for ``x >= 0``, with a zero gradient at ``x == 0``.

    For ``0 < gamma < 1`` the derivative of ``x**gamma`` at 0 is infinite, and a confident
    right prediction (``1 - p_t`` exactly 0, e.g. at logits of 1e4) would get the gradient
    ``0 * inf = NaN``; the focal loss itself has a zero gradient there.

    Example:
        >>> import torch
        >>> x = torch.tensor([0.0, 0.25], requires_grad=True)
        >>> _power(x, 0.5).sum().backward()
        >>> x.grad
        tensor([0., 1.])
    """
    if not 0 < gamma < 1:  # torch's gradient at 0 is already finite (0 for gamma > 1)
        return x**gamma
    zero = x == 0
    return torch.where(zero, 0.0, torch.where(zero, 1.0, x) ** gamma)


def ctc(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor,
    target_lengths: Tensor,
    *,
    blank: Index = 0,
    reduction: Reduction = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """Connectionist temporal classification loss, as ``torch.nn.CTCLoss``; no ``weight`` or ``mask``.

    ``log_probs`` are ``(T, N, C)`` log-softmax outputs. The mean divides each sequence's loss by
    its target length, then averages over the batch, as torch does; an empty batch gives 0.

    Example:
        >>> import torch
        >>> log_probs = torch.full((2, 1, 2), 0.5).log()  # two steps, one sequence, blank and one class
        >>> ctc(log_probs, torch.tensor([[1]]), torch.tensor([2]), torch.tensor([1]), reduction="sum")
        tensor(0.2877)
    """
    _ctc_inputs(log_probs, targets, input_lengths, target_lengths)
    if log_probs.dim() == 3 and log_probs.shape[1] == 0:  # torch refuses an empty batch
        empty = log_probs.sum((0, 2))
        return empty if reduction == "none" else empty.sum()
    loss = F.ctc_loss(
        log_probs, targets, input_lengths, target_lengths, blank=blank, reduction="none", zero_infinity=zero_infinity
    )
    if reduction == "mean":
        loss = loss / target_lengths.clamp_min(1).to(loss.dtype)
    return reduce(loss, reduction)


def _ctc_inputs(log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor) -> None:
    """Check ``ctc``'s inputs as torch needs them, naming the argument and both shapes where they disagree."""
    floating("ctc", "log_probs", log_probs)
    if log_probs.dim() not in (2, 3):
        raise LossShapeError(f"ctc(): log_probs must have shape (T, N, C) or (T, C), not {tuple(log_probs.shape)}")
    if not integral(targets):
        raise LossShapeError(f"ctc(): targets hold class indices, so they must be integers, not {targets.dtype}")
    batch = tuple(log_probs.shape[1:2]) if log_probs.dim() == 3 else ()
    for name, lengths in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if tuple(lengths.shape) != batch and (batch or tuple(lengths.shape) != (1,)):
            sequences = f"{batch[0]} sequences" if batch else "one sequence"
            message = f"{name} has shape {tuple(lengths.shape)} but log_probs of shape {tuple(log_probs.shape)}"
            raise LossShapeError(f"ctc(): {message} hold {sequences}; give one length per sequence, shape {batch}")
        if not integral(lengths):
            raise LossShapeError(f"ctc(): {name} hold lengths, so they must be integers, not {lengths.dtype}")


def accuracy(scores: Tensor, target: Tensor, *, k: Count = 1, ignore_index: int | None = None) -> Tensor:
    """Top-``k`` accuracy: the share of samples whose class index is among the ``k`` highest scores.

    ``scores`` are logits or probabilities of shape ``(N, C)`` or ``(N, C, d1, ...)``, ``target``
    class indices of shape ``(N,)`` or ``(N, d1, ...)``, as for ``cross_entropy``. It is a metric:
    it carries no gradient (keep it out of the total, or it adds a constant). A class index
    outside ``[0, C)`` is an error, as in ``cross_entropy``, unless it is ``ignore_index``: those
    samples count neither as hits nor as misses. A sample whose scores hold a NaN makes the
    accuracy NaN, as it makes the loss NaN. An empty (or all-ignored) batch gives 0.

    Example:
        >>> import torch
        >>> scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
        >>> accuracy(scores, torch.tensor([1, 1, 2])), accuracy(scores, torch.tensor([1, 1, 2]), k=2)
        (tensor(0.6667), tensor(1.))
        >>> accuracy(scores, torch.tensor([1, -100, 2]), ignore_index=-100)
        tensor(1.)
    """
    if scores.dim() < 2:
        raise LossShapeError(f"accuracy(): scores must have shape (N, C) or (N, C, ...), not {tuple(scores.shape)}")
    indices("accuracy", "target", target, (scores.shape[0], *scores.shape[2:]))
    classes = scores.shape[1]
    if k > classes:
        raise LossShapeError(f"accuracy(): k={k} but there are only {classes} classes")
    dtype = torch.promote_types(scores.dtype, torch.float32) if scores.is_floating_point() else torch.float32
    counted = None if ignore_index is None else target != ignore_index
    valid = (target >= 0) & (target < classes)
    outside = ~valid if counted is None else ~valid & counted
    if bool(outside.any()):
        bad = int(target[outside].reshape(-1)[0])
        hint = "" if ignore_index is not None else "; give ignore_index= for a label that marks samples to leave out"
        raise LossValueError(f"accuracy(): target holds the class index {bad}, outside [0, {classes}){hint}")
    top = scores.detach().topk(k, dim=1).indices
    hits = (top == target.unsqueeze(1)).any(dim=1).to(dtype)
    if scores.is_floating_point():  # topk ranks a NaN first: a NaN score is no hit, and no miss either
        hits = hits.masked_fill(scores.detach().isnan().any(dim=1), torch.nan)
    if counted is None:
        return hits.mean() if hits.numel() else torch.zeros((), dtype=dtype, device=scores.device)
    return torch.where(counted, hits, 0).sum() / counted.sum().clamp(min=1)
