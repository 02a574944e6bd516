"""Shape and dtype checks shared by the terms: plain comparisons of ``.shape`` and ``.dtype``.

They read metadata only, never values, so they cost no device synchronisation. Each raises a
:class:`LossShapeError` that names the term, the arguments and their shapes or dtypes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from losslang.errors import LossShapeError


def same_shape(term: str, tensors: Mapping[str, Tensor]) -> None:
    """Check that floating-point tensors have the same shape and dtype as the first one.

    Raises:
        LossShapeError: naming ``term`` and both shapes or dtypes.

    Example:
        >>> import torch
        >>> same_shape("mse", {"pred": torch.ones(4, 3), "target": torch.ones(4, 1)})
        Traceback (most recent call last):
        ...
        losslang.errors.LossShapeError: mse(): pred has shape (4, 3) but target has shape (4, 1); they must match
    """
    (first, reference), *others = tensors.items()
    floating(term, first, reference)
    for name, tensor in others:
        if tensor.shape != reference.shape:
            message = f"{first} has shape {tuple(reference.shape)} but {name} has shape {tuple(tensor.shape)}"
            raise LossShapeError(f"{term}(): {message}; they must match")
        if tensor.dtype != reference.dtype:
            message = f"{first} is {reference.dtype} but {name} is {tensor.dtype}"
            raise LossShapeError(f"{term}(): {message}; convert one, e.g. {name}.to({first}.dtype)")


def broadcast(term: str, tensors: Mapping[str, Tensor]) -> None:
    """Check that tensors broadcast together, as element-wise torch functions need.

    Example:
        >>> import torch
        >>> broadcast("minimum", {"x": torch.ones(4, 3), "y": torch.ones(2)})
        Traceback (most recent call last):
        ...
        losslang.errors.LossShapeError: minimum(): x of shape (4, 3) and y of shape (2,) do not broadcast together
    """
    shapes = [tuple(tensor.shape) for tensor in tensors.values()]
    try:
        torch.broadcast_shapes(*shapes)
    except RuntimeError:
        described = " and ".join(f"{name} of shape {shape}" for name, shape in zip(tensors, shapes, strict=True))
        raise LossShapeError(f"{term}(): {described} do not broadcast together") from None


def one_sided(what: str, result: Tensor, *operands: Tensor | float, names: Sequence[str] = ()) -> Tensor:
    """``result`` of an element-wise operation ``what``, unless broadcasting gave it more values than every operand.

    Broadcasting that keeps one operand's values (a scalar, an ``(N, 1)`` weight against ``(N, C)``)
    is what weights and masks do. A result larger than every operand pairs each value of one with
    each value of another: ``(N, 1) - (N,)`` is ``(N, N)``, every prediction against every target,
    and its mean is a different loss with no error (torch's ``mse_loss`` only warns).

    Raises:
        LossShapeError: naming ``what`` (``"minimum()"``, ``"'-'"``), each operand (by ``names``, else
            "argument 1", "argument 2", ...) with its shape, and the result's shape.

    Example:
        >>> import torch
        >>> one_sided("'-'", torch.ones(4, 4), torch.ones(4, 1), torch.ones(4), names=("the left", "the right"))
        Traceback (most recent call last):
        ...
        losslang.errors.LossShapeError: '-': the left of shape (4, 1) and the right of shape (4,) broadcast to \
(4, 4), more values than either; make the shapes match, e.g. x[:, 0] for an (N, 1) x
    """
    largest = 1
    for operand in operands:
        if isinstance(operand, Tensor) and operand.numel() > largest:
            largest = operand.numel()
    if result.numel() <= largest:
        return result
    labels = names or [f"argument {index}" for index in range(1, len(operands) + 1)]
    shapes = [tuple(operand.shape) if isinstance(operand, Tensor) else () for operand in operands]
    described = " and ".join(f"{name} of shape {shape}" for name, shape in zip(labels, shapes, strict=True))
    either = "either" if len(operands) == 2 else "any of them"
    message = f"{described} broadcast to {tuple(result.shape)}, more values than {either}"
    raise LossShapeError(f"{what}: {message}; make the shapes match, e.g. x[:, 0] for an (N, 1) x")


def floating(term: str, name: str, tensor: Tensor) -> None:
    """Check that ``tensor`` is floating point, as a prediction must be to carry a gradient.

    Example:
        >>> import torch
        >>> floating("mse", "pred", torch.ones(2, dtype=torch.int64))
        Traceback (most recent call last):
        ...
        losslang.errors.LossShapeError: mse(): pred must be a floating-point tensor, not torch.int64
    """
    if not tensor.is_floating_point():
        raise LossShapeError(f"{term}(): {name} must be a floating-point tensor, not {tensor.dtype}")


def integral(tensor: Tensor) -> bool:
    """Whether ``tensor`` holds integers (not floats, complex numbers or booleans), as indices and lengths must.

    Example:
        >>> import torch
        >>> [integral(torch.ones(2, dtype=dtype)) for dtype in (torch.int32, torch.float32, torch.bool)]
        [True, False, False]
    """
    return not (tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool)


def indices(term: str, name: str, tensor: Tensor, shape: tuple[int, ...]) -> None:
    """Check that ``tensor`` holds class indices: an integer tensor of shape ``shape``.

    Example:
        >>> import torch
        >>> indices("nll", "target", torch.zeros(3), (3,))
        Traceback (most recent call last):
        ...
        losslang.errors.LossShapeError: nll(): target of shape (3,) holds class indices, so it must be an integer \
tensor, not torch.float32; e.g. target.long()
    """
    if tuple(tensor.shape) != shape:
        raise LossShapeError(f"{term}(): {name} must have shape {shape}, not {tuple(tensor.shape)}")
    if not integral(tensor):
        message = f"{name} of shape {shape} holds class indices, so it must be an integer tensor, not {tensor.dtype}"
        raise LossShapeError(f"{term}(): {message}; e.g. {name}.long()")


def labels(term: str, target: Tensor, pred: Tensor) -> None:
    """Check that ``target`` holds one label per sample of ``pred`` (its shape but the last), in its dtype.

    Example:
        >>> import torch
        >>> labels("cosine_embedding", torch.ones(3), torch.ones(4, 2))
        Traceback (most recent call last):
        ...
        losslang.errors.LossShapeError: cosine_embedding(): target holds one label per sample, shape (4,), not (3,)
    """
    shape = tuple(pred.shape[:-1])
    if tuple(target.shape) != shape:
        raise LossShapeError(f"{term}(): target holds one label per sample, shape {shape}, not {tuple(target.shape)}")
    if target.dtype != pred.dtype:
        raise LossShapeError(f"{term}(): target is {target.dtype} but must be {pred.dtype} like the inputs")


def class_weight(term: str, weight: Tensor | None, name: str, scores: Tensor, class_dim: int = -1) -> None:
    """Check that a per-class ``weight`` (torch's meaning) holds one value per class of ``scores``, in its dtype.

    Example:
        >>> import torch
        >>> class_weight("nll", torch.ones(4), "log_probs", torch.ones(2, 3), 1)
        Traceback (most recent call last):
        ...
        losslang.errors.LossShapeError: nll(): weight holds one weight per class, shape (3,), not (4,); \
to drop samples use mask=
    """
    if weight is None:
        return
    classes = tuple(scores.shape[class_dim:][:1])
    if tuple(weight.shape) != classes:
        message = f"weight holds one weight per class, shape {classes}, not {tuple(weight.shape)}"
        raise LossShapeError(f"{term}(): {message}; to drop samples use mask=")
    if weight.dtype != scores.dtype:
        message = f"{name} is {scores.dtype} but weight is {weight.dtype}"
        raise LossShapeError(f"{term}(): {message}; convert it, e.g. weight.to({name}.dtype)")


def align(tensor: Tensor, ndim: int) -> Tensor:
    """Give ``tensor`` trailing singleton dimensions up to ``ndim``, so it lines up with leading dimensions.

    Example:
        >>> import torch
        >>> align(torch.ones(4), 3).shape
        torch.Size([4, 1, 1])
    """
    missing = ndim - tensor.dim()
    return tensor.reshape(*tensor.shape, *(1,) * missing) if missing > 0 else tensor


def fit(
    term: str, name: str, tensor: Tensor | None, shape: tuple[int, ...], *, torch_aligns_right: bool = True
) -> Tensor | None:
    """Check that a ``weight`` or ``mask`` fits an unreduced loss of shape ``shape``.

    Lined up with the leading dimensions (see :mod:`losslang.terms.reduction`), the tensor must
    broadcast to ``shape`` without changing it; a mask must be boolean. torch broadcasts its own
    ``weight`` from the right instead, so a tensor with fewer dimensions that fits both ways
    (a ``(3,)`` weight of a ``(3, 3)`` loss) would silently mean something else to a torch user:
    it is refused, with the two shapes to choose from. ``torch_aligns_right=False`` is for an
    argument that torch lines up with the leading dimensions too (``gaussian_nll``'s ``var``).

    Example:
        >>> import torch
        >>> fit("mse", "weight", torch.ones(4), (4, 3)).shape
        torch.Size([4, 1])
        >>> fit("mse", "mask", torch.ones(3, dtype=torch.bool), (4, 3))
        Traceback (most recent call last):
        ...
        losslang.errors.LossShapeError: mse(): mask of shape (3,) does not fit the loss of shape (4, 3): losslang \
lines mask up with the loss's first dimensions, each size the loss's or 1; give one value per sample, (4,), or \
(1, 3) for the last dimensions, or the loss's own shape (4, 3)
        >>> fit("bce", "weight", torch.ones(3), (3, 3))
        Traceback (most recent call last):
        ...
        losslang.errors.LossShapeError: bce(): weight of shape (3,) is ambiguous for the loss of shape (3, 3): \
losslang lines it up with the first dimensions, torch broadcasts it from the right; write it as (3, 1) for \
the first or (1, 3) for the last dimensions
    """
    if tensor is None:
        return None
    if name == "mask" and tensor.dtype != torch.bool:
        raise LossShapeError(f"{term}(): mask must be a boolean tensor, not {tensor.dtype}; e.g. mask > 0")
    aligned = align(tensor, len(shape))
    right = (1,) * (len(shape) - tensor.dim()) + tuple(tensor.shape)
    if not _broadcasts(tuple(aligned.shape), shape):
        message = f"{name} of shape {tuple(tensor.shape)} does not fit the loss of shape {shape}"
        rule = f"losslang lines {name} up with the loss's first dimensions, each size the loss's or 1"
        fits = [f"one value per sample, {shape[:1]}"] if shape else []
        if tensor.dim() < len(shape) and _broadcasts(right, shape):
            fits.append(f"{right} for the last dimensions")
        fits.append(f"the loss's own shape {shape}")
        raise LossShapeError(f"{term}(): {message}: {rule}; give {', or '.join(fits)}")
    if torch_aligns_right and right != tuple(aligned.shape) and _broadcasts(right, shape):
        message = f"{name} of shape {tuple(tensor.shape)} is ambiguous for the loss of shape {shape}"
        reason = "losslang lines it up with the first dimensions, torch broadcasts it from the right"
        choice = f"write it as {tuple(aligned.shape)} for the first or {right} for the last dimensions"
        raise LossShapeError(f"{term}(): {message}: {reason}; {choice}")
    return aligned


def _broadcasts(source: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    if len(source) > len(shape):
        return False
    return all(size in (1, target) for size, target in zip(source[::-1], shape[::-1], strict=False))
