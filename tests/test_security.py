"""No execution of user text, and state that cannot be mixed up."""

from __future__ import annotations

import ast
import copy
import re
import threading
from pathlib import Path

import pytest
import torch
from torch import Tensor

import losslang
from losslang.parser import parse
from losslang.registry import REGISTRY, snapshot

ROOT = Path(__file__).resolve().parent.parent

PACKAGE = Path(losslang.__file__).parent


def test_the_package_never_calls_eval_exec_or_import_on_text() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile", "__import__"), f"{path}:{node.lineno}"


@pytest.mark.parametrize(
    ("source", "kind", "message"),
    [
        pytest.param("__import__('os')", losslang.LossNameError, "unknown function '__import__'", id="import-call"),
        pytest.param("eval(x)", losslang.LossNameError, "unknown function 'eval'", id="eval-call"),
        pytest.param(
            "mse(p.__class__, y)",
            losslang.LossNameError,
            "'__class__': names starting with '__' are reserved",
            id="dunder-attribute",
        ),
        pytest.param(
            "mse(__builtins__, y)", losslang.LossNameError, "names starting with '__' are reserved", id="dunder"
        ),
        pytest.param(
            'mse(p, y, reduction="sum\\"); import os; ("")',
            losslang.LossSyntaxError,
            "unexpected character",
            id="escaped-quote",
        ),
        pytest.param(
            "mse(p, y, reduction='sum'); import os",
            losslang.LossSyntaxError,
            "unexpected name 'import'",
            id="statement-after",
        ),
        pytest.param("mse(p, y)\nimport os", losslang.LossSyntaxError, "unexpected name 'import'", id="import-line"),
        pytest.param("x.__dict__", losslang.LossNameError, "names starting with '__' are reserved", id="dict"),
    ],
)
def test_injection_strings_are_rejected(source: str, kind: type, message: str) -> None:
    with pytest.raises(kind, match=message):
        losslang.compile(source)


def test_strings_reach_functions_as_plain_values() -> None:
    seen: list[object] = []

    def tagged(pred: Tensor, *, tag: str = "") -> Tensor:
        """Records its tag."""
        seen.append(tag)
        return pred.sum()

    hostile = "x'); import os; os.system('echo hacked'); ('"
    loss = losslang.compile(f'tagged(p, tag="{hostile}")', terms={"tagged": tagged})
    loss(p=torch.ones(2))
    assert seen == [hostile]
    assert repr(hostile) in loss.code  # a literal in the generated code, never code


def test_generated_code_has_only_validated_names() -> None:
    loss = losslang.compile("a = mse(lambda, torch)\nb = mae(self, class)\na + b")
    header = loss.code.strip().splitlines()[0]
    assert header == "def forward(self, lambda_1, torch_1, self_input, class_1):"
    out = loss({"lambda": torch.ones(2), "torch": torch.zeros(2), "self": torch.ones(2), "class": torch.ones(2)})
    assert out.total.item() == 1.0


def test_inputs_whose_names_join_alike_get_distinct_parameters() -> None:
    loss = losslang.compile("mse(out.logits, out_logits) + mae(out_logits_1, lambda) + mae(lambda_input, p)")
    header = loss.code.strip().splitlines()[0]
    assert header == "def forward(self, out_logits, out_logits_1, out_logits_2, lambda_1, lambda_input, p):"
    ones, zeros = torch.ones(2), torch.zeros(2)
    batch = {"out": {"logits": ones}, "out_logits": zeros, "out_logits_1": 3 * ones, "lambda": zeros}
    out = loss({**batch, "lambda_input": ones, "p": zeros})
    assert list(out.metrics().values()) == [5.0, 1.0, 3.0, 1.0]


def test_state_from_a_different_formula_is_refused() -> None:
    saved = losslang.compile("uncertainty(mse(p, y), mae(p, y))").state_dict()
    other = losslang.compile("uncertainty(mse(p, y), mse(p, 2 * y))")
    with pytest.raises(losslang.LossConfigError) as caught:
        other.load_state_dict(saved)
    assert str(caught.value) == (
        "this state was saved from a different loss; saved:\n  uncertainty(mse(p, y), mae(p, y))\n"
        "this loss:\n  uncertainty(mse(p, y), mse(p, 2 * y))"
    )


def test_same_formula_written_differently_shares_state() -> None:
    saved = losslang.compile("uncertainty(mse(p,y),mae(p,y))").state_dict()
    losslang.compile("uncertainty(mse(p, y), mae(p, y))").load_state_dict(saved)


def test_one_module_serves_several_threads_for_inference() -> None:
    loss = losslang.compile("l1 = mae(p, y); mse(p, y) + sin_angle(p, y)").eval()
    batches = [{"p": torch.randn(64, 3), "y": torch.randn(64, 3)} for _ in range(16)]
    expected = [loss(batch).metrics() for batch in batches]
    results: dict[int, dict[str, float]] = {}

    def work(index: int) -> None:
        with torch.no_grad():
            for _ in range(20):
                results[index] = loss(batches[index]).metrics()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[index] for index in range(16)] == expected
    assert int(loss.step) == 0


def test_schemes_schedules_and_skipping_serve_several_threads_in_eval_mode() -> None:
    source = "l1 = mae(p, y); dwa(mse(p, y), mae(p, 2 * y)) + ramp(step, 0.0, 1.0, 10) * sqrt(mean(p))"
    loss = losslang.compile(source, nan_policy="skip")
    loss(p=torch.rand(4, 3), y=torch.rand(4, 3))  # one training step, so that the scheme has state
    loss.eval()
    before = copy.deepcopy(loss.state_dict())
    # Odd batches have a negative mean: their sqrt term is NaN and is skipped.
    batches = [{"p": torch.randn(32, 3) + (-3 if i % 2 else 3), "y": torch.randn(32, 3)} for i in range(8)]
    expected = [loss(batch).metrics() for batch in batches]
    assert [metrics["skipped/sqrt(mean(p))"] for metrics in expected] == [0.0, 1.0] * 4
    results: dict[int, list[dict[str, float]]] = {}

    def work(index: int) -> None:
        with torch.set_grad_enabled(index % 2 == 0):  # gradient mode is per thread
            results[index] = [loss(batches[(index + i) % 8]).metrics() for i in range(16)]

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[index] == [expected[(index + i) % 8] for i in range(16)] for index in range(8))
    after = loss.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(after[key], value) for key, value in before.items() if torch.is_tensor(value))


def test_parse_cache_is_thread_safe() -> None:
    sources = [f"mse(p{i}, y) + {i}*mae(p, y)" for i in range(50)]
    parsed: list[list[str]] = [[] for _ in range(8)]

    def work(index: int) -> None:
        parsed[index] = [str(parse(source)) for source in sources * 4]

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result == parsed[0] for result in parsed) and len(parsed[0]) == 200


def test_registry_snapshot_restores_everything() -> None:
    before = (dict(REGISTRY.specs), dict(REGISTRY.aliases))
    with snapshot():

        @losslang.register("temporary_term", aliases=("tt",))
        def temporary_term(pred: Tensor) -> Tensor:
            """Only for this test."""
            return pred.sum()

        @losslang.register("mse", override=True)
        def replaced(pred: Tensor, target: Tensor) -> Tensor:
            """Replaces mse inside the snapshot."""
            return pred.sum()

        assert "tt" in REGISTRY and REGISTRY.lookup("mse").fn is replaced
    assert (dict(REGISTRY.specs), dict(REGISTRY.aliases)) == before


def test_every_test_security_md_names_exists() -> None:
    """Each promise names the test that holds it; a renamed or deleted test must not leave it unheld."""
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    groups = re.findall(r"\*\((tests/[^)]*)\)\*", text.replace("\n", " "))
    assert len(groups) >= 25
    missing = []
    for group in groups:
        current = None
        for reference in (part.strip() for part in group.split(",")):
            path, _, name = reference.partition("::")
            current = path or current
            source = (ROOT / current).read_text(encoding="utf-8")
            if name and f"def {name.split('[')[0]}(" not in source:
                missing.append(reference)
    assert missing == []
