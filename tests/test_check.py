from __future__ import annotations

import pytest
import yaml

import losslang
from conftest import FIXTURES
from losslang import ast
from losslang.check import check
from losslang.parser import parse
from losslang.registry import REGISTRY

ERRORS = yaml.safe_load((FIXTURES / "errors.yaml").read_text())


def test_error_file_is_large_enough() -> None:
    assert len(ERRORS) >= 30


@pytest.mark.parametrize("case", ERRORS, ids=[case["source"] for case in ERRORS])
def test_error_messages_are_exact(case: dict[str, str]) -> None:
    with pytest.raises(losslang.LossLangError) as caught:
        losslang.compile(case["source"])
    assert type(caught.value).__name__ == case["error"]
    assert str(caught.value) == case["message"]


@pytest.mark.parametrize("case", ERRORS, ids=[case["source"] for case in ERRORS])
def test_errors_show_no_internal_frames(case: dict[str, str]) -> None:
    with pytest.raises(losslang.LossLangError) as caught:
        losslang.compile(case["source"])
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert caught.value.__traceback__ is not None
    package = {str(entry.path) for entry in caught.traceback if "losslang" in str(entry.path).split("tests")[0]}
    assert all(path.endswith("losslang/__init__.py") for path in package), package


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (losslang.LossSyntaxError, ValueError),
        (losslang.LossNameError, KeyError),
        (losslang.LossArityError, TypeError),
        (losslang.LossInputError, KeyError),
        (losslang.LossShapeError, ValueError),
        (losslang.LossValueError, ValueError),
        (losslang.LossConfigError, ValueError),
    ],
)
def test_errors_derive_from_the_matching_builtin(error: type, builtin: type) -> None:
    assert issubclass(error, losslang.LossLangError) and issubclass(error, builtin)


def test_syntax_error_carries_line_and_column() -> None:
    with pytest.raises(losslang.LossSyntaxError) as caught:
        losslang.parse("a = mse(p, y)\nb = (a +\n")
    assert (caught.value.line, caught.value.column) == (3, 1)


def reported(source: str) -> list[str]:
    return [name for name, _ in check(parse(source), REGISTRY).reported]


@pytest.mark.parametrize(
    ("source", "names"),
    [
        pytest.param("mse(p, y)", ["mse(p, y)"], id="single-term"),
        pytest.param(
            "0.5*mse(pred, y1) + sin_angle(pred, y) + mean(mae(pred, y1), mae(pred, y2))",
            [
                "mse(pred, y1)",
                "sin_angle(pred, y)",
                "mae(pred, y1)",
                "mae(pred, y2)",
                "mean(mae(pred, y1), mae(pred, y2))",
            ],
            id="mission",
        ),
        pytest.param("recon = mse(p, y); 0.5*recon", ["recon", "mse(p, y)"], id="named-and-call"),
        pytest.param("l1(p, y) + mae(p, y)", ["mae(p, y)"], id="alias-is-one-term"),
        pytest.param("w = 0.5; w*mse(p, y)", ["mse(p, y)"], id="named-number-is-a-weight"),
        pytest.param("mse(p, y)/4 - 2*mae(p, y)", ["mse(p, y)", "mae(p, y)"], id="weights-stripped"),
        pytest.param("k = step/10; mse(p, y) + k*mae(p, y)", ["k", "mse(p, y)", "mae(p, y)"], id="step-weight"),
        pytest.param("mse(p, y) * w", ["mse(p, y)", "mse(p, y) * w"], id="input-weight-is-not-stripped"),
        pytest.param("a = p[:, 0]; mse(a, y)", ["a", "mse(a, y)"], id="names-print-as-written"),
        pytest.param("mean((0 - 2) ** x)", ["mean((-2) ** x)"], id="folded-negative-base"),
        pytest.param("mean((0.0 * -1) ** x)", ["mean((-0.0) ** x)"], id="folded-negative-zero-base"),
    ],
)
def test_reported_term_names(source: str, names: list[str]) -> None:
    assert reported(source) == names


def test_names_resolve_to_terms_step_or_inputs() -> None:
    checked = check(parse("a = mse(p, y)\na * step + out.x"), REGISTRY)
    total = checked.total
    assert isinstance(total, ast.Binary)
    assert total.left == ast.Binary("*", ast.Ref("a"), ast.Step())
    assert total.right == ast.Input(("out", "x"))
    assert checked.inputs == (("p",), ("y",), ("out", "x"))
    assert checked.uses_step


def test_constant_arithmetic_is_folded() -> None:
    total = check(parse("(1 + 2) * 0.5 * mse(p, y)"), REGISTRY).total
    assert isinstance(total, ast.Binary) and total.left == ast.Number(1.5)


def test_negative_numbers_are_constants() -> None:
    call = check(parse("sin_angle(p, y, dim=-1)"), REGISTRY).total
    assert isinstance(call, ast.Call) and call.keywords[0].value == ast.Number(-1)


def test_errors_pickle_with_their_location() -> None:
    import pickle

    with pytest.raises(losslang.LossLangError) as caught:
        losslang.compile("mes(p, y)")
    clone = pickle.loads(pickle.dumps(caught.value))
    assert type(clone) is type(caught.value) and str(clone) == str(caught.value) and clone.column == 1
