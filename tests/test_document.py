from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

import losslang
from losslang.document import Document, read


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
