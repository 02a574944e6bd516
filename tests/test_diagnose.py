from __future__ import annotations

import pytest
import torch

import losslang
from losslang.compiler import Graph
from losslang.diagnose import failure, non_finite


def graph_and_error(formula: str, *args: torch.Tensor) -> tuple[Graph, BaseException]:
    graph = losslang.compile(formula)._graph
    with pytest.raises(Exception) as caught:
        graph.module.forward(*args)  # not __call__, which prints fx's own report
    return graph, caught.value


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        pytest.param(
            "mse(a, b) + mean(a * c)",
            "term 'mean(a * c)' failed: RuntimeError: The size of tensor a (2) must match the size of tensor b (3) "
            "at non-singleton dimension 0 (operands: (2,) torch.float32, (3,) torch.float32)",
            id="torch-shape-error",
        ),
        pytest.param(
            "mae(a, b) + mse(a, c)",
            "term 'mse(a, c)': mse(): pred has shape (2,) but target has shape (3,); they must match",
            id="term-check",
        ),
        pytest.param(
            "mse(a, b) * sum(c[5])",
            "the total failed in indexing: IndexError: index 5 is out of bounds for dimension 0 with size 3 "
            "(operands: (3,) torch.float32)",
            id="the-total-as-a-term",
        ),
    ],
)
def test_failure_names_the_first_term_that_depends_on_the_failing_node(formula: str, message: str) -> None:
    args = (torch.ones(2), torch.zeros(2), torch.ones(3))
    graph, error = graph_and_error(formula, *args)
    assert str(failure(graph, args, error)) == message


def test_non_finite_names_the_term_before_the_total_and_the_input_at_fault() -> None:
    graph = losslang.compile("late = mae(p, y); early = mse(p, q); early + late")._graph
    args = (torch.ones(2), torch.tensor([0.0, float("nan")]), torch.zeros(2))  # 'late' and the total are NaN
    assert str(non_finite(graph, ["p", "y", "q"], graph.module(*args), args)) == (
        "term 'late' is NaN; its input 'y' was already NaN or infinite"
    )
    fine = (torch.ones(2), torch.zeros(2), torch.zeros(2))
    assert non_finite(graph, ["p", "y", "q"], graph.module(*fine), fine) is None
