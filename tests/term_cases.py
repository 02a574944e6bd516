"""The table of loss-term cases shared by the term tests: inputs, options and a reference.

Each row builds float64 inputs for a batch of ``n`` samples (dimension 0 is the batch, except
for ``ctc``), the term's options, and a reference with the same call signature: the
``torch.nn.functional`` loss for torch's terms, the published formula for the others.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import berman_lovasz as berman
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

N, C, D, T = 4, 3, 5, 6  # batch, classes, features, time steps: all different so a wrong dim fails
# The term tables run on every device present: the CPU always, CUDA when there is one.
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")),
]
Inputs = tuple[tuple[Tensor, ...], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    """One case: ``term(*args, reduction=r, **options)`` must equal ``reference`` with the same arguments.

    Attributes:
        id: the test id.
        term: the registered name.
        make: builds ``(args, options)`` for a batch of ``n``.
        reference: the expected function.
        grad: positions of the arguments to differentiate (and gradcheck).
        pre: applied to the first argument before both calls (e.g. ``log_softmax`` for ``ctc``).
    """

    id: str
    term: str
    make: Callable[[int], Inputs]
    reference: Callable[..., Tensor]
    grad: tuple[int, ...] = (0,)
    pre: Callable[[Tensor], Tensor] | None = None


def randn(*shape: int) -> Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def rand(*shape: int, low: float = 0.05, high: float = 0.95) -> Tensor:
    return torch.empty(*shape, dtype=torch.float64).uniform_(low, high)


def signs(*shape: int) -> Tensor:
    return (torch.randint(0, 2, shape) * 2 - 1).to(torch.float64)


def classes(*shape: int) -> Tensor:
    return torch.randint(0, C, shape)


def multilabels(n: int) -> Tensor:
    """Per sample, some class indices then -1, as ``multilabel_margin`` expects."""
    rows = [torch.cat([torch.randperm(C)[: 1 + i % C], torch.full((C,), -1)])[:C] for i in range(n)]
    return torch.stack(rows) if rows else torch.empty(0, C, dtype=torch.long)


def two(shape: Callable[[int], tuple[int, ...]], **options: Any) -> Callable[[int], Inputs]:
    """Prediction and target of the same shape."""
    return lambda n: ((randn(*shape(n)), randn(*shape(n))), options)


def reduced(loss: Tensor, reduction: str) -> Tensor:
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()


def formula(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """A reference from an element-wise (or per-sample) formula, reduced as torch reduces."""
    return lambda *args, reduction, **options: reduced(fn(*args, **options), reduction)


def quiet(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``F.kl_div`` warns that reduction="mean" is not the KL divergence; the reference knows."""

    def call(*args: Any, **options: Any) -> Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return fn(*args, **options)

    return call


# Published formulas of the extras, written as their sources write them.
def sigmoid_focal_loss(inputs: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """torchvision.ops.sigmoid_focal_loss (BSD-3), reduction "none"."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


def deepmuon_msa(pred: Tensor, target: Tensor, angle_ratio: float = 1.0, len_ratio: float = 0.0) -> Tensor:
    """DeepMuon's MSALoss.forward, per vector (its mean is DeepMuon's value)."""
    mseloss = torch.mean((pred - target) ** 2, dim=1)
    cos = torch.sum(pred * target, axis=1) / torch.sqrt(torch.sum(pred**2, axis=1) * torch.sum(target**2, axis=1))
    return len_ratio * mseloss + angle_ratio * torch.sin(torch.arccos(cos))


def overlap(p: Tensor, t: Tensor, alpha: float, beta: float, smooth: float, k: float) -> Tensor:
    tp, fp, fn = (p * t).sum(1), (p * (1 - t)).sum(1), ((1 - p) * t).sum(1)
    return 1 - (k * tp + smooth) / (k * tp + alpha * fp + beta * fn + smooth)


def dice_formula(p: Tensor, t: Tensor, smooth: float = 1.0) -> Tensor:
    return 1 - (2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)


def jaccard_formula(p: Tensor, t: Tensor, smooth: float = 1.0) -> Tensor:
    intersection = (p * t).sum(1)
    return 1 - (intersection + smooth) / (p.sum(1) + t.sum(1) - intersection + smooth)


def ctc_inputs(n: int, **options: Any) -> Inputs:
    """Log-probabilities ``(T, n, C)`` (before ``log_softmax``), targets avoiding the blank, lengths."""
    targets = torch.randint(0, C - 1, (n, 2)) if options.get("blank") else torch.randint(1, C, (n, 2))
    lengths = (torch.full((n,), T), torch.randint(1, 3, (n,)))
    return (randn(T, n, C), targets, *lengths), options


def log_softmax(x: Tensor) -> Tensor:
    return x.log_softmax(-1)


def vectors(kind: str, width: int = 3) -> tuple[Tensor, Tensor]:
    """Five pairs of vectors: random, parallel, anti-parallel, or with one side zero."""
    a = torch.randn(5, width, dtype=torch.float64)
    b = {
        "random": lambda: torch.randn(5, width, dtype=torch.float64),
        "parallel": lambda: 2.5 * a,
        "anti-parallel": lambda: -0.5 * a,
        "zero-target": lambda: torch.zeros(5, width, dtype=torch.float64),
        "zero-pred": lambda: a.clone(),
    }[kind]()
    if kind == "zero-pred":
        a = torch.zeros(5, width, dtype=torch.float64)
    return a, b


ROWS = [
    Row("mse", "mse", two(lambda n: (n, D)), F.mse_loss, (0, 1)),
    Row("mae", "mae", two(lambda n: (n, D)), F.l1_loss, (0, 1)),
    Row("l1-alias", "l1", two(lambda n: (n,)), F.l1_loss, (0, 1)),
    Row("huber", "huber", two(lambda n: (n, D)), F.huber_loss, (0, 1)),
    Row("huber-delta", "huber", two(lambda n: (n, D), delta=0.3), F.huber_loss, (0, 1)),
    Row("smooth_l1", "smooth_l1", two(lambda n: (n, D)), F.smooth_l1_loss, (0, 1)),
    Row("smooth_l1-beta", "smooth_l1", two(lambda n: (n, D), beta=0.4), F.smooth_l1_loss, (0, 1)),
    Row(
        "poisson_nll",
        "poisson_nll",
        lambda n: ((randn(n, D), rand(n, D, high=5.0)), {}),
        F.poisson_nll_loss,
        (0, 1),
    ),
    Row(
        "poisson_nll-full-rates",
        "poisson_nll",
        lambda n: ((rand(n, D, low=0.5, high=3.0), rand(n, D, low=1.5, high=5.0)), {"log_input": False, "full": True}),
        F.poisson_nll_loss,
        (0, 1),
    ),
    Row(
        "gaussian_nll",
        "gaussian_nll",
        lambda n: ((randn(n, D), randn(n, D), rand(n, D, low=0.5, high=2.0)), {}),
        F.gaussian_nll_loss,
        (0, 1, 2),
    ),
    Row(
        "gaussian_nll-shared-var-full",
        "gaussian_nll",
        lambda n: ((randn(n, D), randn(n, D), rand(n, low=0.5, high=2.0)), {"full": True}),
        F.gaussian_nll_loss,
        (0, 1, 2),
    ),
    Row(
        "kl_div",
        "kl_div",
        lambda n: ((randn(n, C).log_softmax(1), randn(n, C).softmax(1)), {}),
        quiet(F.kl_div),
        (0, 1),
    ),
    Row(
        "kl_div-log_target",
        "kl_div",
        lambda n: ((randn(n, C).log_softmax(1), randn(n, C).log_softmax(1)), {"log_target": True}),
        quiet(F.kl_div),
        (0, 1),
    ),
    Row("cross_entropy", "cross_entropy", lambda n: ((randn(n, C), classes(n)), {}), F.cross_entropy),
    Row(
        "cross_entropy-smoothing-weight-ignore",
        "cross_entropy",
        lambda n: (
            (randn(n, C), classes(n)),
            {"label_smoothing": 0.1, "weight": rand(C, low=0.5, high=2.0), "ignore_index": 1},
        ),
        F.cross_entropy,
    ),
    Row(
        "cross_entropy-probabilities",
        "cross_entropy",
        lambda n: ((randn(n, C), randn(n, C).softmax(1)), {"label_smoothing": 0.2, "weight": rand(C)}),
        F.cross_entropy,
        (0, 1),
    ),
    Row(
        "cross_entropy-spatial", "cross_entropy", lambda n: ((randn(n, C, 2, 2), classes(n, 2, 2)), {}), F.cross_entropy
    ),
    Row(
        "nll-weight-ignore",
        "nll",
        lambda n: ((randn(n, C).log_softmax(1), classes(n)), {"weight": rand(C), "ignore_index": 0}),
        F.nll_loss,
    ),
    Row("bce", "bce", lambda n: ((rand(n, C), rand(n, C, low=0.0, high=1.0)), {}), F.binary_cross_entropy, (0, 1)),
    Row(
        "bce-weight",
        "bce",
        lambda n: ((rand(n, C), rand(n, C, low=0.0, high=1.0)), {"weight": rand(n, C)}),
        F.binary_cross_entropy,
        (0, 1),
    ),
    Row(
        "bce_with_logits-pos_weight",
        "bce_with_logits",
        lambda n: ((randn(n, C), rand(n, C, low=0.0, high=1.0)), {"pos_weight": rand(C, high=3.0)}),
        F.binary_cross_entropy_with_logits,
        (0, 1),
    ),
    Row(
        "margin_ranking",
        "margin_ranking",
        lambda n: ((randn(n), randn(n), signs(n)), {"margin": 0.2}),
        F.margin_ranking_loss,
        (0, 1),
    ),
    Row(
        "hinge_embedding",
        "hinge_embedding",
        lambda n: ((randn(n, D), signs(n, D)), {"margin": 0.5}),
        F.hinge_embedding_loss,
    ),
    Row("soft_margin", "soft_margin", lambda n: ((randn(n, D), signs(n, D)), {}), F.soft_margin_loss),
    Row(
        "multilabel_soft_margin-weight",
        "multilabel_soft_margin",
        lambda n: ((randn(n, C), torch.randint(0, 2, (n, C)).double()), {"weight": rand(C)}),
        F.multilabel_soft_margin_loss,
        (0, 1),
    ),
    Row(
        "multilabel_margin",
        "multilabel_margin",
        lambda n: ((randn(n, C), multilabels(n)), {}),
        F.multilabel_margin_loss,
    ),
    Row("multi_margin", "multi_margin", lambda n: ((randn(n, C), classes(n)), {}), F.multi_margin_loss),
    Row(
        "multi_margin-p2-weight",
        "multi_margin",
        lambda n: ((randn(n, C), classes(n)), {"p": 2, "margin": 0.5, "weight": rand(C)}),
        F.multi_margin_loss,
    ),
    Row(
        "cosine_embedding",
        "cosine_embedding",
        lambda n: ((randn(n, D), randn(n, D), signs(n)), {"margin": 0.1}),
        F.cosine_embedding_loss,
        (0, 1),
    ),
    Row(
        "triplet_margin",
        "triplet_margin",
        lambda n: ((randn(n, D), randn(n, D), randn(n, D)), {}),
        F.triplet_margin_loss,
        (0, 1, 2),
    ),
    Row(
        "triplet_margin-p1-swap",
        "triplet_margin",
        lambda n: ((randn(n, D), randn(n, D), randn(n, D)), {"p": 1.0, "swap": True, "margin": 2.0}),
        F.triplet_margin_loss,
        (0, 1, 2),
    ),
    Row("ctc", "ctc", ctc_inputs, F.ctc_loss, pre=log_softmax),
    Row(
        "ctc-blank-zero_infinity",
        "ctc",
        lambda n: ctc_inputs(n, blank=C - 1, zero_infinity=True),
        F.ctc_loss,
        pre=log_softmax,
    ),
    Row(
        "rmse",
        "rmse",
        two(lambda n: (n, D)),
        lambda p, t, reduction: F.mse_loss(p, t, reduction=reduction).sqrt(),
        (0, 1),
    ),
    Row(
        "msle",
        "msle",
        lambda n: ((rand(n, D, high=4.0), rand(n, D, high=4.0)), {}),
        lambda p, t, reduction: F.mse_loss(torch.log1p(p), torch.log1p(t), reduction=reduction),
        (0, 1),
    ),
    Row("log_cosh", "log_cosh", two(lambda n: (n, D)), formula(lambda p, t: torch.log(torch.cosh(p - t))), (0, 1)),
    Row(
        "charbonnier",
        "charbonnier",
        two(lambda n: (n, D), eps=0.1),
        formula(lambda p, t, eps: torch.sqrt((p - t) ** 2 + eps**2)),
        (0, 1),
    ),
    Row(
        "quantile",
        "quantile",
        two(lambda n: (n, D), q=0.9),
        formula(lambda p, t, q: torch.where(t >= p, q * (t - p), (1 - q) * (p - t))),
        (0, 1),
    ),
    Row(
        "pinball-alias",
        "pinball",
        two(lambda n: (n,)),
        formula(lambda p, t: torch.where(t >= p, 0.5 * (t - p), 0.5 * (p - t))),
        (0, 1),
    ),
    Row(
        "mape",
        "mape",
        two(lambda n: (n, D)),
        formula(lambda p, t, eps=1.17e-06: (p - t).abs() / t.abs().clamp_min(eps)),
        (0, 1),
    ),
    Row(
        "focal",
        "focal",
        lambda n: ((randn(n, C), rand(n, C, low=0.0, high=1.0)), {}),
        formula(sigmoid_focal_loss),
        (0, 1),
    ),
    Row(
        "focal-alpha-gamma",
        "focal",
        lambda n: ((randn(n, C), torch.randint(0, 2, (n, C)).double()), {"alpha": 0.6, "gamma": 1.5}),
        formula(sigmoid_focal_loss),
        (0, 1),
    ),
    Row(
        "focal-no-alpha",
        "focal",
        lambda n: ((randn(n, C), torch.randint(0, 2, (n, C)).double()), {"alpha": -1.0}),
        formula(sigmoid_focal_loss),
    ),
    Row("dice", "dice", lambda n: ((rand(n, D), rand(n, D)), {}), formula(dice_formula), (0, 1)),
    Row("dice-smooth", "dice", lambda n: ((rand(n, D), rand(n, D)), {"smooth": 0.0}), formula(dice_formula), (0, 1)),
    Row("jaccard", "jaccard", lambda n: ((rand(n, D), rand(n, D)), {"smooth": 0.5}), formula(jaccard_formula), (0, 1)),
    Row(
        "tversky",
        "tversky",
        lambda n: ((rand(n, D), rand(n, D)), {"alpha": 0.3, "beta": 0.7}),
        formula(lambda p, t, alpha, beta: overlap(p, t, alpha, beta, 1.0, 1.0)),
        (0, 1),
    ),
    Row(
        "sin_angle",
        "sin_angle",
        two(lambda n: (n, 3)),
        formula(lambda a, b: (1 - F.cosine_similarity(a, b, dim=-1) ** 2).sqrt()),
        (0, 1),
    ),
    Row(
        "cos_angle",
        "cos_angle",
        two(lambda n: (n, 3)),
        formula(lambda a, b: 1 - F.cosine_similarity(a, b, dim=-1)),
        (0, 1),
    ),
    Row("msa", "msa", two(lambda n: (n, 3)), formula(deepmuon_msa), (0, 1)),
    Row("msa-ratios", "msa", two(lambda n: (n, 3), angle_ratio=0.5, len_ratio=2.0), formula(deepmuon_msa), (0, 1)),
    Row(
        "lovasz_softmax",
        "lovasz_softmax",
        lambda n: ((randn(n, C, 2, 3).softmax(1), classes(n, 2, 3)), {}),
        lambda p, t, reduction: (
            _per_image(lambda i: berman.lovasz_softmax_flat(*berman.flatten_probas(p[i : i + 1], t[i : i + 1])), p)
            if reduction == "none"  # unreduced: one loss per image, whatever per_image says
            else berman.lovasz_softmax(p, t) * torch.ones((), dtype=p.dtype)
        ),
    ),
    Row(
        "lovasz_softmax-per-image-all",
        "lovasz_softmax",
        lambda n: ((randn(n, C, 2, 3).softmax(1), classes(n, 2, 3)), {"per_image": True, "classes": "all"}),
        lambda p, t, reduction, per_image, classes: reduced(
            _per_image(
                lambda i: berman.lovasz_softmax_flat(*berman.flatten_probas(p[i : i + 1], t[i : i + 1]), classes), p
            ),
            reduction,
        ),
    ),
    Row(
        "lovasz_hinge",
        "lovasz_hinge",
        lambda n: ((randn(n, 2, 3), torch.randint(0, 2, (n, 2, 3))), {}),
        lambda s, t, reduction: reduced(
            _per_image(lambda i: berman.lovasz_hinge_flat(s[i].reshape(-1), t[i].reshape(-1)), s), reduction
        ),
    ),
    Row(
        "info_nce",
        "info_nce",
        lambda n: ((randn(n, D), randn(n, D)), {}),
        formula(lambda q, k: relbers_info_nce(q, k, 0.1)),
        (0, 1),
    ),
    Row(
        "info_nce-clip",
        "info_nce",
        lambda n: ((randn(n, D), randn(n, D)), {"symmetric": True, "temperature": 0.07}),
        formula(lambda q, k, symmetric, temperature: clip_loss(q, k, temperature)),
        (0, 1),
    ),
]


def _per_image(loss: Callable[[int], Tensor], batch: Tensor) -> Tensor:
    """The authors' loss of each image, stacked: losslang's per-image losses before the reduction."""
    return (
        torch.stack([loss(i) * torch.ones((), dtype=batch.dtype) for i in range(len(batch))])
        if len(batch)
        else batch.new_zeros(0)
    )


def relbers_info_nce(query: Tensor, positive_key: Tensor, temperature: float) -> Tensor:
    """RElbers/info-nce-pytorch's info_nce (negative_mode="unpaired", in-batch negatives), reduction "none"."""
    query, positive_key = F.normalize(query, dim=-1), F.normalize(positive_key, dim=-1)
    logits = query @ positive_key.transpose(-2, -1)
    labels = torch.arange(len(query), device=query.device)
    return F.cross_entropy(logits / temperature, labels, reduction="none")


def clip_loss(image: Tensor, text: Tensor, temperature: float) -> Tensor:
    """CLIP's loss (the paper's Figure 3): the mean of the image-to-text and text-to-image cross-entropies, per pair."""
    image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    logits = image @ text.T / temperature
    labels = torch.arange(len(image))
    return (F.cross_entropy(logits, labels, reduction="none") + F.cross_entropy(logits.T, labels, reduction="none")) / 2


REDUCTIONS = ["mean", "sum", "none"]


def by_reduction(rows: list[Row]) -> list[Any]:
    return [pytest.param(row, reduction, id=f"{row.id}-{reduction}") for row in rows for reduction in REDUCTIONS]


def params(rows: list[Row]) -> list[Any]:
    return [pytest.param(row, id=row.id) for row in rows]


def call(row: Row, fn: Callable[..., Tensor], args: tuple[Tensor, ...], **options: Any) -> Tensor:
    first = row.pre(args[0]) if row.pre else args[0]
    return fn(first, *args[1:], **options)
