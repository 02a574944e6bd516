from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import losslang

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "loss.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def data(*names: str) -> dict[str, torch.Tensor]:
    return {name: torch.randn(4, 3) for name in names}


def test_full_schema(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        loss:
          inputs: {pred: output}
          terms:
            recon: mse(pred, y1)
            angle: |
              sin_angle(pred,
                        y)
          metrics:
            l1: mae(pred, y1)
          total: 0.5*recon + angle
        """,
    )
    loss = losslang.load(path)
    assert loss.inputs == ("output", "y1", "y")
    assert loss.term_names == ("recon", "angle", "l1")
    assert loss.metric_names == ("l1",)
    batch = data("output", "y", "y1")
    out = loss(batch)
    expected = 0.5 * torch.nn.functional.mse_loss(batch["output"], batch["y1"]) + out["angle"]
    torch.testing.assert_close(out.total, expected)


def test_plain_string_is_a_program(tmp_path: Path) -> None:
    loss = losslang.load(write(tmp_path, "loss: |\n  r = mse(p, y)\n  2*r\n"))
    assert str(loss) == "r = mse(p, y)\n2 * r"


def test_key_selects_a_section_of_a_bigger_config(tmp_path: Path) -> None:
    path = write(tmp_path, "model: {width: 8}\ntrain:\n  loss: mse(p, y)\n")
    assert str(losslang.load(path, key="train.loss")) == "mse(p, y)"


def test_mapping_and_section_mapping() -> None:
    assert str(losslang.load({"loss": "mse(p, y)"})) == "mse(p, y)"
    assert str(losslang.load({"terms": {"a": "mse(p, y)"}, "total": "a"})) == "a = mse(p, y)\na"


def test_total_defaults_to_the_sum_of_terms() -> None:
    loss = losslang.load({"terms": {"a": "mse(p, y)", "b": "mae(p, y)"}, "metrics": {"c": "mse(y, p)"}})
    assert str(loss).splitlines()[-1] == "a + b"


def test_omegaconf_dictconfig() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    config = omegaconf.OmegaConf.create({"train": {"loss": {"terms": {"r": "mse(p, y)"}, "total": "r"}}})
    assert losslang.load(config, key="train.loss").term_names == ("r",)


def test_imports_are_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_terms.py").write_text(
        "import torch, losslang\n"
        "@losslang.register('cube_error', override=True)\n"
        "def cube_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:\n"
        "    '''Mean cubed absolute error.'''\n"
        "    return (pred - target).abs().pow(3).mean()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write(tmp_path, "loss:\n  imports: [my_terms]\n  total: cube_error(p, y)\n")
    with pytest.raises(losslang.LossConfigError) as caught:
        losslang.load(path)
    assert str(caught.value) == (
        f"{path}:2:3: loss.imports: this config imports modules; "
        "pass allow_imports=True (CLI: --allow-imports) to allow it"
    )
    assert "my_terms" not in sys.modules
    loss = losslang.load(path, allow_imports=True)
    assert loss(p=torch.full((2,), 2.0), y=torch.zeros(2)).total.item() == 8.0


def test_failed_import_names_the_list_item(tmp_path: Path) -> None:
    path = write(tmp_path, "loss:\n  imports:\n    - no_such_module_for_losslang\n  total: mse(p, y)\n")
    with pytest.raises(losslang.LossConfigError) as caught:
        losslang.load(path, allow_imports=True)
    assert str(caught.value) == (
        f"{path}:3:7: loss.imports.0: cannot import 'no_such_module_for_losslang': "
        "ModuleNotFoundError: No module named 'no_such_module_for_losslang'"
    )


def test_merged_entries_keep_their_position_in_the_base(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        common: &common
          recon: mse(p, y)
          angle: sin_angle(p, y, dim=1.5)
        loss:
          terms:
            <<: *common
            both: recon + angle
        """,
    )
    with pytest.raises(losslang.LossArityError) as caught:
        losslang.load(path)
    assert str(caught.value).split("\n")[0] == (
        f"{path}:3:3: loss.terms.angle: line 1, column 21: argument 'dim' of sin_angle() must be an integer, "
        "not the number 1.5"
    )


def test_entries_reached_through_an_alias_keep_their_position_at_the_anchor(tmp_path: Path) -> None:
    path = write(tmp_path, "common: &c\n  a: mse(p, y)\n  b: sin_angle(p, y, dim=1.5)\nloss:\n  terms: *c\n")
    with pytest.raises(losslang.LossArityError) as caught:
        losslang.load(path)
    assert str(caught.value).split("\n")[0] == (
        f"{path}:3:3: loss.terms.b: line 1, column 21: argument 'dim' of sin_angle() must be an integer, "
        "not the number 1.5"
    )


SCHEMA_ERRORS = [
    pytest.param(
        "loss:\n  terms:\n    recon: mse(pred, y)\n  metric:\n    l1: mae(pred, y)\n",
        "loss.yaml:4:3: loss.metric: unknown key 'metric' (did you mean 'metrics'?); "
        "allowed: inputs, terms, metrics, total, weighting, imports, nan_policy, check_finite, compile",
        id="unknown-key",
    ),
    pytest.param(
        "loss:\n  terms: [mse(p, y)]\n",
        "loss.yaml:2:3: loss.terms: must be a mapping of name: formula, not a list",
        id="terms-not-a-mapping",
    ),
    pytest.param(
        "loss:\n  terms:\n    recon: {a: 1}\n",
        "loss.yaml:3:5: loss.terms.recon: must be a formula, not a mapping",
        id="formula-not-a-string",
    ),
    pytest.param(
        "loss:\n  terms:\n    2x: mse(p, y)\n",
        "loss.yaml:3:5: loss.terms.2x: '2x' is not a valid term name",
        id="bad-term-name",
    ),
    pytest.param(
        "loss:\n  terms: {recon: mse(pred, y1)}\n",
        "loss.yaml:2:28: loss.terms.y1): 'y1)' is not a valid term name; "
        "in a {...} mapping, quote formulas that contain commas",
        id="unquoted-comma-in-flow-mapping",
    ),
    pytest.param(
        "loss:\n  total: 3\n",
        "loss.yaml:2:3: loss.total: must be a formula, not an integer",
        id="total-not-a-formula",
    ),
    pytest.param(
        "loss:\n  total: ''\n",
        "loss.yaml:2:3: loss.total: must be a formula, not an empty string",
        id="total-empty",
    ),
    pytest.param(
        "loss:\n  metrics:\n    l1: mae(p, y)\n",
        "loss.yaml:1:1: loss: has no total: give total, or terms to add up, or a weighting block",
        id="no-total",
    ),
    pytest.param(
        "loss:\n  metrics: mae(p, y)\n  total: mse(p, y)\n",
        "loss.yaml:2:3: loss.metrics: must be a mapping of name: formula, not a string",
        id="metrics-not-a-mapping",
    ),
    pytest.param(
        "loss:\n  terms:\n    a: mse(p, y)\n  metrics:\n    a: mae(p, y)\n",
        "loss.yaml:5:5: loss.metrics.a: 'a' is already defined under terms",
        id="term-and-metric-share-a-name",
    ),
    pytest.param(
        "loss:\n  terms:\n    a: 2*m\n  metrics:\n    m: mae(p, y)\n",
        "loss.yaml:3:5: loss.terms.a: term 'a' uses the metric 'm'; metrics never carry gradient, move it under terms",
        id="term-uses-a-metric",
    ),
    pytest.param(
        "loss:\n  inputs: {pred: output}\n  terms:\n    pred: mse(output, y)\n",
        "loss.yaml:4:5: loss.terms.pred: 'pred' is both a term and an input (loss.inputs)",
        id="term-collides-with-input",
    ),
    pytest.param(
        "loss:\n  inputs: {pred: output, targte: y}\n  total: mse(pred, target)\n",
        "loss.yaml:2:26: loss.inputs.targte: no formula reads an input named 'targte' (did you mean 'target'?)",
        id="unused-input",
    ),
    pytest.param(
        "loss:\n  inputs: {pred: [output]}\n  total: mse(pred, y)\n",
        "loss.yaml:2:12: loss.inputs.pred: must be a batch key such as 'output' or 'out.logits', not a list",
        id="input-not-a-key",
    ),
    pytest.param(
        "loss:\n  inputs: [pred]\n  total: mse(pred, y)\n",
        "loss.yaml:2:3: loss.inputs: must be a mapping of formula name: batch key, not a list",
        id="inputs-not-a-mapping",
    ),
    pytest.param(
        "loss:\n  inputs: {1: output}\n  total: mse(pred, y)\n",
        "loss.yaml:2:12: loss.inputs.1: 1 is not a valid input name, such as 'pred' or 'out.logits'",
        id="input-name-not-a-name",
    ),
    pytest.param(
        "loss:\n  metrics:\n    l1: mae(p, y)\n  total: 2*l1\n",
        "loss.yaml:3:5: loss.metrics.l1: metric 'l1' is used by the total; metrics never carry gradient, "
        "move it under terms",
        id="metric-in-total",
    ),
    pytest.param(
        "loss:\n  imports: os\n  total: mse(p, y)\n",
        "loss.yaml:2:3: loss.imports: must be a list of module names, not a string",
        id="imports-not-a-list",
    ),
    pytest.param(
        "loss:\n  imports: [my.terms, 1]\n  total: mse(p, y)\n",
        "loss.yaml:2:23: loss.imports.1: must be a module name such as 'my_project.losses', not 1",
        id="import-not-a-module-name",
    ),
    pytest.param(
        "loss:\n  terms:\n    a: mse(p, y)\n  total: a\n  weighting: {method: uncertainty}\n",
        "loss.yaml:5:3: loss.weighting: give either total or weighting, not both",
        id="weighting-and-total",
    ),
    pytest.param(
        "loss:\n  terms:\n    a: mse(p, y)\n  weighting: {method: uncertainty, terms: a}\n",
        "loss.yaml:4:36: loss.weighting.terms: must be a non-empty list of term names, not a string",
        id="weighting-terms-not-a-list",
    ),
    pytest.param(
        "loss:\n  terms:\n    recon: mse(p, y)\n  weighting:\n    method: uncertainty\n    terms: [recon, recn]\n",
        "loss.yaml:6:20: loss.weighting.terms.1: 'recn' is not one of the terms (did you mean 'recon'?)",
        id="weighting-unknown-term",
    ),
    pytest.param(
        "loss:\n  terms:\n    a: mse(p, y)\n  weighting: {method: uncertainty, init: [1]}\n",
        "loss.yaml:4:36: loss.weighting.init: must be a number, string or boolean, not a list",
        id="weighting-option-type",
    ),
    pytest.param(
        "loss: [1, 2]\n",
        "loss.yaml:1:1: loss: must be a formula or a mapping of inputs, terms, "
        "metrics, total, weighting, imports, nan_policy, check_finite, compile, not a list",
        id="section-type",
    ),
    pytest.param(
        "model: {}\n",
        "loss.yaml:1:1: the config: found no 'loss' section; pass key= to name the section that holds the loss",
        id="no-section",
    ),
    pytest.param(
        "model: {}\nlos: mse(p, y)\n",
        "loss.yaml:2:1: los: found no 'loss' section; is 'los' a misspelling of it?",
        id="misspelt-section",
    ),
    pytest.param(
        "terms:\n  a: mse(p, y)\ntotl: a\n",
        "loss.yaml:3:1: totl: unknown key 'totl' (did you mean 'total'?); "
        "allowed: inputs, terms, metrics, total, weighting, imports, nan_policy, check_finite, compile",
        id="unknown-key-in-a-bare-section",
    ),
    pytest.param(
        "loss:\n  total: a\n  total: b\n", "loss.yaml:3:3: invalid YAML: duplicate key 'total'", id="duplicate-key"
    ),
    pytest.param(
        "loss: [unclosed\n",
        "loss.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>'",
        id="yaml-syntax",
    ),
    pytest.param(
        "loss:\n  total: \x07mse(p, y)\n",
        "loss.yaml:2:10: invalid YAML: unacceptable character #x0007: special characters are not allowed",
        id="yaml-bad-character",
    ),
    pytest.param(
        "loss:\n  total: mse(p, y)\n  ? [a, b]\n  : 1\n",
        "loss.yaml:3:5: invalid YAML: a key must be a plain value",
        id="yaml-list-as-key",
    ),
    pytest.param(
        "loss:\n  <<: 3\n  total: mse(p, y)\n",
        "loss.yaml:2:7: invalid YAML: << merges a mapping or a list of mappings into a mapping",
        id="yaml-merge-of-a-scalar",
    ),
    pytest.param(
        "loss: &a [*a]\n",
        "loss.yaml:1:1: loss: must be a formula or a mapping of inputs, terms, metrics, total, weighting, imports, "
        "nan_policy, check_finite, compile, not a list",
        id="recursive-alias",
    ),
    pytest.param(
        "loss: &loss\n  terms: *loss\n",
        "loss.yaml:2:3: loss.terms.terms: must be a formula, not a mapping",
        id="recursive-mapping",
    ),
    pytest.param(
        "loss: " + "[" * 5000 + "]" * 5000 + "\n",
        "loss.yaml:1:106: invalid YAML: lists and mappings nest more than 100 levels deep",
        id="5000-deep",
    ),
    pytest.param(
        "loss:\n  total: mse(p, y)\n  x: !!int\n",
        "loss.yaml:3:6: invalid YAML: cannot read '' as int: IndexError: string index out of range",
        id="empty-int",
    ),
    pytest.param(
        "loss:\n  total: mse(p, y)\n  x: 2001-13-01\n",
        "loss.yaml:3:6: invalid YAML: cannot read '2001-13-01' as timestamp: ValueError: month must be in 1..12",
        id="13th-month",
    ),
    pytest.param(
        "loss:\n  total: " + "9" * 5000 + "\n",
        "loss.yaml:2:10: invalid YAML: cannot read '99999999999999999999...' as int: ValueError: Exceeds the limit "
        "(4300 digits) for integer string conversion: value has 5000 digits; use sys.set_int_max_str_digits() "
        "to increase the limit",
        id="5000-digits",
    ),
]


@pytest.mark.parametrize(("text", "message"), SCHEMA_ERRORS)
def test_schema_errors_name_file_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(losslang.LossConfigError) as caught:
        losslang.load(path)
    assert str(caught.value) == f"{tmp_path}/{message}"


FORMULA_ERRORS = [
    pytest.param(
        "loss:\n  terms:\n    recon: mse(pred, y)\n    angle: |\n      sin_angle(pred,\n                yy, dim=1.5)\n",
        losslang.LossArityError,
        "loss.yaml:4:5: loss.terms.angle: line 2, column 19: argument 'dim' of sin_angle() must be an integer, "
        "not the number 1.5\n            yy, dim=1.5)\n                    ^",
        id="block-formula",
    ),
    pytest.param(
        "loss:\n  terms:\n    recon: mes(pred, y)\n",
        losslang.LossNameError,
        "loss.yaml:3:5: loss.terms.recon: line 1, column 1: unknown function 'mes' (did you mean 'mse'?)\n"
        "  mes(pred, y)\n  ^",
        id="unknown-function",
    ),
    pytest.param(
        "loss:\n  terms:\n    a: b + mse(p, y)\n    b: mae(p, y)\n",
        losslang.LossNameError,
        "loss.yaml:3:5: loss.terms.a: line 1, column 1: 'b' is used before it is defined\n  b + mse(p, y)\n  ^",
        id="used-before-defined",
    ),
    pytest.param(
        "loss:\n  terms:\n    a: b + mse(p, y)\n    b: a * 2\n",
        losslang.LossNameError,
        "loss.yaml:3:5: loss.terms.a: line 1, column 1: terms form a cycle: a -> b -> a\n  b + mse(p, y)\n  ^",
        id="cycle",
    ),
    pytest.param(
        "loss:\n  terms:\n    a: mse(p, y))\n",
        losslang.LossSyntaxError,
        "loss.yaml:3:5: loss.terms.a: line 1, column 10: unexpected ')'; expected ';', a new line or the end "
        "of the formula\n  mse(p, y))\n           ^",
        id="syntax-in-term",
    ),
    pytest.param(
        "loss:\n  terms:\n    a: x = mse(p, y); x\n",
        losslang.LossConfigError,
        "loss.yaml:3:5: loss.terms.a: must be one expression; give each named term its own entry",
        id="program-as-term",
    ),
    pytest.param(
        "loss:\n  terms:\n    step: mse(p, y)\n",
        losslang.LossConfigError,
        "loss.yaml:3:5: loss.terms.step: 'step' is the step counter and cannot be redefined",
        id="reserved-name",
    ),
    pytest.param(
        "loss: |\n  r = mse(p, y)\n  0.5 * r +\n",
        losslang.LossSyntaxError,
        "loss.yaml:1:1: loss: line 2, column 10: unexpected end of line; expected '(', '-', '[', 'false', "
        "'true', a name, a number or a string\n  0.5 * r +\n           ^",
        id="program-string",
    ),
]


@pytest.mark.parametrize(("text", "kind", "message"), FORMULA_ERRORS)
def test_formula_errors_name_the_node_and_the_column_inside(
    tmp_path: Path, text: str, kind: type, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(kind) as caught:
        losslang.load(path)
    assert str(caught.value) == f"{tmp_path}/{message}"


def test_mapping_errors_name_the_key_path() -> None:
    with pytest.raises(losslang.LossNameError) as caught:
        losslang.load({"loss": {"terms": {"recon": "mes(p, y)"}}})
    assert str(caught.value).startswith("loss.terms.recon: line 1, column 1: unknown function 'mes'")


def test_missing_file_and_wrong_argument() -> None:
    with pytest.raises(losslang.LossConfigError, match=r"cannot read nowhere\.yaml"):
        losslang.load("nowhere.yaml")
    with pytest.raises(losslang.LossConfigError, match="takes a YAML path or a mapping, not int"):
        losslang.load(3)  # type: ignore[arg-type]
    with pytest.raises(losslang.LossConfigError, match=r"cannot read a\x00b\.yaml: embedded null byte"):
        losslang.load("a\x00b.yaml")
    with pytest.raises(losslang.LossConfigError, match=r"key= must be a dotted name such as 'model\.loss', not int"):
        losslang.load({"loss": "mse(p, y)"}, key=3)  # type: ignore[arg-type]


def test_missing_key_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  loss: mse(p, y)\n")
    with pytest.raises(losslang.LossConfigError) as caught:
        losslang.load(path, key="train.los")
    assert str(caught.value) == f"{path}:1:1: train: no key 'los' (did you mean 'loss'?); found: loss"


def test_weighting_block_becomes_the_total() -> None:
    loss = losslang.load(
        {
            "loss": {
                "terms": {"recon": "mse(p, y)", "angle": "sin_angle(p, y)"},
                "weighting": {"method": "uncertainty", "init": 0.5},
            }
        }
    )
    assert str(loss).splitlines()[-1] == "uncertainty(recon, angle, init=0.5)"
    out = loss(p=torch.randn(3, 2), y=torch.randn(3, 2))
    assert {"weight/recon", "weight/angle"} <= set(out)


@pytest.mark.parametrize(
    ("block", "total"),
    [
        pytest.param(
            {"method": "softadapt", "loss_weighted": True, "beta": 2},
            "softadapt(recon, angle, loss_weighted=true, beta=2)",
            id="boolean-option",
        ),
        pytest.param(
            {"method": "gradnorm", "optimizer": "sgd"}, 'gradnorm(recon, angle, optimizer="sgd")', id="string-option"
        ),
        pytest.param({"method": "dwa", "terms": ["angle"]}, "dwa(angle) + recon", id="unweighted-terms-stay-in-total"),
    ],
)
def test_weighting_block_options_and_terms(block: dict, total: str) -> None:
    loss = losslang.load({"loss": {"terms": {"recon": "mse(p, y)", "angle": "sin_angle(p, y)"}, "weighting": block}})
    assert str(loss).splitlines()[-1] == total
    assert loss.metric_names == ()  # every term keeps its gradient


WEIGHTING_ERRORS = [
    pytest.param(
        {"method": "uncertanty"},
        losslang.LossNameError,
        "loss.weighting: line 1, column 1: unknown function 'uncertanty' (did you mean 'uncertainty'?)",
        id="unknown-method",
    ),
    pytest.param(
        {"method": "uncertainty", "terms": ["recn"]},
        losslang.LossConfigError,
        "loss.weighting.terms.0: 'recn' is not one of the terms (did you mean 'recon'?)",
        id="unknown-term",
    ),
    pytest.param(
        {"method": "uncertainty", "init": [1]},
        losslang.LossConfigError,
        "loss.weighting.init: must be a number, string or boolean, not a list",
        id="option-type",
    ),
    pytest.param(
        "uncertainty",
        losslang.LossConfigError,
        "loss.weighting: must be a mapping with a method, e.g. {method: uncertainty, terms: [a, b]}",
        id="not-a-mapping",
    ),
    pytest.param(
        {"method": "uncertainty", "init=1.0) + mse(p, y": 1},
        losslang.LossConfigError,
        "loss.weighting.init=1.0) + mse(p, y: 'init=1.0) + mse(p, y' is not a valid option name",
        id="option-name-spills-into-the-formula",
    ),
    pytest.param(
        {"method": "uncertainty", "init": 'x", init=2.0, z="'},
        losslang.LossConfigError,
        "loss.weighting.init: a string option may not hold a double quote, backslash or line break",
        id="quote-in-string-option",
    ),
    pytest.param(
        {"method": "uncertainty(recon) + mse"},
        losslang.LossConfigError,
        "loss.weighting.method: must be the name of a weighting scheme, not 'uncertainty(recon) + mse'",
        id="method-not-a-name",
    ),
    pytest.param(
        {"method": "uncertainty", "init": True},
        losslang.LossArityError,
        "loss.weighting: line 1, column 25: argument 'init' of uncertainty() must be a number, not the boolean true",
        id="boolean-option-reaches-the-scheme",
    ),
]


@pytest.mark.parametrize(("block", "kind", "message"), WEIGHTING_ERRORS)
def test_weighting_block_errors(block: object, kind: type, message: str) -> None:
    with pytest.raises(kind) as caught:
        losslang.load({"loss": {"terms": {"recon": "mse(p, y)"}, "weighting": block}})
    assert str(caught.value).split("\n")[0] == message


def test_weighting_and_total_exclude_each_other() -> None:
    with pytest.raises(losslang.LossConfigError, match="give either total or weighting, not both"):
        losslang.load({"terms": {"a": "mse(p, y)"}, "total": "a", "weighting": {"method": "uncertainty"}})


def test_design_example_metric_shared_with_the_total() -> None:
    # DESIGN.md's example: the metric l1 is also a sub-expression of the total; it is computed once.
    loss = losslang.load(
        {
            "loss": {
                "inputs": {"pred": "output", "y1": "label1", "y2": "label2"},
                "terms": {"recon": "mse(pred, y1)", "angle": "sin_angle(pred, y)"},
                "metrics": {"l1": "mae(pred, y1)"},
                "total": "0.5*recon + angle + mean(mae(pred, y1), mae(pred, y2))",
            }
        }
    )
    assert loss.term_names == ("recon", "angle", "l1", "mae(pred, y2)", "mean(mae(pred, y1), mae(pred, y2))")
    assert loss.code.count("mae(") == 2


def test_a_misspelt_term_is_an_error_at_its_position_with_the_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "loss.yaml"
    path.write_text("loss:\n  terms:\n    recon: mse(p, y)\n    angle: sin_angle(p, y)\n  total: 0.5*recn + angle\n")
    with pytest.raises(losslang.LossNameError) as caught:
        losslang.load(path)
    assert str(caught.value).splitlines() == [
        f"{path}:5:3: loss.total: line 1, column 5: 'recn' is neither a term, a metric nor a declared input "
        "(did you mean the term 'recon'?); if it is an input, declare it under loss.inputs",
        "  0.5*recn + angle",
        "      ^",
    ]
    declared = losslang.load(
        {"loss": {"terms": {"recon": "mse(p, y)"}, "total": "recon + recn", "inputs": {"recn": "recn"}}}
    )
    assert declared.inputs == ("p", "y", "recn")


def test_loss_options_are_keys_of_the_section_and_keywords_of_load() -> None:
    section = {"total": "mse(p, y)", "nan_policy": "skip", "check_finite": True}
    loss = losslang.load({"loss": section})
    assert (loss.nan_policy, loss.check_finite) == ("skip", True)
    overridden = losslang.load({"loss": section}, nan_policy="propagate", check_finite=False)
    assert (overridden.nan_policy, overridden.check_finite) == ("propagate", False)
    assert losslang.load({"loss": "mse(p, y)"}, nan_policy="skip").nan_policy == "skip"
    with pytest.raises(
        losslang.LossConfigError,
        match=r"loss\.nan_policy: must be 'propagate' or 'skip', not 'skp' \(did you mean 'skip'\?\)",
    ):
        losslang.load({"loss": {"total": "mse(p, y)", "nan_policy": "skp"}})
    with pytest.raises(losslang.LossConfigError, match=r"loss\.check_finite: must be true or false, not a string"):
        losslang.load({"loss": {"total": "mse(p, y)", "check_finite": "yes"}})


def test_imports_are_found_next_to_the_config_from_any_directory_and_entry_point(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "nearby_terms.py").write_text(
        "import torch, losslang\n\n@losslang.register('nearby_cube')\n"
        "def nearby_cube(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:\n"
        "    return (pred - target).abs().pow(3).mean()\n"
    )
    (folder / "loss.yaml").write_text("loss:\n  imports: [nearby_terms]\n  total: nearby_cube(p, y)\n")
    loss = losslang.load(folder / "loss.yaml", allow_imports=True)
    assert loss(p=torch.full((2,), 2.0), y=torch.zeros(2)).total.item() == 8.0
    assert str(folder) not in sys.path
    script = shutil.which("losslang")
    for command in ([sys.executable, "-m", "losslang"], *([[script]] if script else [])):
        result = subprocess.run(
            [*command, "check", str(folder / "loss.yaml"), "--allow-imports"],
            capture_output=True,
            text=True,
            cwd=tmp_path.parent,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert result.returncode == 0 and result.stdout.startswith("ok: nearby_cube(p, y)"), result.stderr


@pytest.mark.parametrize("total", [True, False], ids=["with-total", "total-defaulted"])
def test_a_look_alike_term_key_is_reported_at_the_key_and_named_a_look_alike(tmp_path: Path, total: bool) -> None:
    path = tmp_path / "loss.yaml"
    path.write_text("loss:\n  terms:\n    r\u0435con: mse(p, y)\n" + ("  total: recon + mae(p, y)\n" if total else ""))
    with pytest.raises(losslang.LossConfigError) as caught:
        losslang.load(path)
    assert str(caught.value) == (
        f"{path}:3:5: loss.terms.r\u0435con: 'r\u0435con' is not a valid term name: its '\u0435' is U+0435 "
        "CYRILLIC SMALL LETTER IE, a look-alike of the ASCII 'e'; names are ASCII"
    )


def test_a_look_alike_in_a_formula_is_named_at_its_column() -> None:
    with pytest.raises(losslang.LossSyntaxError) as caught:
        losslang.compile("mse(p, \u0443)")
    assert caught.value.column == 8
    assert "unexpected character '\u0443' (U+0443 CYRILLIC SMALL LETTER U, a look-alike of the ASCII 'y')" in str(
        caught.value
    )
