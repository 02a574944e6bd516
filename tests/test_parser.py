from __future__ import annotations

import pytest

import losslang
from conftest import FIXTURES
from losslang import ast
from losslang.parser import grammar_path, parse

IDENTITY = [
    line.replace(" ; ", "\n")
    for line in (FIXTURES / "identity.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]


def test_identity_file_is_large_enough() -> None:
    assert len(IDENTITY) >= 60


@pytest.mark.parametrize("text", IDENTITY)
def test_canonical_text_round_trips(text: str) -> None:
    program = parse(text)
    assert str(program) == text
    assert parse(str(program)) == program


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        pytest.param("0.5*mse(pred,y1)", "0.5 * mse(pred, y1)", id="spacing"),
        pytest.param("((a))", "a", id="redundant-parens"),
        pytest.param("(a*b)+c", "a * b + c", id="product-in-sum"),
        pytest.param("a+(b*c)", "a + b * c", id="product-on-right"),
        pytest.param("1E3", "1000.0", id="exponent"),
        pytest.param(".5", "0.5", id="leading-point"),
        pytest.param("2.", "2.0", id="trailing-point"),
        pytest.param("x * 1e400", "x * 1e999", id="float-overflow"),
        pytest.param("x * " + "9" * 401, "x * 1e999", id="integer-too-long"),
        pytest.param("f(a,)", "f(a)", id="trailing-comma"),
        pytest.param("f(x, k='s')", 'f(x, k="s")', id="single-quotes"),
        pytest.param("x[ : , 0 ]", "x[:, 0]", id="slice-spacing"),
        pytest.param("x[1::]", "x[1:]", id="empty-step"),
        pytest.param("a = 1;;b = a;b", "a = 1\nb = a\nb", id="semicolons"),
        pytest.param("# note\na = f(x,  # inside\n  y)\n\na  # total\n", "a = f(x, y)\na", id="comments-and-lines"),
        pytest.param("f(\n  a,\n  b\n)", "f(a, b)", id="call-spans-lines"),
        pytest.param("x[\n0]", "x[0]", id="index-spans-lines"),
    ],
)
def test_canonical_form(written: str, canonical: str) -> None:
    assert str(parse(written)) == canonical


def test_tree_is_immutable_and_hashable() -> None:
    program = parse("0.5*mse(pred, y)")
    with pytest.raises(AttributeError):
        program.total = ast.Number(1)  # type: ignore[misc]
    assert hash(program) == hash(parse("0.5 * mse(pred , y)"))


def test_equality_ignores_positions() -> None:
    assert parse("mse(a, b)").total == parse("  mse(a,b)").total
    assert parse("mse(a, b)").total.span != parse("  mse(a,b)").total.span


def test_spans_are_one_based() -> None:
    call = parse("a = 1\n  mse(p, y)").total
    assert isinstance(call, ast.Call)
    assert (call.span.line, call.span.column, call.span.end_column) == (2, 3, 12)


def test_numbers_keep_int_or_float() -> None:
    assert parse("2").total == ast.Number(2)
    assert isinstance(parse("2").total.value, int)
    assert isinstance(parse("2.0").total.value, float)


def test_negative_index_and_unary_minus_differ() -> None:
    index = parse("x[-1]").total
    assert isinstance(index, ast.Index) and index.subscripts == (-1,)
    assert parse("-x").total == ast.Neg(ast.Name(("x",)))


def test_parse_is_cached() -> None:
    text = "cached_formula_probe(a, b)"
    assert parse(text) is parse(text)


def test_public_parse_is_the_same_function_of_text() -> None:
    assert losslang.parse("a + b") == parse("a + b")


def test_grammar_file_is_found() -> None:
    assert grammar_path().read_text().startswith("// losslang")
