"""The gradient-conflict schemes against TorchJD: the same weights and the same parameter gradient, every scheme."""

from __future__ import annotations

import copy
import sys

import pytest
import torch

import losslang
from losslang.weighting.stateful import mixed_seed

aggregation = pytest.importorskip("torchjd.aggregation")

WEIGHTINGS = {
    "upgrad": lambda: aggregation.UPGradWeighting(),
    "mgda": lambda: aggregation.MGDAWeighting(),
    "pcgrad": lambda: aggregation.PCGradWeighting(),
    "cagrad": lambda: aggregation.CAGradWeighting(c=0.5),
    "imtl_g": lambda: aggregation.IMTLGWeighting(),
    "dualproj": lambda: aggregation.DualProjWeighting(),
    "aligned_mtl": lambda: aggregation.AlignedMTLWeighting(),
}
AGGREGATORS = {
    "upgrad": lambda: aggregation.UPGrad(),
    "mgda": lambda: aggregation.MGDA(),
    "cagrad": lambda: aggregation.CAGrad(c=0.5),
    "imtl_g": lambda: aggregation.IMTLG(),
    "dualproj": lambda: aggregation.DualProj(),
    "aligned_mtl": lambda: aggregation.AlignedMTL(),
}
FORMULA = "{}(mse(p1, y1), mse(p2, y2), mae(p3, y3))"


class Trunk(torch.nn.Module):
    """A shared trunk and three heads whose targets pull the trunk in conflicting directions."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = torch.nn.Linear(4, 6)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(6, 1) for _ in range(3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = torch.tanh(self.trunk(x))
        return {"h": h, **{f"p{i + 1}": head(h)[:, 0] for i, head in enumerate(self.heads)}}


def batch(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 4, generator=generator)
    return {"x": x, "y1": x[:, 0], "y2": -2 * x[:, 0] + x[:, 1], "y3": 3 * x[:, 2]}


def reference(name: str, jacobian: torch.Tensor, step: int = 0, seed: int = 0) -> torch.Tensor:
    """TorchJD's weighting on the Gramian of ``jacobian``, PCGrad's order drawn as losslang draws it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(mixed_seed(seed, step))
        return WEIGHTINGS[name]()(jacobian @ jacobian.T)


def jacobian_of(losses: list[torch.Tensor], inputs: list[torch.Tensor]) -> torch.Tensor:
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, inputs, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(inputs, grads, strict=True)]
            )
        )
    return torch.stack(rows)


def term_losses(values: dict[str, torch.Tensor], data: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    return [
        ((values["p1"] - data["y1"]) ** 2).mean(),
        ((values["p2"] - data["y2"]) ** 2).mean(),
        (values["p3"] - data["y3"]).abs().mean(),
    ]


@pytest.mark.parametrize("name", list(WEIGHTINGS))
def test_weights_and_parameter_gradient_equal_torchjds(name: str) -> None:
    """Per step: the weights equal TorchJD's weighting of the Gramian of the per-term gradients, and the
    parameter gradient of ``out.total.backward()`` is ``w @ J`` (TorchJD's aggregation), to float32 rounding."""
    torch.manual_seed(0)
    model = Trunk()
    twin = copy.deepcopy(model)
    loss = losslang.compile(FORMULA.format(name)).attach(model)
    params, twin_params = list(model.parameters()), list(twin.parameters())
    for step in range(3):
        data = batch(step)
        out = loss({**data, **model(data["x"])})
        jacobian = jacobian_of(term_losses(twin(data["x"]), data), twin_params)
        expected = reference(name, jacobian, step)
        weights = torch.stack([out[f"weight/{term}"] for term in loss.term_names if not term.startswith("weight/")])
        torch.testing.assert_close(weights, expected, rtol=1e-5, atol=1e-6)
        for p in params:
            p.grad = None
        out.total.backward()
        gradient = torch.cat([p.grad.reshape(-1) for p in params])
        torch.testing.assert_close(gradient, expected @ jacobian, rtol=1e-5, atol=1e-6)
        if name in AGGREGATORS:  # TorchJD's own aggregator of the Jacobian: the same update
            torch.testing.assert_close(gradient, AGGREGATORS[name]()(jacobian), rtol=1e-4, atol=1e-5)
        with torch.no_grad():  # the same step on both copies
            for p, q in zip(params, twin_params, strict=True):
                p -= 0.1 * p.grad
                q.copy_(p)


@pytest.mark.parametrize("name", list(WEIGHTINGS))
def test_features_mode_takes_the_jacobian_with_respect_to_the_representation(name: str) -> None:
    """attach(model, features="h"): the weights from the Gramian of the gradients with respect to h, and the
    trunk's gradient is h's backward with ``w @ J_h``."""
    torch.manual_seed(1)
    model = Trunk()
    loss = losslang.compile(FORMULA.format(name)).attach(model, features="h")
    data = batch()
    values = model(data["x"])
    out = loss({**data, **values})
    jacobian = jacobian_of(term_losses(values, data), [values["h"]])
    expected = reference(name, jacobian)
    weights = torch.stack([out[f"weight/{term}"] for term in loss.term_names if not term.startswith("weight/")])
    torch.testing.assert_close(weights, expected, rtol=1e-5, atol=1e-6)
    out.total.backward()
    twin_values = model(data["x"])  # the same parameters
    (trunk_gradient,) = torch.autograd.grad(
        twin_values["h"], model.trunk.weight, grad_outputs=(expected @ jacobian).reshape(values["h"].shape)
    )
    torch.testing.assert_close(model.trunk.weight.grad, trunk_gradient, rtol=1e-5, atol=1e-6)


def test_features_input_must_be_in_the_batch_and_require_grad() -> None:
    model = Trunk()
    loss = losslang.compile(FORMULA.format("upgrad")).attach(model, features="h")
    data = batch()
    values = model(data["x"])
    with pytest.raises(losslang.LossInputError, match=r"missing input 'h'.*attach\(features=\.\.\.\) names"):
        loss({**data, **{k: v for k, v in values.items() if k != "h"}})
    with pytest.raises(losslang.LossValueError, match=r"attach\(features='h'\).*not a tensor without gradient"):
        loss({**data, **values, "h": values["h"].detach()})


def test_eval_mode_and_no_grad_reuse_the_last_weights() -> None:
    torch.manual_seed(2)
    model = Trunk()
    loss = losslang.compile(FORMULA.format("mgda")).attach(model)
    data = batch()
    trained = loss({**data, **model(data["x"])})
    loss.eval()
    evaluated = loss({**batch(5), **model(batch(5)["x"])})
    for term in ("mse(p1, y1)", "mse(p2, y2)", "mae(p3, y3)"):
        assert float(evaluated[f"weight/{term}"]) == float(trained[f"weight/{term}"])
    assert int(next(s for s in loss.modules() if hasattr(s, "solver")).steps) == 1


def test_pcgrad_draws_repeat_with_the_seed_and_leave_the_global_generator_alone() -> None:
    torch.manual_seed(3)
    model = Trunk()
    data = batch()
    runs = []
    for _ in range(2):
        loss = losslang.compile("pcgrad(mse(p1, y1), mse(p2, y2), mae(p3, y3), seed=4)")
        torch.manual_seed(9)
        state = torch.random.get_rng_state()
        loss.attach(model)
        runs.append(loss({**data, **model(data["x"])}).total.detach())
        assert torch.equal(torch.random.get_rng_state(), state)  # the draw was from (seed, step), in a fork
    assert torch.equal(runs[0], runs[1])


def test_a_formula_naming_a_scheme_without_torchjd_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchjd", None)  # what an install without the extra looks like
    with pytest.raises(losslang.LossLangError, match=r"upgrad\(\) needs TorchJD.*pip install 'losslang\[mtl\]'"):
        losslang.compile("upgrad(mse(p, y), mae(p, y))")


def test_cagrad_c_is_checked_and_reaches_torchjd() -> None:
    with pytest.raises(losslang.LossLangError, match="argument 'c' of cagrad"):
        losslang.compile("cagrad(mse(p, y), mae(p, y), c=-1)")
    scheme = next(m for m in losslang.compile("cagrad(mse(p, y), mae(p, y), c=0.25)").modules() if hasattr(m, "c"))
    assert scheme.solver.c == 0.25


@pytest.mark.parametrize("name", ["upgrad", "pcgrad", "famo"])
def test_skip_grad_norms_metrics_and_the_yaml_weighting_section_work_as_with_every_scheme(name: str) -> None:
    config = {
        "loss": {
            "terms": {"a": "mse(p1, y1)", "b": "mse(p2, y2)"},
            "metrics": {"l1": "mae(p1, y1)"},
            "weighting": {"method": name, "terms": ["a", "b"]},
            "nan_policy": "skip",
        }
    }
    loss = losslang.load(config, key="loss")
    torch.manual_seed(4)
    model = Trunk()
    loss.attach(model, grad_norms=True)
    scheme = next(module for module in loss.modules() if hasattr(module, "steps") and module is not loss)
    data = batch()
    out = loss({**data, **model(data["x"])})
    assert {"weight/a", "weight/b", "grad_norm/a", "grad_norm/b", "l1", "skipped/a"} <= set(out)
    assert not out["l1"].requires_grad and int(scheme.steps) == 1
    broken = {**data, "y2": torch.full_like(data["y2"], float("nan"))}
    out = loss({**broken, **model(data["x"])})
    assert float(out["skipped/b"]) == 1.0 and torch.isfinite(out.total)
    assert int(scheme.steps) == 1  # a step that dropped a term leaves the scheme's state where it was
    out.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_an_op_vmap_cannot_batch_falls_back_to_one_backward_per_term(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Jacobian is one batched backward pass; where vmap cannot batch one, one pass per term gives the same."""
    torch.manual_seed(5)
    model = Trunk()
    data = batch()
    loss = losslang.compile(FORMULA.format("upgrad")).attach(model)
    batched = loss({**data, **model(data["x"])})
    grad = torch.autograd.grad

    def unbatchable(*args: object, is_grads_batched: bool = False, **kwargs: object) -> object:
        if is_grads_batched:
            raise RuntimeError("vmap: this backward is not batchable")
        return grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", unbatchable)
    fresh = losslang.compile(FORMULA.format("upgrad")).attach(model)
    looped = fresh({**data, **model(data["x"])})
    for term in ("mse(p1, y1)", "mse(p2, y2)", "mae(p3, y3)"):
        torch.testing.assert_close(batched[f"weight/{term}"], looped[f"weight/{term}"], rtol=1e-5, atol=1e-6)


def authors_cagrad(grads: torch.Tensor, alpha: float) -> torch.Tensor:
    """The update of Cranial-XIX/CAGrad's ``cagrad()`` (rescale=0), scipy's solver as theirs: grads is (d, n)."""
    import numpy as np
    from scipy.optimize import minimize

    n = grads.shape[1]
    gg = (grads.T @ grads).double().numpy()
    g0_norm = np.sqrt(gg.mean() + 1e-8)
    x_start, b = np.ones(n) / n, np.ones(n) / n
    c = alpha * g0_norm + 1e-8

    def objective(x: np.ndarray) -> float:
        return float(x @ gg @ b + c * np.sqrt(x @ gg @ x + 1e-8))

    constraints = {"type": "eq", "fun": lambda x: 1 - x.sum()}
    w = torch.tensor(minimize(objective, x_start, bounds=[(0, 1)] * n, constraints=constraints).x, dtype=grads.dtype)
    gw = grads @ w
    return grads.mean(1) + c / (gw.norm() + 1e-8) * gw


def test_cagrad_falls_back_to_the_mean_gradient_as_its_authors_do_when_a_term_has_no_gradient() -> None:
    # TorchJD's CAGradWeighting gives all-zero weights here (nothing trains); the authors' code gives the mean.
    torch.manual_seed(0)
    model, other = torch.nn.Linear(3, 2), torch.nn.Linear(3, 1)
    x = torch.randn(8, 3)
    loss = losslang.compile("cagrad(mse(p, y), mse(q, z), mse(r, y))").attach(model)
    p, r = model(x).unbind(1)
    out = loss(p=p, y=torch.zeros(8), q=other(x)[:, 0], z=torch.ones(8), r=r)
    assert [float(out[f"weight/mse({a}, {b})"]) for a, b in ("py", "qz", "ry")] == pytest.approx([1 / 3] * 3)
    ours = torch.cat(
        [g.reshape(-1) for g in torch.autograd.grad(out.total, list(model.parameters()), retain_graph=True)]
    )
    terms = [out["mse(p, y)"], out["mse(q, z)"], out["mse(r, y)"]]
    grads = torch.stack(
        [
            torch.cat(
                [
                    g.reshape(-1)
                    for g in torch.autograd.grad(
                        t, list(model.parameters()), retain_graph=True, allow_unused=True, materialize_grads=True
                    )
                ]
            )
            for t in terms
        ],
        dim=1,
    )
    torch.testing.assert_close(ours, authors_cagrad(grads, 0.5), atol=1e-5, rtol=1e-4)


def test_a_scheme_whose_solver_gives_non_finite_weights_names_itself_and_its_terms(monkeypatch) -> None:
    torch.manual_seed(0)
    model = Trunk()
    loss = losslang.compile(FORMULA.format("upgrad")).attach(model)
    scheme = next(s for s in loss.modules() if hasattr(s, "solver"))
    monkeypatch.setitem(scheme.__dict__, "solver", lambda gramian: torch.full((3,), float("nan")))
    data = batch()
    with pytest.raises(losslang.LossValueError, match=r"upgrad\(\) found no finite weights .*mse\(p1, y1\): nan"):
        loss({**data, **model(data["x"])})
