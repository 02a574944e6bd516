from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
import torch
import yaml

import losslang
from conftest import FIXTURES
from losslang import ast
from losslang.bounds import Range
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
    # Frames are the library's by where the imported package lies, not by a folder's name: a `git clone`
    # is a folder named losslang, which holds the tests too.
    package = Path(losslang.__file__).resolve().parent
    frames = {Path(entry.path).resolve() for entry in caught.traceback}
    inside = {frame for frame in frames if frame.is_relative_to(package)}
    assert inside <= {package / "api.py"}, inside  # only the public function


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
        pytest.param("mse(p, y) * w", ["mse(p, y)"], id="input-weight-is-not-stripped-the-total-is-not-repeated"),
        pytest.param(
            "mse(p, y) * w + mae(p, y)", ["mse(p, y)", "mae(p, y)", "mse(p, y) * w"], id="input-weight-is-not-stripped"
        ),
        pytest.param("mean(mae(p, a), mae(p, b))", ["mae(p, a)", "mae(p, b)"], id="a-single-aggregate-is-the-total"),
        pytest.param("a = p[:, 0]; mse(a, y)", ["a", "mse(a, y)"], id="names-print-as-written"),
        pytest.param("mean((0 - 2) ** x) + mse(p, y)", ["mse(p, y)", "mean((-2) ** x)"], id="folded-negative-base"),
        pytest.param(
            "mean((0.0 * -1) ** x) + mse(p, y)", ["mse(p, y)", "mean((-0.0) ** x)"], id="folded-negative-zero-base"
        ),
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


@pytest.mark.parametrize(
    ("constant", "value"),
    [
        ("10 ** 17 + 1 - 10 ** 17", 1),
        ("100000000000000001 - 100000000000000000", 1),
        ("(2 ** 62 - 1) * 2 + 1", 2**63 - 1),
        ("3 ** 39 - 3 ** 39 + 7", 7),
        ("(-2) ** 63 + 1", -(2**63) + 1),
        ("0 ** 0", 1),
        ("2 ** -1", 0.5),
        ("(10 ** 17 + 1) / 1", 1e17),
    ],
)
def test_integer_arithmetic_on_constants_is_exact_however_it_is_spelt(constant: str, value: int | float) -> None:
    total = check(parse(f"({constant}) * mse(p, y)"), REGISTRY).total
    assert isinstance(total, ast.Binary) and total.left == ast.Number(value)


@pytest.mark.parametrize(
    ("source", "column", "shown"),
    [
        ("mse(p, y) * 9223372036854775808", 13, "9223372036854775808"),
        ("mse(p, y) * 2 ** 63", 13, "2 ** 63"),
        ("mse(p, y) * (2 ** 62 + 2 ** 62)", 14, "2 ** 62 + 2 ** 62"),
        ("mse(p, y) * 10 ** 40", 13, "10 ** 40"),
        ("sum(p, dim=99999999999999999999) + mse(p, y)", 12, "99999999999999999999"),
    ],
)
def test_integers_torch_cannot_hold_are_refused_at_their_position(source: str, column: int, shown: str) -> None:
    with pytest.raises(losslang.LossValueError) as caught:
        losslang.compile(source)
    assert caught.value.column == column
    assert f"{shown} is an integer beyond the 64-bit range torch holds" in str(caught.value)


@pytest.mark.parametrize(
    ("source", "column", "message"),
    [
        ("mse(p[::0], y)", 7, "the slice ::0 has step 0: a slice step of 0 takes nothing"),
        ("mse(p[:, 1::-1], y)", 10, "the slice 1::-1 has step -1: torch cannot slice backwards"),
        ("mse(p[::99999999999999999999], y)", 7, "the index 99999999999999999999 is beyond the 64-bit range"),
        ("mse(p[..., 99999999999999999999], y)", 5, "the index 99999999999999999999 is beyond the 64-bit range"),
    ],
    ids=["step-zero", "step-negative", "step-beyond-int64", "index-beyond-int64"],
)
def test_slices_torch_refuses_are_errors_at_their_position_when_compiled(
    source: str, column: int, message: str
) -> None:
    with pytest.raises(losslang.LossValueError) as caught:
        losslang.compile(source)
    assert caught.value.column == column and message in str(caught.value)


def test_negative_numbers_are_constants() -> None:
    call = check(parse("sin_angle(p, y, dim=-1)"), REGISTRY).total
    assert isinstance(call, ast.Call) and call.keywords[0].value == ast.Number(-1)


def test_errors_pickle_with_their_location() -> None:
    import pickle

    with pytest.raises(losslang.LossLangError) as caught:
        losslang.compile("mes(p, y)")
    clone = pickle.loads(pickle.dumps(caught.value))
    assert type(clone) is type(caught.value) and str(clone) == str(caught.value) and clone.column == 1


@pytest.mark.parametrize(
    "source",
    ["total = mse(p, y)\ntotal + 10*mae(p, y)", "total = 2\nmse(p, y) * total", "a = mse(p, y); total = a; total"],
    ids=["term", "weight", "alias"],
)
def test_total_is_reserved(source: str) -> None:
    with pytest.raises(losslang.LossNameError) as caught:
        losslang.compile(source)
    assert (
        str(caught.value)
        .splitlines()[0]
        .endswith(
            "'total' is reserved: it is the loss's total, the program's last line; give the term another name "
            "(e.g. 'main = ...') and write the total as the last line"
        )
    )


@pytest.mark.parametrize("name", ["__class__", "__init__", "__dict__", "__x"])
def test_dunder_term_names_are_refused(name: str) -> None:
    with pytest.raises(losslang.LossNameError, match=f"'{name}': names starting with '__' are reserved"):
        losslang.compile(f"{name} = mse(p, y); {name}")


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("huber(p, y, delta=-1)", "argument 'delta' of huber() must be greater than 0, not -1"),
        ("huber(p, y, delta=0)", "argument 'delta' of huber() must be greater than 0, not 0"),
        (
            "cross_entropy(p, t, label_smoothing=1.5)",
            "argument 'label_smoothing' of cross_entropy() must be between 0 and 1, not 1.5",
        ),
        ("quantile(p, y, q=1.5)", "argument 'q' of quantile() must be between 0 and 1, not 1.5"),
        ("smooth_l1(p, y, beta=-1)", "argument 'beta' of smooth_l1() must be at least 0, not -1"),
        ("multi_margin(p, t, p=3)", "argument 'p' of multi_margin() must be between 1 and 2, not 3"),
        ("triplet_margin(a, p, n, margin=0)", "argument 'margin' of triplet_margin() must be greater than 0, not 0"),
        ("charbonnier(p, y, eps=0)", "argument 'eps' of charbonnier() must be greater than 0, not 0"),
        ("focal(p, y, gamma=-2)", "argument 'gamma' of focal() must be at least 0, not -2"),
        ("dice(p, y, smooth=-1)", "argument 'smooth' of dice() must be at least 0, not -1"),
        ("softplus(p, beta=0) + mse(p, y)", "argument 'beta' of softplus() must be greater than 0, not 0"),
        ("std(p, correction=-1)", "argument 'correction' of std() must be at least 0, not -1"),
        ("mse(p, y) * ramp(step, 0, 1, -5)", "argument 'steps' of ramp() must be at least 0, not -5"),
    ],
)
def test_constants_outside_their_declared_range_are_refused_at_their_position(formula: str, message: str) -> None:
    with pytest.raises(losslang.LossArityError) as caught:
        losslang.compile(formula)
    first = str(caught.value).splitlines()[0]
    assert first.endswith(message)
    column = caught.value.column
    assert column is not None and formula[column - 1 :].startswith(message.split("not ")[-1])


DIMS_TERMS = sorted(
    (name, param.name, sum(p.required and p.accepts in ("tensor", "operand") for p in REGISTRY.lookup(name).params))  # type: ignore[union-attr]
    for name in REGISTRY
    for param in REGISTRY.lookup(name).params  # type: ignore[union-attr]
    if param.accepts == "dims" and not param.variadic  # permute(x, 0, 0): test_repeated_dimensions_one_by_one
)


def others(term: str, param: str) -> str:
    """The term's other required dimension arguments (movedim's destination), given as distinct dimensions."""
    spec = REGISTRY.lookup(term)
    assert spec is not None
    return "".join(f", {p.name}=[0, 1]" for p in spec.params if p.required and p.accepts == "dims" and p.name != param)


def test_repeated_dimensions_one_by_one() -> None:
    with pytest.raises(losslang.LossArityError, match=r"argument 'dims' of permute\(\) names dimension 0 twice"):
        losslang.compile("sum(permute(p, 0, 2, 0))")
    assert losslang.compile("sum(permute(p, 0, 2, 1))")


def test_the_terms_that_take_dimensions_include_the_reductions_and_the_overlap_losses() -> None:
    assert {"dice", "jaccard", "tversky", "mean", "sum", "max", "min", "std", "var", "norm"} <= {
        name for name, _, _ in DIMS_TERMS
    }


@pytest.mark.parametrize(("term", "param", "tensors"), DIMS_TERMS, ids=[name for name, _, _ in DIMS_TERMS])
def test_a_dimension_list_that_names_none_or_one_twice_is_refused_at_its_position(
    term: str, param: str, tensors: int
) -> None:
    # torch reads dim=[] as every dimension (numpy as none): mean(x, dim=[]) was the mean of everything
    # and dice(p, y, dim=[]) the whole batch as one sample, silently.
    inputs = ", ".join(["p", "y", "w"][:tensors])
    for given, message, at in (
        ("[]", f"argument '{param}' of {term}() is an empty list, which names no dimension; leave {param} out", "[]"),
        ("[1, 0, 1]", f"argument '{param}' of {term}() names dimension 1 twice", "1]"),
    ):
        formula = f"{term}({inputs}, {param}={given}{others(term, param)})"
        with pytest.raises(losslang.LossArityError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
            losslang.compile(formula)
        assert caught.value.line == 1 and formula[caught.value.column - 1 :].startswith(at)
    assert losslang.compile(f"{term}({inputs}, {param}=[1, 0]{others(term, param)})")  # distinct dimensions compile


def scaled(
    pred: torch.Tensor, target: torch.Tensor, *, scale: Annotated[float, Range(ge=0, lt=10)] = 1.0
) -> torch.Tensor:
    return scale * (pred - target).abs().mean()


def test_a_range_is_read_from_a_custom_terms_annotation() -> None:
    assert losslang.compile("scaled(p, y, scale=9.5)", terms={"scaled": scaled})
    with pytest.raises(losslang.LossArityError, match="must be at least 0 and less than 10, not 10"):
        losslang.compile("scaled(p, y, scale=10)", terms={"scaled": scaled})


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        (
            "mse(p, y, reduction=None)",
            """argument 'reduction' of mse() must be one of "mean", "sum", "none", not None: losslang has no such """
            "value; leave the keyword out to get its default",
        ),
        ("mean(p, keepdim=True)", "argument 'keepdim' of mean() must be true or false, not True: write true"),
        (
            'mse(p, y, reduction="avg")',
            """argument 'reduction' of mse() must be one of "mean", "sum", "none", not the string "avg\"""",
        ),
    ],
)
def test_words_of_other_languages_and_bad_choices_say_what_to_write(formula: str, message: str) -> None:
    with pytest.raises(losslang.LossArityError) as caught:
        losslang.compile(formula)
    assert str(caught.value).splitlines()[0].endswith(message)


@pytest.mark.parametrize(
    ("word", "suggested"), [("where_", "where"), ("hubr", "huber"), ("wher", "where"), ("zzz", None)]
)
def test_suggestions_are_close_or_absent(word: str, suggested: str | None) -> None:
    with pytest.raises(losslang.LossNameError) as caught:
        losslang.compile(f"{word}(p, y)")
    hint = f" (did you mean '{suggested}'?)" if suggested else ""
    assert str(caught.value).splitlines()[0].endswith(f"unknown function '{word}'{hint}")


@pytest.mark.parametrize("scheme", ["uncertainty", "dwa", "upgrad"])
def test_a_scheme_given_the_same_term_twice_is_an_error_at_the_second(scheme: str) -> None:
    """Two weights for one term is a copy-paste slip: refused where the repeat is, with both positions."""
    source = f"{scheme}(mse(p, y), mae(p, y), mse(p,y))"
    with pytest.raises(losslang.LossArityError, match=r"weights 'mse\(p, y\)' twice \(arguments 1 and 3\)") as caught:
        losslang.compile(source)
    assert (caught.value.line, caught.value.column) == (1, source.index("mse(p,y)") + 1)


@pytest.mark.parametrize(
    ("source", "column", "attribute", "instead"),
    [
        ('sum(mse(p, y, reduction="none")) / y.shape[0]', 36, "shape", "size(x, dim)"),
        ("mse(p, y) * out.pred.shape[0]", 13, "shape", "numel(x)"),
        ("mse(p.data, y)", 5, "data", "detach(x)"),
        ("mse(p, y.dtype)", 8, "dtype", "computes in its inputs' dtypes"),
    ],
)
def test_a_tensor_attribute_is_an_error_that_points_to_the_language(source, column, attribute, instead) -> None:
    with pytest.raises(losslang.LossNameError) as caught:
        losslang.compile(source)
    assert caught.value.column == column
    assert f"reads the tensor attribute {attribute!r}, which a formula cannot" in str(caught.value)
    assert instead in str(caught.value)
