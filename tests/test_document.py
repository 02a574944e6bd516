from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
import yaml

import losslang
from losslang.document import MAX_BYTES, Document, read


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "loss.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_yaml_is_safe_loaded(tmp_path: Path) -> None:
    path = write(tmp_path, "loss: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(losslang.LossConfigError) as caught:
        read(path)
    assert str(caught.value).startswith(f"{path}:1:7: invalid YAML: could not determine a constructor")


def test_aliases_are_built_once_like_safe_load(tmp_path: Path) -> None:
    """A "billion laughs" file: each list holds nine of the one before, 9**8 strings if built out."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    data = read(write(tmp_path, "\n".join([*lines, "formula: &f mse(p, y)", "loss: *f", ""]))).data
    assert data["l8"][0] is data["l8"][8] and data["l8"][0][0] is data["l7"][0]
    assert data["loss"] == "mse(p, y)"
    recursive = read(write(tmp_path, "a: &a [*a]\nloss: mse(p, y)\n")).data
    assert recursive["a"][0] is recursive["a"]


SAFE_LOAD_CASES = [
    pytest.param("loss: mse(p, y)\nn: 3\nf: 1e-3\nb: yes\nz: ~\nd: 2024-01-01\n1: one\n", id="scalars"),
    pytest.param("base: &b {total: 'mse(p, y)', terms: {a: 'mae(p, y)'}}\nloss:\n  <<: *b\n  total: a\n", id="merge"),
    pytest.param(
        "a: &a {x: 'mse(p, y)', y1: 'mae(p, y)'}\nb: &b {x: 'mse(p, q)', z: 'mse(q, y)'}\n"
        "loss:\n  terms:\n    <<: [*a, *b]\n    w: x + z\n",
        id="merge-list",
    ),
    pytest.param("f: &f mse(p, y)\nloss: {terms: {a: *f, b: *f}}\n", id="scalar-alias"),
]


@pytest.mark.parametrize("text", SAFE_LOAD_CASES)
def test_reads_what_safe_load_reads(tmp_path: Path, text: str) -> None:
    data = read(write(tmp_path, text)).data
    assert data == yaml.safe_load(text)
    assert list(data["loss"]) == list(yaml.safe_load(text)["loss"])  # the order of terms is the program's


def test_every_value_knows_where_it_was_written(tmp_path: Path) -> None:
    path = write(tmp_path, "common: &c\n  a: mse(p, y)\nloss:\n  terms: *c\n  total: a\n")
    document = read(path)
    assert document.where(("loss", "total")) == f"{path}:5:3: loss.total: "
    assert document.where(("loss", "terms", "a")) == f"{path}:2:3: loss.terms.a: "  # at the anchor
    assert Document({"loss": "mse(p, y)"}).where(("loss",)) == "loss: "


def test_omegaconf_config_is_resolved_and_its_errors_are_config_errors() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    config = omegaconf.OmegaConf.create({"w": 0.5, "loss": {"terms": {"a": "mse(p, y)"}, "total": "${w}*a"}})
    assert read(config).data["loss"]["total"] == "0.5*a"
    with pytest.raises(losslang.LossConfigError) as caught:
        read(omegaconf.OmegaConf.create({"loss": "${weight}*mse(p, y)"}))
    assert str(caught.value) == "loss: cannot resolve the OmegaConf config: Interpolation key 'weight' not found"


@pytest.mark.parametrize("text", ["!!set x: 1\n", "loss:\n  ? !!set [a]\n  : 1\n"], ids=["scalar", "flow"])
def test_an_unhashable_key_is_a_config_error_at_its_position(tmp_path: Path, text: str) -> None:
    """safe_load refuses these too ("found unhashable key"); the tag makes a set of a scalar key."""
    path = write(tmp_path, text)
    with pytest.raises(losslang.LossConfigError, match=rf"^{path}:\d+:\d+: invalid YAML: "):
        read(path)


def laughs(depth: int) -> list[str]:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    return lines + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth + 1)]


@pytest.mark.parametrize("key", ["imports", "terms", "total", "inputs", "metrics", "weighting"])
def test_a_billion_laughs_in_any_loss_key_is_a_short_error_quickly(tmp_path: Path, key: str) -> None:
    path = write(
        tmp_path,
        "\n".join([*laughs(24), "loss:", "  total: mse(p, y)" if key != "total" else "", f"  {key}: *a24", ""]),
    )
    started = time.perf_counter()
    with pytest.raises(losslang.LossConfigError) as caught:
        losslang.load(path, allow_imports=True)
    assert time.perf_counter() - started < 2.0
    assert len(str(caught.value)) < 3_000


HUGE = "0x" + "f" * 4000  # a 4,000-digit hex scalar: PyYAML reads it, repr() of it would raise


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            f"loss:\n  total: mse(p, y)\n  imports: [{HUGE}]\n", "not <an integer of 16,000 bits>", id="imports"
        ),
        pytest.param(
            f"loss:\n  terms:\n    a: {HUGE}\n", "the number <an integer of 16,000 bits> is too large", id="term"
        ),
        pytest.param(
            f"loss:\n  terms: {{a: 'mse(p, y)', b: 'mae(p, y)'}}\n  weighting: {{method: dwa, temperature: {HUGE}}}\n",
            "the number <an integer of 16,000 bits> is too large",
            id="weighting-option",
        ),
        pytest.param(
            f"loss:\n  total: mse(p, y)\n  ? {HUGE}\n  : 1\n", "unknown key <an integer of 16,000 bits>", id="key"
        ),
        pytest.param(f"loss:\n  total: mse(p, y)\n  inputs: {{p: {HUGE}}}\n", "must be a batch key", id="input"),
    ],
)
def test_huge_integers_are_named_by_their_size(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(losslang.LossConfigError) as caught:
        losslang.load(write(tmp_path, text), allow_imports=True)
    assert message in str(caught.value) and len(str(caught.value)) < 600


def test_huge_integers_in_a_mapping_are_named_by_their_size() -> None:
    with pytest.raises(losslang.LossConfigError, match="<an integer of"):
        losslang.load({"loss": {"total": "mse(p, y)", "imports": [10**5000]}}, allow_imports=True)
    with pytest.raises(losslang.LossConfigError, match=r"the number <an integer of .* is too large"):
        losslang.load({"loss": {"terms": {"a": 10**5000}}})


@pytest.mark.parametrize("kind", ["device", "fifo", "directory", "too-large"])
def test_only_regular_files_of_bounded_size_are_read(tmp_path: Path, kind: str) -> None:
    if kind == "device":
        path = Path("/dev/zero")
    elif kind == "fifo":
        path = tmp_path / "pipe.yaml"
        os.mkfifo(path)
    elif kind == "directory":
        path = tmp_path
    else:
        path = tmp_path / "big.yaml"
        with open(path, "wb") as handle:
            handle.truncate(MAX_BYTES + 1)
    started = time.perf_counter()
    with pytest.raises(losslang.LossConfigError, match=f"cannot read {path}: "):
        losslang.load(path)
    assert time.perf_counter() - started < 1.0


def test_thousands_of_merge_keys_load_in_linear_time(tmp_path: Path) -> None:
    base = "base: &a {" + ", ".join(f"k{i}: {i}" for i in range(50)) + "}\n"
    merges = "big:\n" + "".join("  <<: *a\n" for _ in range(8000)) + "loss: mse(p, y)\n"
    started = time.perf_counter()
    document = read(write(tmp_path, base + merges))
    assert time.perf_counter() - started < 5.0
    assert document.data["big"]["k49"] == 49
    assert document.where(("big", "k3")).startswith(f"{tmp_path / 'loss.yaml'}:1:")  # placed in the base
