"""Gradient-conflict weightings from TorchJD: each step's weights from the Gramian of the terms' gradients.

UPGrad, MGDA, PCGrad, CAGrad, IMTL-G, DualProj and Aligned-MTL each produce the update as a
weighted sum of the terms' gradients, ``sum_i w_i g_i``, with weights that depend only on the
Gramian ``G = J J^T`` of the terms' Jacobian ``J`` (one row per term) with respect to the shared
parameters. So the total ``sum_i w_i L_i``, with the weights held constant, gives exactly that
update through an ordinary ``out.total.backward()``. The weights come from TorchJD's
``torchjd.aggregation.*Weighting`` (Gramian in, weights out): losslang computes the Jacobian and
the Gramian and solves nothing itself. TorchJD is the optional extra ``losslang[mtl]``.

``loss.attach(model)`` gives the shared parameters; ``loss.attach(model, features="h")`` takes
the Jacobian with respect to the batch input ``h`` instead, a shared representation the terms are
computed from (LibMTL's ``rep_grad``, TorchJD's ``mtl_backward(features=...)``): one backward
pass per term through the heads only, and a Jacobian as wide as the representation rather than
the model. Under DDP, the per-term gradients of the parameters are averaged over the ranks
before the Gramian (the Gramians, for features: each rank's representation is of its own samples),
so every rank takes the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import torch
from torch import Tensor

from losslang.bounds import Count, Range
from losslang.errors import LossConfigError, LossValueError
from losslang.weighting.base import synced
from losslang.weighting.stateful import StatefulScheme, mixed_seed


class GramianScheme(StatefulScheme):
    """Base of the TorchJD schemes: the Jacobian, its Gramian, TorchJD's weights, ``sum_i w_i L_i``.

    In training mode, with an autograd graph, each call takes the terms' Jacobian (with respect
    to the attached parameters, or the ``features`` input), forms ``G = J J^T`` in float32 or
    wider and asks TorchJD's weighting for the weights; they weight this step's losses as
    constants and are kept for eval mode, which reuses the last ones (1 each at first). A weighting
    that draws random numbers (PCGrad's order) draws them from ``(seed, step)``, so that runs
    repeat and DDP ranks agree.

    Subclasses name TorchJD's weighting class in ``torchjd_name`` and its options in
    :meth:`solver_options`.
    """

    needs_parameters = True
    torchjd_name = ""  # the class in torchjd.aggregation

    def __init__(self, terms: Sequence[str], *, seed: int = 0) -> None:
        super().__init__(terms)
        self.seed = int(seed)
        self.features = False  # set by LossModule.attach(model, features=...): shared is then [that input]
        # Not a submodule: TorchJD's weighting holds no state to save, and state_dict stays losslang's.
        self.__dict__["solver"] = _torchjd_weighting(self.torchjd_name, self.name, self.solver_options())

    def solver_options(self) -> dict[str, Any]:
        """The keyword arguments of TorchJD's weighting: none, unless a scheme has options.

        Example:
            >>> MGDA(["a", "b"], max_iters=50).solver_options()
            {'epsilon': 0.001, 'max_iters': 50}
        """
        return {}

    def combine(self, losses: Tensor) -> tuple[Tensor, Tensor]:
        """When the call can train, this step's weights from the Gramian; then ``w_i L_i`` per term."""
        if self.learning and losses.requires_grad:
            gramian = self.gramian(losses)
            # A non-finite term gives no weights: they stay (nan_policy="skip" redoes the step without it).
            if bool(torch.isfinite(gramian).all()):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(mixed_seed(self.seed, self.step_count))
                    self.weights.copy_(self.checked(self.solver(gramian)))
            self.advance()
        return self.weighted(losses)

    def checked(self, weights: Tensor) -> Tensor:
        """TorchJD's weights, refused when not finite: a solver that failed must not train on NaN silently."""
        if not bool(torch.isfinite(weights).all()):
            found = ", ".join(f"{name}: {weight:g}" for name, weight in zip(self.terms, weights.tolist(), strict=True))
            raise LossValueError(f"{self.name}() found no finite weights for its terms ({found}) from a finite Gramian")
        return weights

    def gramian(self, losses: Tensor) -> Tensor:
        """``J J^T`` of the terms' gradients, rank-averaged as the module docstring says."""
        jacobian = self.jacobian(losses)
        if self.features:
            return synced(jacobian @ jacobian.T)
        jacobian = synced(jacobian)
        return jacobian @ jacobian.T

    def jacobian(self, losses: Tensor) -> Tensor:
        """One row per term: its gradient with respect to the attached tensors, flattened, in float32 or wider.

        One batched backward pass (``is_grads_batched``, vmap over the backward) when every op on
        the way supports it, one pass per term otherwise.
        """
        try:
            grads = self.gradients(losses, batched=True)
        except RuntimeError:  # an op whose backward vmap cannot batch
            grads = [torch.stack(per_term) for per_term in zip(*map(self.gradients, losses), strict=True)]
        dtype = torch.promote_types(grads[0].dtype, torch.float32)
        return torch.cat([g.reshape(len(losses), -1).to(dtype) for g in grads], dim=1)


def _torchjd_weighting(class_name: str, scheme: str, options: dict[str, Any]) -> Any:
    try:
        from torchjd import aggregation
    except ImportError:
        raise LossConfigError(f"{scheme}() needs TorchJD, the optional extra: pip install 'losslang[mtl]'") from None
    try:
        return getattr(aggregation, class_name)(**options)
    except ImportError as error:  # a solver's own optional dependency (cvxpy, quadprog)
        raise LossConfigError(f"{scheme}() needs {error.name}: pip install 'losslang[mtl]'") from None


class UPGrad(GramianScheme):
    """UPGrad: each term's gradient projected onto the dual cone of all of them, then averaged.

    Quinton and Rey, "Jacobian Descent for Multi-Objective Optimization", arXiv 2406.16700 (2024);
    ``torchjd.aggregation.UPGradWeighting``. No term's loss increases to first order.

    Example:
        >>> import torch
        >>> layer = torch.nn.Linear(2, 1, bias=False)
        >>> scheme = UPGrad(["a", "b"])
        >>> scheme.shared = list(layer.parameters())  # what loss.attach(layer) does
        >>> p = layer(torch.tensor([[1.0, 2.0]]))
        >>> total, weights = scheme(((p - 2) ** 2).mean(), ((p + 2) ** 2).mean())
        >>> weights.shape
        torch.Size([2])
    """

    torchjd_name = "UPGradWeighting"


class MGDA(GramianScheme):
    """MGDA: the minimum-norm point of the convex hull of the terms' gradients (Frank-Wolfe).

    Sener and Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018;
    ``torchjd.aggregation.MGDAWeighting``.

    Args:
        terms: the names of the weighted terms (given by the compiler).
        epsilon: stop when the Frank-Wolfe step is below this.
        max_iters: the most Frank-Wolfe iterations.
        seed: unused by MGDA; every TorchJD scheme takes it.

    Example:
        >>> MGDA(["a", "b"], epsilon=1e-4).describe()
        'mgda weights a, b'
    """

    torchjd_name = "MGDAWeighting"

    def __init__(
        self,
        terms: Sequence[str],
        *,
        epsilon: Annotated[float, Range(gt=0, le=1)] = 0.001,
        max_iters: Count = 100,
        seed: int = 0,
    ) -> None:
        self.epsilon, self.max_iters = float(epsilon), int(max_iters)  # before the solver is built
        super().__init__(terms, seed=seed)

    def solver_options(self) -> dict[str, Any]:
        """MGDA's stopping rule."""
        return {"epsilon": self.epsilon, "max_iters": self.max_iters}


class PCGrad(GramianScheme):
    """PCGrad: each term's gradient with its conflicts with the others projected away, in a random order.

    Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020;
    ``torchjd.aggregation.PCGradWeighting``. The order is drawn from ``(seed, step)``.

    Example:
        >>> PCGrad(["a", "b"], seed=3).name
        'pcgrad'
    """

    torchjd_name = "PCGradWeighting"


class CAGrad(GramianScheme):
    """CAGrad: the update that maximises the worst term's improvement within a ball around the mean gradient.

    Liu et al., "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS 2021;
    ``torchjd.aggregation.CAGradWeighting`` (its solver needs cvxpy, in ``losslang[mtl]``).

    Args:
        terms: the names of the weighted terms (given by the compiler).
        c: the ball's radius relative to the mean gradient's norm; 0 is the mean gradient.
        seed: unused by CAGrad; every TorchJD scheme takes it.

    Example:
        >>> CAGrad(["a", "b"], c=0.4).name
        'cagrad'
    """

    torchjd_name = "CAGradWeighting"

    def __init__(self, terms: Sequence[str], *, c: Annotated[float, Range(ge=0, le=1e6)] = 0.5, seed: int = 0) -> None:
        self.c = float(c)
        super().__init__(terms, seed=seed)

    def solver_options(self) -> dict[str, Any]:
        """CAGrad's radius."""
        return {"c": self.c}

    def checked(self, weights: Tensor) -> Tensor:
        """TorchJD's weights, or the mean gradient's (``1/n`` each) where TorchJD gives all zeros.

        When the worst-case direction ``g_w`` vanishes (a term with no gradient, say) TorchJD
        returns zero weights, an update of zero: nothing trains. The authors' code
        (Cranial-XIX/CAGrad, ``cagrad()``) adds ``c / (|g_w| + 1e-8) * g_w`` to the mean gradient,
        which is then the mean gradient itself; losslang follows the authors.
        """
        weights = super().checked(weights)
        return torch.full_like(weights, 1 / len(weights)) if not bool(weights.any()) else weights


class IMTLG(GramianScheme):
    """IMTL-G: the update whose projection on every term's unit gradient is the same.

    Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021;
    ``torchjd.aggregation.IMTLGWeighting``.

    Example:
        >>> IMTLG(["a", "b"]).name
        'imtl_g'
    """

    torchjd_name = "IMTLGWeighting"

    @property
    def name(self) -> str:
        """The scheme's name as formulas write it."""
        return "imtl_g"


class DualProj(GramianScheme):
    """DualProj: the mean gradient projected onto the dual cone of the terms' gradients.

    Quinton and Rey (arXiv 2406.16700), after Lopez-Paz and Ranzato's GEM (2017);
    ``torchjd.aggregation.DualProjWeighting``.

    Example:
        >>> DualProj(["a", "b"]).name
        'dualproj'
    """

    torchjd_name = "DualProjWeighting"


class AlignedMTL(GramianScheme):
    """Aligned-MTL: the terms' gradients aligned to an orthogonal, equally scaled system before summing.

    Senushkin et al., "Independent Component Alignment for Multi-Task Learning", CVPR 2023;
    ``torchjd.aggregation.AlignedMTLWeighting``.

    Args:
        terms: the names of the weighted terms (given by the compiler).
        scale_mode: the eigenvalue the system is scaled to: ``"min"``, ``"median"`` or ``"rmse"``.
        seed: unused by Aligned-MTL; every TorchJD scheme takes it.

    Example:
        >>> AlignedMTL(["a", "b"], scale_mode="median").name
        'aligned_mtl'
    """

    torchjd_name = "AlignedMTLWeighting"

    def __init__(
        self, terms: Sequence[str], *, scale_mode: Literal["min", "median", "rmse"] = "min", seed: int = 0
    ) -> None:
        self.scale_mode = scale_mode
        super().__init__(terms, seed=seed)

    def solver_options(self) -> dict[str, Any]:
        """Aligned-MTL's scaling."""
        return {"scale_mode": self.scale_mode}

    @property
    def name(self) -> str:
        """The scheme's name as formulas write it."""
        return "aligned_mtl"
