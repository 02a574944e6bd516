"""The benchmark cases: a losslang formula, the hand-written module it replaces, and its inputs.

Each hand-written module is written the way the tutorials in ``shared/reference`` write losses:
an ``nn.Module`` whose ``forward`` spells the maths out with ``torch`` calls (Codecademy,
DeepMuon), ``nn.MSELoss`` criteria (perceptrain) or a mean of per-label errors (MindSpore).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import losslang
from losslang.terms import functions, geometry, regression

Inputs = Callable[[int, torch.dtype, torch.device], dict[str, Tensor]]


@dataclass(frozen=True)
class Case:
    """One loss, written both ways.

    Attributes:
        name: a short id, used on the command line and in the report.
        title: what the loss is and where it comes from.
        formula: the losslang text.
        hand: builds the hand-written eager module; ``forward(**inputs) -> total``.
        inputs: ``(size, dtype, device) -> batch``; ``size`` is the number of elements of each input.
        leaves: the inputs that carry a gradient (what a model would output).
        extras: more hand-written modules, timed for context (label, builder).
        note: what a reader of the numbers should know about the comparison.
    """

    name: str
    title: str
    formula: str
    hand: Callable[[], nn.Module]
    inputs: Inputs
    leaves: tuple[str, ...]
    extras: tuple[tuple[str, Callable[[], nn.Module]], ...] = ()
    note: str = ""


def losslang_module(case: Case, *, compile: bool = False) -> losslang.LossModule:  # noqa: A002
    """Compile ``case.formula`` with the built-in terms."""
    return losslang.compile(case.formula, compile=compile)


def _randn(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=dtype).to(device)


def _batch(
    names: tuple[str, ...], shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> dict[str, Tensor]:
    return {name: _randn(shape, dtype, device, seed) for seed, name in enumerate(names)}


# --- the mission formula: Codecademy's weighted MSE + DeepMuon's angle + MindSpore's multi-label MAE ---

MISSION = "0.5*mse(pred, y1) + sin_angle(pred, y) + mean(mae(pred, y1), mae(pred, y2))"


class MissionLoss(nn.Module):
    """The mission formula as the tutorials write it: ``sin(arccos(cos))`` for the angle."""

    def __init__(self, weight: float = 0.5) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, pred: Tensor, y: Tensor, y1: Tensor, y2: Tensor) -> Tensor:
        mseloss = torch.mean((pred - y1) ** 2)
        angloss = torch.mean(
            torch.sin(
                torch.arccos(
                    torch.sum(pred * y, axis=1) / torch.sqrt(torch.sum(pred**2, axis=1) * torch.sum(y**2, axis=1))
                )
            )
        )
        mae1 = torch.abs(pred - y1).mean()
        mae2 = torch.abs(pred - y2).mean()
        return self.weight * mseloss + angloss + (mae1 + mae2) / 2


class MissionByTerms(nn.Module):
    """The mission formula calling losslang's term functions by hand: the same maths, no framework."""

    def forward(self, pred: Tensor, y: Tensor, y1: Tensor, y2: Tensor) -> Tensor:
        mae = functions.mean(regression.mae(pred, y1), regression.mae(pred, y2))
        return 0.5 * regression.mse(pred, y1) + geometry.sin_angle(pred, y) + mae


def _vectors(size: int, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    return _batch(("pred", "y", "y1", "y2"), (max(size // 3, 1), 3), dtype, device)


# --- MindSpore's MAELossForMultiLabel ---


class MAELossForMultiLabel(nn.Module):
    """MindSpore's multi-label loss, ported to PyTorch line by line."""

    def forward(self, base: Tensor, target1: Tensor, target2: Tensor) -> Tensor:
        x1 = torch.abs(base - target1)
        x2 = torch.abs(base - target2)
        return (x1.mean() + x2.mean()) / 2


def _multilabel(size: int, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    return _batch(("base", "target1", "target2"), (size, 1), dtype, device)


# --- a 10-term physics-informed loss (Burgers' equation), perceptrain style ---

PINN = """
pde = mean((u_t + u * u_x - 0.01 * u_xx) ** 2)
ic = mse(u_ic, g_ic)
ic_t = mse(u_ic_t, h_ic)
bc_left = mse(u_lb, g_lb)
bc_right = mse(u_rb, g_rb)
periodic = mse(u_lb, u_rb)
periodic_x = mse(u_lb_x, u_rb_x)
data = mse(u_data, y_data)
data_l1 = mae(u_data, y_data)
energy = mean(u ** 2)
pde + 10 * ic + ic_t + bc_left + bc_right + periodic + periodic_x + data + 0.1 * data_l1 + 1e-4 * energy
"""
PINN_OUTPUTS = ("u", "u_t", "u_x", "u_xx", "u_ic", "u_ic_t", "u_lb", "u_rb", "u_lb_x", "u_rb_x", "u_data")
PINN_DATA = ("g_ic", "h_ic", "g_lb", "g_rb", "y_data")


class PINNLoss(nn.Module):
    """Residual, initial, boundary, periodicity, data and energy terms with ``nn.MSELoss`` criteria."""

    def __init__(self) -> None:
        super().__init__()
        self.mse = nn.MSELoss()
        self.l1 = nn.L1Loss()

    def forward(self, **b: Tensor) -> Tensor:
        pde = torch.mean((b["u_t"] + b["u"] * b["u_x"] - 0.01 * b["u_xx"]) ** 2)
        ic = self.mse(b["u_ic"], b["g_ic"])
        ic_t = self.mse(b["u_ic_t"], b["h_ic"])
        bc_left = self.mse(b["u_lb"], b["g_lb"])
        bc_right = self.mse(b["u_rb"], b["g_rb"])
        periodic = self.mse(b["u_lb"], b["u_rb"])
        periodic_x = self.mse(b["u_lb_x"], b["u_rb_x"])
        data = self.mse(b["u_data"], b["y_data"])
        data_l1 = self.l1(b["u_data"], b["y_data"])
        energy = torch.mean(b["u"] ** 2)
        boundary = bc_left + bc_right + periodic + periodic_x
        return pde + 10 * ic + ic_t + boundary + data + 0.1 * data_l1 + 1e-4 * energy


def _pinn(size: int, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    return _batch(PINN_OUTPUTS + PINN_DATA, (size, 1), dtype, device)


# --- segmentation: cross-entropy + soft dice ---

CLASSES = 4


class CEDiceLoss(nn.Module):
    """Cross-entropy plus soft dice, the usual hand-written segmentation loss."""

    def __init__(self, smooth: float = 1.0) -> None:
        super().__init__()
        self.smooth = smooth

    def forward(self, logits: Tensor, labels: Tensor, onehot: Tensor) -> Tensor:
        ce = F.cross_entropy(logits, labels)
        probs = torch.softmax(logits, dim=1)
        intersection = torch.sum(probs * onehot)
        dice = 1 - (2 * intersection + self.smooth) / (torch.sum(probs) + torch.sum(onehot) + self.smooth)
        return ce + dice


def _segmentation(size: int, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    pixels = max(size // CLASSES, 1)
    logits = _randn((1, CLASSES, pixels), dtype, device, 0)
    labels = torch.randint(CLASSES, (1, pixels), generator=torch.Generator().manual_seed(1)).to(device)
    onehot = F.one_hot(labels, CLASSES).movedim(-1, 1).to(dtype)  # what a data loader hands over with the labels
    return {"logits": logits, "labels": labels, "onehot": onehot}


# --- CLIP's symmetric InfoNCE: the tensor vocabulary (@, transpose, arange, size) ---

CLIP = """
img = image / norm(image, dim=1, keepdim=true)
txt = text / norm(text, dim=1, keepdim=true)
logits = scale * img @ transpose(txt, 0, 1)
labels = arange(size(logits, 0))
(cross_entropy(logits, labels) + cross_entropy(transpose(logits, 0, 1), labels)) / 2
"""
CLIP_PAIRS = 2048  # the batch of pairs stops growing here: the similarity matrix is pairs**2


class ClipLoss(nn.Module):
    """open_clip's ClipLoss on one device: normalised features, the logit scale, the symmetric cross-entropy."""

    def forward(self, image: Tensor, text: Tensor, scale: Tensor) -> Tensor:
        image = image / image.norm(dim=1, keepdim=True)
        text = text / text.norm(dim=1, keepdim=True)
        logits_per_image = scale * image @ text.T
        labels = torch.arange(logits_per_image.shape[0], device=logits_per_image.device)
        return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_image.T, labels)) / 2


def _clip(size: int, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    limit = max(min(size // 64, CLIP_PAIRS), 1)
    pairs = next(count for count in range(limit, 0, -1) if size % count == 0)  # pairs * width is exactly size
    features = _batch(("image", "text"), (pairs, size // pairs), dtype, device)
    return {**features, "scale": torch.tensor(1 / 0.07, dtype=dtype, device=device)}


# --- repeated sub-expressions: what common-subexpression elimination is for ---

REPEATED = (
    "mse(pred, y) / (1 + mae(pred, y)) + 0.1 * mae(pred, y) + 0.01 * mse(pred, y) ** 2 + mae(pred, y) * mse(pred, y)"
)


class RepeatedTermsLoss(nn.Module):
    """The formula written out naively: every occurrence of a term computes it again."""

    def forward(self, pred: Tensor, y: Tensor) -> Tensor:
        return (
            torch.mean((pred - y) ** 2) / (1 + torch.mean(torch.abs(pred - y)))
            + 0.1 * torch.mean(torch.abs(pred - y))
            + 0.01 * torch.mean((pred - y) ** 2) ** 2
            + torch.mean(torch.abs(pred - y)) * torch.mean((pred - y) ** 2)
        )


class SharedTermsLoss(nn.Module):
    """The same formula with each term computed once by hand, and the difference shared."""

    def forward(self, pred: Tensor, y: Tensor) -> Tensor:
        diff = pred - y
        mse = torch.mean(diff**2)
        mae = torch.mean(torch.abs(diff))
        return mse / (1 + mae) + 0.1 * mae + 0.01 * mse**2 + mae * mse


def _pair(size: int, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    return _batch(("pred", "y"), (size,), dtype, device)


CASES: tuple[Case, ...] = (
    Case(
        "mission",
        "Mission formula: 0.5*MSE + angle + multi-label MAE (hand-written angle: DeepMuon's sin(arccos(cos)))",
        MISSION,
        MissionLoss,
        _vectors,
        ("pred",),
        extras=(("hand-written, losslang's term functions", MissionByTerms),),
        note=(
            "The two sides do not compute the angle the same way. The tutorial's `sin(arccos(cos))` has an "
            "infinite derivative at parallel vectors (NaN gradients) and loses half the digits near them; "
            "losslang's `sin_angle` takes the length of the cross product over the product of the lengths, "
            "accurate at every angle, with a zero gradient at parallel and zero vectors. The column "
            "\"hand-written, losslang's term functions\" runs losslang's maths without losslang: its ratio to `b` "
            "is the cost of the maths, and `a` against it is the cost of the framework."
        ),
    ),
    Case(
        "multilabel",
        "MindSpore MAELossForMultiLabel",
        "mean(mae(base, target1), mae(base, target2))",
        MAELossForMultiLabel,
        _multilabel,
        ("base",),
    ),
    Case("pinn", "10-term PINN loss (Burgers' equation)", PINN.strip(), PINNLoss, _pinn, PINN_OUTPUTS),
    Case(
        "segmentation",
        "Segmentation: cross-entropy + soft dice, 4 classes",
        "cross_entropy(logits, labels) + dice(softmax(logits, dim=1), onehot)",
        CEDiceLoss,
        _segmentation,
        ("logits",),
    ),
    Case(
        "clip",
        "CLIP's symmetric InfoNCE (open_clip ClipLoss): @, transpose, arange and size in the formula",
        CLIP.strip(),
        ClipLoss,
        _clip,
        ("image", "text"),
        note=(
            "Each input holds `size` elements: up to 2,048 pairs of features of width `size / pairs`; the "
            "similarity matrix is pairs x pairs. Both sides normalise, multiply and take the two cross-entropies; "
            "losslang's `arange(size(logits, 0))` reads the batch size from the tensor."
        ),
    ),
    Case(
        "repeated",
        "Repeated sub-expressions (hand-written: written out naively)",
        REPEATED,
        RepeatedTermsLoss,
        _pair,
        ("pred",),
        extras=(("hand-written, terms computed once", SharedTermsLoss),),
        note=(
            "`b` writes every occurrence out, as the formula reads; losslang computes each distinct term once. "
            "The extra column is the same formula with each term computed once by hand (and the difference "
            "`pred - y` shared between MSE and MAE, which separate term functions cannot do)."
        ),
    ),
)

STEP_FORMULA = "mse(pred, y) * (1 + step / 1000)"


def twenty_terms(tag: str = "") -> str:
    """A 20-term multi-head program for the parse+compile timings; ``tag`` makes the text new (a comment).

    Each head is a column of one of five outputs, compared with its own label by one of the
    built-in terms; the total weights every head.
    """
    terms = ("mse", "mae", "sin_angle", "l1")
    lines = [f"# 20 heads {tag}".rstrip()]
    for i in range(20):
        head = f"out{i % 5}[:, {i // 5}:{i // 5 + 3}]" if terms[i % 4] == "sin_angle" else f"out{i % 5}[:, {i // 5}]"
        lines.append(f"head{i} = {terms[i % 4]}({head}, y{i})")
    lines.append(" + ".join(f"{0.05 * (i + 1):.2f} * head{i}" for i in range(20)))
    return "\n".join(lines)
