"""Hostile and random input: parse, compile and load succeed or raise LossLangError, quickly.

The default run checks a small sample of each property; `pytest -m fuzz` runs 100,000 generated
cases of the formula property and 20,000 of each of the others (text and bytes, config mappings,
YAML files).
"""

from __future__ import annotations

import contextlib
import gc
import re
import string
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import losslang
from losslang.registry import REGISTRY

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FULL = settings(max_examples=100_000, deadline=None, suppress_health_check=list(HealthCheck))
SOME = settings(max_examples=20_000, deadline=None, suppress_health_check=list(HealthCheck))

FUNCTIONS = [*sorted(REGISTRY), "nope", "__import__", "eval"]
names = st.sampled_from(
    ["p", "y", "y1", "x", "step", "out.logits", "out_logits", "a", "b", "torch", "lambda", "self", "nan", "_x"]
)
numbers = st.one_of(
    st.integers(0, 10**6).map(str),
    st.floats(0, 1e300, allow_nan=False).map(repr),
    st.sampled_from(["1e400", "0", "0.0", "1" * 500, ".5", "2."]),
)
keyword_values = st.one_of(
    numbers, names, st.sampled_from(['"mean"', '"sum"', '"none"', "'x'", "true", "false", "[1, 2]"])
)


def calls(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    args = st.lists(children, max_size=3)
    kwargs = st.lists(
        st.tuples(st.sampled_from(["reduction", "dim", "weight", "mask", "eps", "init", "zzz"]), keyword_values),
        max_size=2,
    )
    return st.builds(
        lambda f, a, k: f"{f}({', '.join([*a, *(f'{n}={v}' for n, v in k)])})", st.sampled_from(FUNCTIONS), args, kwargs
    )


expressions = st.recursive(
    st.one_of(names, numbers),
    lambda children: st.one_of(
        st.builds(lambda a, op, b: f"{a} {op} {b}", children, st.sampled_from(["+", "-", "*", "/", "**"]), children),
        children.map(lambda a: f"-{a}"),
        children.map(lambda a: f"({a})"),
        st.builds(lambda a, i: f"{a}[{i}]", children, st.sampled_from([":, 0", "...", "1:3", "-1", "::2", "a"])),
        calls(children),
    ),
    max_leaves=12,
)
programs = st.builds(
    lambda assigns, total: "\n".join([*(f"{n} = {e}" for n, e in assigns), total]),
    st.lists(st.tuples(st.sampled_from(["a", "b", "c", "step", "p"]), expressions), max_size=3),
    expressions,
)


def outcome(action: object, *args: object) -> None:
    """``action(*args)`` succeeds or raises a LossLangError, within a second of CPU time.

    CPU time of this thread, not wall-clock: a hang is CPU-bound, while the time a shared
    machine gives to other processes is not losslang's. The garbage collector is off while it
    runs: a full collection walks the whole heap of this long process (torch.fx keeps every
    generated source for tracebacks), which is not the cost of the input at hand.
    """
    gc.disable()
    try:
        started = time.thread_time()
        with contextlib.suppress(losslang.LossLangError):
            action(*args)  # type: ignore[operator]
        elapsed = time.thread_time() - started
    finally:
        gc.enable()
    assert elapsed < 1.0


def check_formula(source: str) -> None:
    outcome(losslang.parse, source)
    outcome(losslang.compile, source)


@FAST
@given(programs)
def test_generated_programs_compile_or_raise_loss_errors(source: str) -> None:
    check_formula(source)


@FAST
@given(st.text(alphabet=string.printable + "πé∑\x00", max_size=200))
def test_random_text(source: str) -> None:
    check_formula(source)


@FAST
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    check_formula(data.decode("latin-1"))


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), expressions),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(["inputs", "terms", "metrics", "total", "weighting", "imports", "x", "a", "method"]),
            children,
            max_size=4,
        ),
    ),
    max_leaves=10,
)


@FAST
@given(yaml_values)
def test_random_config_mappings(section: object) -> None:
    outcome(losslang.load, {"loss": section})


# YAML's own structure, which random text rarely spells: anchors, aliases, tags, flow and block
# collections, merge keys, scalars PyYAML fails to read.
YAML_TOKENS = [
    *("loss:", "terms", "total", "weighting", "method", "imports", "a", "mse(p, y)", "uncertainty", "\n", "  "),
    *("&a ", "*a", "&b ", "*b", "[", "]", "{", "}", ", ", ": ", "? ", "- ", "<<: ", "'", '"', "#", "|", ">"),
    *("!!python/object:os.system ", "!!set ", "!!binary ", "!!int ", "!!float ", "!!timestamp ", "!!str "),
    *("---", "...", "%YAML 1.1\n", "\t", "~", ".nan", "1e999", "2001-13-01", "9" * 5000),
]
yaml_texts = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(YAML_TOKENS), max_size=60).map("".join))


def check_yaml(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "loss.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        outcome(losslang.load, path)


@FAST
@given(yaml_texts)
def test_random_yaml_files(text: str) -> None:
    check_yaml(text)


@pytest.mark.fuzz
@FULL
@given(programs)
def test_fuzz_programs_full(source: str) -> None:
    check_formula(source)


@pytest.mark.fuzz
@SOME
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
def test_fuzz_text_full(source: str) -> None:
    check_formula(source)


@pytest.mark.fuzz
@SOME
@given(yaml_values)
def test_fuzz_config_full(section: object) -> None:
    outcome(losslang.load, {"loss": section})


@pytest.mark.fuzz
@SOME
@given(yaml_texts)
def test_fuzz_yaml_files_full(text: str) -> None:
    check_yaml(text)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("(" * 10_000 + "x" + ")" * 10_000, id="10k-parentheses"),
        pytest.param("-" * 10_000 + "x", id="10k-minus"),
        pytest.param(" + ".join(["mse(p, y)"] * 5_000), id="5k-summands"),
        pytest.param("f(" * 1_000 + "x" + ")" * 1_000, id="1k-calls"),
        pytest.param("x" + "[0]" * 1_000, id="1k-indexes"),
    ],
)
def test_deep_nesting_is_a_clean_error(source: str) -> None:
    with pytest.raises(losslang.LossSyntaxError, match="nests more than 200 levels deep"):
        losslang.compile(source)


def _chain(count: int, line: str, last: str) -> str:
    return "\n".join([*(line.format(i=i, before=i - 1, after=i + 1) for i in range(count)), last])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(
            _chain(300, "a{i} = a{before} + 1", "a299").replace("a0 = a-1 + 1", "a0 = mse(p, y)"),
            "term 'a100' nests more than 200 levels deep, counting the terms it uses",
            id="300-chained-terms",
        ),
        pytest.param(
            _chain(300, "a{i} = mse(a{before}, y)", "a299").replace("mse(a-1, y)", "mse(p, y)"),
            "term 'a100' nests more than 200 levels deep",
            id="300-chained-calls",
        ),
        pytest.param(
            _chain(1500, "a{i}=a{after}+1", "a1500=mse(p,y)\na0"),
            "'a1' is used before it is defined",
            id="1500-forward",
        ),
        pytest.param(
            _chain(1500, "a{i}=a{after}+1", "a1500=a0\na0"),
            "terms form a cycle: a0 -> a1 -> a2 -> ",
            id="1500-forward-cycle",
        ),
        pytest.param(
            _chain(20, "a{i}=a{after}*b{after}\nb{i}=a{after}*b{after}", "a20=mse(p,y)\nb20=mae(p,y)\na0"),
            "'a1' is used before it is defined",
            id="forward-references-shared-20-times",
        ),
        pytest.param(
            _chain(20, "s{i} = s{before} * s{before}", "s19 * mse(p, y)").replace("s-1 * s-1", "ramp(step, 0, 1, 9)"),
            None,
            id="a-term-shared-20-times-over",
        ),
        pytest.param("mse(p[0:" + "9" * 401 + "], y)", "... has 401 digits; it cannot be an index", id="long-index"),
    ],
)
def test_hostile_structure_is_refused_or_compiled_quickly(source: str, message: str | None) -> None:
    """Chains of terms (the compiler recurses through them) and terms shared by both sides of the next."""
    outcome(losslang.compile, source)
    if message is None:
        losslang.compile(source)
    else:
        with pytest.raises(losslang.LossLangError, match=re.escape(message)):
            losslang.compile(source)


@pytest.mark.parametrize("source", [123, None, b"mse(p, y)", ["mse(p, y)"]], ids=repr)
def test_a_source_that_is_not_text_is_a_loss_error(source: object) -> None:
    with pytest.raises(losslang.LossArityError, match=f"a formula must be a string, not {type(source).__name__}"):
        losslang.compile(source)  # type: ignore[arg-type]
    with pytest.raises(losslang.LossArityError):
        losslang.parse(source)  # type: ignore[arg-type]


def test_one_megabyte_formula_is_refused_at_once() -> None:
    started = time.perf_counter()
    with pytest.raises(
        losslang.LossSyntaxError, match="the formula is 1,048,576 characters long; the limit is 100,000"
    ):
        losslang.compile("x" * 2**20)
    assert time.perf_counter() - started < 0.1


def test_ten_kilobyte_formula_compiles_in_time() -> None:
    source = " + ".join(f"mse(p{i % 50}, y)" for i in range(190))
    started = time.perf_counter()
    assert len(losslang.compile(source).inputs) == 51
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param("1" * 5000 + " * mse(p, y)", "is too large for a float", id="huge-integer"),
        pytest.param("1e400 * mse(p, y)", "the number 1e400 is too large for a float", id="huge-float"),
        pytest.param("nan * mse(p, y)", "'nan' is not a number in losslang: constants must be finite", id="nan"),
        pytest.param("mse(p, y) + inf", "'inf' is not a number in losslang", id="inf"),
        pytest.param("mse(π, y)", "unexpected character 'π'", id="unicode-name"),
    ],
)
def test_odd_literals_are_handled_deliberately(source: str, message: str) -> None:
    with pytest.raises(losslang.LossLangError, match=message):
        losslang.compile(source)


def test_unicode_in_strings_is_just_text() -> None:
    with pytest.raises(losslang.LossArityError, match='not the string "σ"'):  # noqa: RUF001
        losslang.compile('mse(p, y, reduction="σ")')  # noqa: RUF001
