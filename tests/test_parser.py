from __future__ import annotations

import pytest
import torch

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


LINE_LIKE = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\r"]


@pytest.mark.parametrize("char", LINE_LIKE, ids=[f"U+{ord(c):04X}" for c in LINE_LIKE])
def test_a_line_ends_at_newline_only_in_comments_and_in_config_assembly(char: str) -> None:
    """A character other text tools break lines at stays inside its comment everywhere."""
    source = f"mse(p, y)  # note{char} + 100*mae(p, y)"
    p, y = torch.tensor([1.0, 3.0]), torch.zeros(2)
    compiled = losslang.compile(source)(p=p, y=y).total
    loaded = losslang.load({"loss": source})(p=p, y=y).total
    in_terms = losslang.load({"loss": {"terms": {"a": source}}})(p=p, y=y).total
    assert compiled.item() == loaded.item() == in_terms.item() == 5.0


@pytest.mark.parametrize("char", LINE_LIKE, ids=[f"U+{ord(c):04X}" for c in LINE_LIKE])
def test_error_positions_and_quoted_line_count_newlines_only(char: str) -> None:
    with pytest.raises(losslang.LossLangError) as caught:
        losslang.compile(f"# a{char}comment\n1e400*mse(p, y)")
    error = caught.value
    assert (error.line, error.column) == (2, 1)
    assert str(error).splitlines() == [
        "line 2, column 1: the number 1e400 is too large for a float",
        "  1e400*mse(p, y)",
        "  ^",
    ]


@pytest.mark.parametrize("char", ["\u2028", "\x0b", "\r"], ids=["U+2028", "VT", "CR"])
def test_a_line_break_character_outside_a_comment_is_a_syntax_error(char: str) -> None:
    with pytest.raises(losslang.LossSyntaxError, match="unexpected character"):
        losslang.parse(f"mse(p, y){char}+ mae(p, y)")


@pytest.mark.parametrize(
    "source",
    ["mse(p, y) * \u0665", "mse(p[\u0663], y)", "mse(p, y) * 1\u0660", "mse(p, y) * \uff15"],
    ids=["arabic-five", "arabic-index", "mixed", "fullwidth"],
)
def test_numbers_are_ascii_digits_only(source: str) -> None:
    with pytest.raises(losslang.LossSyntaxError, match="unexpected character"):
        losslang.parse(source)


@pytest.mark.parametrize("digits", [309, 310, 399], ids=str)
def test_huge_integer_literals_print_and_round_trip(digits: int) -> None:
    program = losslang.parse("-1" + "0" * digits)
    assert str(program) == "-1" + "0" * digits
    assert losslang.parse(str(program)) == program
