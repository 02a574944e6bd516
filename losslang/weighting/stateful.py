"""What the self-updating schemes share: their weights and a count of training steps.

The weights, the count and whatever else a scheme remembers (initial or previous losses) are
persistent buffers, so ``state_dict`` saves them and training resumes exactly where it stopped.
The count is mirrored by a Python int, so that a scheme can branch on it (first step, every
``k`` steps, the seed of a random draw) without reading a device tensor, which would
synchronise with the device at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import torch
from torch import Tensor

from losslang.bounds import Range
from losslang.weighting.base import WeightingScheme


class StatefulScheme(WeightingScheme):
    """A weighting scheme that updates its own weights in training mode.

    Attributes:
        weights: the current weight of each term, a float32 buffer; eval mode uses it unchanged.
        steps: how many training-mode calls have updated the scheme, an int64 buffer.
        step_count: ``steps`` as a Python int, always equal to it.
    """

    weights: Tensor
    steps: Tensor

    def __init__(self, terms: Sequence[str], *, init: float = 1.0) -> None:
        super().__init__(terms)
        self.register_buffer("weights", torch.full((len(self.terms),), float(init)))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.step_count = 0

    def forward(self, *losses: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(weighted total, weights)`` for the scalar ``losses``, one per term.

        Python state, host branches and collectives: inside ``torch.compile`` the update runs
        eagerly. ``torch.compiler.disable`` is applied there, not as a decorator, which would
        import dynamo (1.5 s) with losslang.
        """
        if torch.compiler.is_compiling():  # dynamo is loaded by then
            return torch.compiler.disable(_update)(self, *losses)
        return super().forward(*losses)

    def generator(self, seed: int) -> torch.Generator:
        """A CPU generator freshly seeded from ``(seed, step_count)``, for this step's random draws.

        The draws are reproducible, resume exactly from a ``state_dict`` and are the same on every
        DDP rank, with no state of their own.

        Example:
            >>> import torch
            >>> from losslang.weighting import RLW
            >>> scheme = RLW(["a", "b"])
            >>> torch.equal(torch.rand(2, generator=scheme.generator(7)), torch.rand(2, generator=scheme.generator(7)))
            True
        """
        return torch.Generator().manual_seed(mixed_seed(seed, self.step_count))

    def advance(self) -> None:
        """Count one training step."""
        self.steps.add_(1)
        self.step_count += 1

    def step_when_due(self, update: Callable[[], None]) -> bool:
        """One training call of a scheme whose update can be made ahead (:meth:`due`); whether it was a step.

        Inside :meth:`LossModule.update_weights` (``self.ahead``): make the next step's update now,
        and count nothing. Otherwise this is a step: make its update if due and not made ahead
        already, then count it.

        Example:
            >>> from losslang.weighting import LRAnnealing
            >>> scheme, made = LRAnnealing(["a", "b"], every=2), []
            >>> [scheme.step_when_due(lambda: made.append(scheme.step_count)) for _ in range(3)], made
            ([True, True, True], [0, 2])
        """
        if self.ahead:
            update()
            self.done_ahead = True
            return False
        if self.due():
            update()
        self.done_ahead = False
        self.advance()
        return True

    def weighted(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """``(w_i * L_i, w)`` with the current weights, as constants in the losses' dtype."""
        weights = self.weights.to(losses, copy=True)  # a copy: the buffer is overwritten in place later
        return weights * losses, weights

    def restore(self, snapshot: dict[str, Tensor]) -> None:
        """Put back the state saved by :meth:`snapshot`, the step count included."""
        super().restore(snapshot)
        self.step_count = self.counted()

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str, *args: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args)  # type: ignore[arg-type]
        self.step_count = self.counted()  # one host read per load, never one per step

    def counted(self) -> int:
        """``steps`` as a Python int; a scheme on the meta device (a copy of one) has no count to read: 0."""
        return 0 if self.steps.is_meta else int(self.steps)


BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, for the schemes that step their own weights with Adam
ADAM_EPS = 1e-8


def relative(current: Tensor, reference: Tensor) -> Tensor:
    """``current / reference``, and 1 where the reference is 0: no progress can be measured from a zero.

    Example:
        >>> import torch
        >>> relative(torch.tensor([2.0, 3.0]), torch.tensor([4.0, 0.0]))
        tensor([0.5000, 1.0000])
    """
    return torch.where(reference > 0, current / reference, torch.ones_like(current))


def softmax(scores: Tensor) -> Tensor:
    """The softmax of ``scores`` over terms; a score that overflowed to infinity counts as the largest finite one.

    Example:
        >>> import torch
        >>> softmax(torch.tensor([float("inf"), 0.0]))
        tensor([1., 0.])
    """
    return torch.softmax(torch.nan_to_num(scores), dim=0)  # softmax subtracts the max: no overflow


def adam_direction(grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, step: int) -> tuple[Tensor, Tensor, Tensor]:
    """Adam's bias-corrected step direction for update number ``step`` (from 1), and the new moments.

    Example:
        >>> import torch
        >>> direction, _, _ = adam_direction(torch.tensor([-2.0, 3.0]), torch.zeros(2), torch.zeros(2), 1)
        >>> direction  # the first step is the sign
        tensor([-1.,  1.])
    """
    exp_avg = BETAS[0] * exp_avg + (1 - BETAS[0]) * grad
    exp_avg_sq = BETAS[1] * exp_avg_sq + (1 - BETAS[1]) * grad**2
    scale = (exp_avg_sq / (1 - BETAS[1] ** step)).sqrt() + ADAM_EPS
    return exp_avg / (1 - BETAS[0] ** step) / scale, exp_avg, exp_avg_sq


# The step size of weights a scheme steps itself with Adam (gradnorm's weights, famo's logits).
StepSize = Annotated[float, Range(gt=0, le=100)]

# A softmax temperature: below this, losses divided by it overflow float32 (and 1e-300 would).
Temperature = Annotated[float, Range(ge=1e-6)]


def mixed_seed(seed: int, step: int) -> int:
    """32 well-mixed bits of ``(seed, step)``: the CPU generator keeps only the low 32 bits of its seed.

    SplitMix64's finaliser, so that every bit of ``seed`` and ``step`` moves the result. The seed
    of every random draw a scheme makes at a step: its own generator's, or the global generator's
    inside ``torch.random.fork_rng`` for a solver that draws from it (PCGrad's order).

    Example:
        >>> mixed_seed(0, 1) != mixed_seed(0, 2) and 0 <= mixed_seed(7, 3) < 2**32
        True
    """
    z = (seed * 2**32 + step) % 2**64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    return (z ^ (z >> 31)) % 2**32


def _update(scheme: StatefulScheme, *losses: Tensor) -> tuple[Tensor, Tensor]:
    """One call of a stateful scheme, outside any compiled graph."""
    return WeightingScheme.forward(scheme, *losses)
