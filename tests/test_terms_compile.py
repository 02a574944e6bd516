"""Formulas using the term library, compiled end to end with losslang.compile."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import losslang


def segmentation_batch() -> dict[str, Tensor]:
    return {
        "logits": torch.randn(4, 3, 5, 5, dtype=torch.float64, requires_grad=True),
        "labels": torch.randint(0, 3, (4, 5, 5)),
        "probs": torch.rand(4, 5, 5, dtype=torch.float64, requires_grad=True),
        "mask_target": torch.randint(0, 2, (4, 5, 5)).double(),
    }


def test_classification_and_segmentation_formula() -> None:
    loss = losslang.compile("cross_entropy(logits, labels, label_smoothing=0.1) + dice(probs, mask_target)")
    batch = segmentation_batch()
    out = loss(batch)
    p, t = batch["probs"].flatten(1), batch["mask_target"].flatten(1)
    dice = (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()
    ce = F.cross_entropy(batch["logits"], batch["labels"], label_smoothing=0.1)
    torch.testing.assert_close(out.total, ce + dice)
    assert list(out) == [
        "total",
        "cross_entropy(logits, labels, label_smoothing=0.1)",
        "dice(probs, mask_target)",
    ]
    out.total.backward()
    assert batch["logits"].grad is not None and batch["probs"].grad is not None


def test_weights_masks_and_math_in_a_program() -> None:
    source = """
    fit   = huber(pred, y, delta=0.5, weight=w, mask=valid)
    angle = cos_angle(pred, y, mask=valid)
    size  = mean(clamp(norm(pred, p=1, dim=1) - 2, min=0))
    fit + 0.1*angle + 0.01*size + 0.5*kl_div(log_softmax(s), softmax(t), reduction="batchmean")
    """
    pred, y = torch.randn(6, 3, requires_grad=True), torch.randn(6, 3)
    s, t, w = torch.randn(6, 4), torch.randn(6, 4), torch.rand(6)
    valid = torch.tensor([True, True, False, True, True, True])
    out = losslang.compile(source)(pred=pred, y=y, s=s, t=t, w=w, valid=valid)
    fit = (F.huber_loss(pred, y, delta=0.5, reduction="none") * w[:, None])[valid].mean()
    angle = (1 - F.cosine_similarity(pred, y, dim=-1))[valid].mean()
    size = (pred.abs().sum(1) - 2).clamp(min=0).mean()
    kl = F.kl_div(s.log_softmax(-1), t.softmax(-1), reduction="batchmean")
    torch.testing.assert_close(out.total, fit + 0.1 * angle + 0.01 * size + 0.5 * kl)
    assert {"fit", "angle", "size"} <= set(out)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("sum(x, dim=[1, 2])", lambda x: x.sum((1, 2)), id="sum-dims"),
        pytest.param("max(x, dim=[-1, 0])", lambda x: x.amax((-1, 0)), id="max-negative-dims"),
        pytest.param("std(x, [0, 2], correction=0)", lambda x: x.std((0, 2), correction=0), id="std-positional-dims"),
        pytest.param("norm(x, 1, dim=[1, 2], keepdim=true)", lambda x: x.abs().sum((1, 2), keepdim=True), id="norm"),
        pytest.param("dot(x, x, dim=0)", lambda x: (x * x).sum(0), id="dot"),
    ],
)
def test_reductions_over_several_dims(source: str, expected) -> None:
    x = torch.randn(2, 3, 4)
    out = losslang.compile(f"mean({source})")(x=x)
    torch.testing.assert_close(out.total, expected(x).mean())


def test_terms_are_reported_and_metrics_are_floats() -> None:
    loss = losslang.compile("l1(p, y) + rmse(p, y) + focal(z, b) + msa(p, y, len_ratio=1.0)")
    batch = {"p": torch.randn(4, 3), "y": torch.randn(4, 3), "z": torch.randn(4, 2), "b": torch.rand(4, 2)}
    metrics = loss(batch).metrics()
    assert list(metrics) == ["total", "mae(p, y)", "rmse(p, y)", "focal(z, b)", "msa(p, y, len_ratio=1.0)"]
    assert all(isinstance(value, float) for value in metrics.values())


@pytest.mark.slow
def test_torch_compile_runs_the_new_terms_like_eager() -> None:
    source = (
        "cross_entropy(logits, labels, label_smoothing=0.1, mask=keep) + dice(probs, target) "
        "+ 0.1*sin_angle(v, w) + huber(v, w, weight=weight) + mean(clamp(norm(v, dim=[1]), min=1))"
    )
    batch = {
        "logits": torch.randn(8, 3),
        "labels": torch.randint(0, 3, (8,)),
        "keep": torch.rand(8) > 0.3,
        "probs": torch.rand(8, 4, 4),
        "target": torch.randint(0, 2, (8, 4, 4)).float(),
        "v": torch.randn(8, 3),
        "w": torch.randn(8, 3),
        "weight": torch.rand(8),
    }
    compiled = losslang.compile(source, compile=True)
    torch.testing.assert_close(compiled(batch).total, losslang.compile(source)(batch).total)


VOCABULARY_COMPILED = [
    pytest.param("sum(transpose(x, 1, 2) @ x)", True, id="transpose-matmul"),
    pytest.param("sum(permute(x, 2, 0, 1)[0] * reshape(x, -1, 4)[:3])", True, id="permute-reshape"),
    pytest.param('sum(einsum("bij,bkj->bik", x, x))', True, id="einsum"),
    pytest.param("sum(x[:, :, None] - x[:, None, :])", True, id="inserted-axes"),
    pytest.param("sum(gather(flatten(x, 1), 1, i))", True, id="gather"),
    pytest.param("mean(one_hot(t, 4) * flatten(x, 1)[:, :4])", True, id="one_hot"),
    pytest.param("sum(cumsum(sort(flatten(x, 1), dim=1), 1)) + sum(logsumexp(x, 2))", True, id="sort-cumsum"),
    pytest.param("sum(cdist(x[0], x[1]))", True, id="cdist"),
    pytest.param("sum(x[x > 0])", False, id="boolean-mask"),  # a data-dependent shape: torch breaks the graph
    pytest.param("sum(flatten(x, 1) @ transpose(flatten(x, 1), 0, 1)) / size(x, 0)", True, id="size"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("source", "one_graph"), VOCABULARY_COMPILED)
def test_the_tensor_vocabulary_compiles_like_eager_and_without_graph_breaks_where_torch_allows(
    source: str, one_graph: bool
) -> None:
    import torch._dynamo

    batch = {"x": torch.randn(3, 4, 4), "i": torch.randint(0, 16, (3, 2)), "t": torch.randint(0, 4, (3,))}
    eager, compiled = losslang.compile(source), losslang.compile(source, compile=True)
    torch.testing.assert_close(compiled(batch).total, eager(batch).total)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(eager.body)(*[batch[name] for name in eager.inputs])
    assert (explained.graph_break_count == 0) == one_graph, explained.break_reasons
