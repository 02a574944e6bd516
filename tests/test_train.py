from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import losslang
from losslang.plot import read_run
from losslang.train import train

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


def test_multilabel_main_job_fits_and_logs_every_term(tmp_path: Path) -> None:
    stream = io.StringIO()
    run = train(EXAMPLES / "multilabel.yaml", run_dir=tmp_path, progress=False, stream=stream)
    linear = run.model[0]
    assert linear.weight.item() == pytest.approx(2.0, abs=0.1) and linear.bias.item() == pytest.approx(2.5, abs=0.6)
    assert run.history[-1]["total"] < run.history[0]["total"] / 5
    columns = read_run(run.csv_path)
    assert list(columns) == [
        "step",
        "epoch",
        "total",
        "fit1",
        "mae(base, target1)",
        "mae(base, target2)",
        "val/total",
        "val/fit1",
        "val/mae(base, target1)",
        "val/mae(base, target2)",
    ]
    assert len(columns["step"]) == 60 * 10
    assert columns["val/total"][-1] < columns["val/total"][0] / 5  # the held-out split improves too
    assert run.png_path is not None and run.png_path.stat().st_size > 10_000
    table = stream.getvalue().splitlines()
    assert table[0].split() == ["term", "first", "last", "min"] and table[2].startswith("fit1")
    assert [line.rsplit(None, 3)[0] for line in table[1:]] == list(columns)[2:]  # one row per term
    last = table[1].split()
    assert float(last[2]) == pytest.approx(run.final["total"], rel=1e-3)


def test_dynamic_weights_are_logged(tmp_path: Path) -> None:
    run = train(EXAMPLES / "regression_angle.yaml", epochs=2, run_dir=tmp_path, progress=False, stream=io.StringIO())
    with open(run.csv_path) as handle:
        header = next(csv.reader(handle))
    assert {"weight/length", "weight/angle", "length", "angle"} <= set(header)
    weights = read_run(run.csv_path)["weight/length"]
    assert (
        len(weights) == len(run.history) == 14 and weights[0] != weights[-1]
    )  # 205 training samples: 7 steps an epoch
    assert [name for name, _ in run.loss.named_parameters()] == ["body.uncertainty_0.log_variance"]
    assert run.loss.body.uncertainty_0.log_variance.abs().sum().item() > 0  # trained with the model


def test_progress_bar_shows_terms_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    run = train(EXAMPLES / "multilabel.yaml", epochs=1, run_dir=tmp_path, stream=stream)
    assert "\r" not in stream.getvalue()  # the table goes to stdout, the bar's frames to stderr (tqdm's convention)
    bar = capsys.readouterr().err.split("\r")[-1].split("\n")[0]  # the bar's last redraw
    assert "10/10" in bar and "step/s" in bar
    for name in run.final:
        if name not in ("step", "epoch"):
            assert f"{name}={run.final[name]:.4g}" in bar  # the total and every term, at their last values


def test_tensorboard_events_are_written(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    config = losslang.document.read(EXAMPLES / "multilabel.yaml").data
    config = {**config, "epochs": 1, "run": {"tensorboard": True, "plot": False}}
    run = train(config, run_dir=tmp_path, progress=False, stream=io.StringIO())
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    terms = [name for name in run.final if name not in ("step", "epoch")]
    assert events.Tags()["scalars"] == terms
    assert [event.value for event in events.Scalars("fit1")] == pytest.approx([row["fit1"] for row in run.history])


TRAIN_ERRORS = [
    pytest.param(
        "epoch: 3\n",
        "train.yaml:1:1: epoch: unknown section 'epoch' (did you mean 'epochs'?); "
        "allowed: seed, epochs, model, data, optimizer, run, loss",
        id="section",
    ),
    pytest.param(
        "model: {}\ndata: {}\n", "train.yaml:1:1: the config: the training config needs a 'loss' section", id="no-loss"
    ),
    pytest.param(
        "model: {mlp: {inputs: 1, activation: swish}}\ndata: {dataset: linear_multilabel}\nloss: mse(output, label1)\n",
        "train.yaml:1:26: model.mlp.activation: unknown activation 'swish'; choose one of relu, tanh, gelu, silu",
        id="activation",
    ),
    pytest.param(
        "model: {mlp: {inputs: 1}}\ndata: {dataset: mnist}\nloss: mse(output, label1)\n",
        "train.yaml:2:8: data.dataset: unknown dataset 'mnist'; choose one of linear_multilabel, classification, "
        "regression_angle, conflicting_tasks",
        id="dataset",
    ),
    pytest.param(
        "model: {mlp: {inputs: 1}}\ndata: {dataset: linear_multilabel}\noptimizer: {name: lbfgs2}\n"
        "loss: mse(output, label1)\n",
        "train.yaml:3:13: optimizer.name: unknown optimizer 'lbfgs2'; choose one of sgd, adam, adamw, rmsprop",
        id="optimizer",
    ),
    pytest.param(
        "model: {mlp: {inputs: 1}}\ndata: {dataset: linear_multilabel, colour: red}\nloss: mse(output, label1)\n",
        "train.yaml:2:36: data.colour: linear_multilabel has no option 'colour'; it has samples, seed",
        id="dataset-option",
    ),
    pytest.param(
        "model: {mlp: {inputs: 1}}\ndata: {dataset: linear_multilabel, samples: -5}\nloss: mse(output, label1)\n",
        "train.yaml:2:36: data.samples: must be an integer between 1 and 1e+07, not -5",
        id="negative-samples",
    ),
    pytest.param(
        "model: {mlp: {inputs: 2}}\ndata: {dataset: classification, classes: 0}\nloss: mse(output, radius)\n",
        "train.yaml:2:33: data.classes: must be an integer between 1 and 10000, not 0",
        id="zero-classes",
    ),
    pytest.param(
        "model: {mlp: {inputs: 2}}\ndata: {dataset: classification, features: 0}\nloss: mse(output, radius)\n",
        "train.yaml:2:33: data.features: must be an integer between 1 and 10000, not 0",
        id="zero-features",
    ),
    pytest.param(
        "seed: 1180591620717411303424\nmodel: {mlp: {inputs: 1}}\ndata: {dataset: linear_multilabel}\n"
        "loss: mse(output, label1)\n",
        "train.yaml:1:1: seed: must be an integer from 0 to 2**63 - 1, not 1180591620717411303424",
        id="huge-seed",
    ),
    pytest.param(
        "model: {mlp: {inputs: 1}}\ndata: {dataset: linear_multilabel}\noptimizer: {name: adam, lr: fast}\n"
        "loss: mse(output, label1)\n",
        "train.yaml:3:25: optimizer.lr: must be a finite number, a boolean or a list of numbers, not 'fast'",
        id="optimizer-option-type",
    ),
    pytest.param(
        "model: {mlp: {inputs: 1}}\ndata: {dataset: linear_multilabel}\noptimizer: {name: adam, lr: -1}\n"
        "loss: mse(output, label1)\n",
        "train.yaml:3:1: optimizer: bad optimizer option: Invalid learning rate: -1",
        id="optimizer-option-refused",
    ),
    pytest.param(
        "epochs: -1\nmodel: {mlp: {inputs: 1}}\ndata: {dataset: linear_multilabel}\nloss: mse(output, label1)\n",
        "train.yaml:1:1: epochs: must be an integer from 1 to 2**63 - 1, not -1",
        id="epochs",
    ),
    pytest.param(
        "model: {mlp: {inputs: 1}}\ndata: {dataset: linear_multilabel}\nloss: mse(output, labl1)\n",
        None,
        id="missing-input-at-first-step",
    ),
    pytest.param(
        "model: {mlp: {inputs: 2}}\ndata: {problem: helmholz2d}\nloss: mse(output, 0)\n",
        "train.yaml:2:8: data.problem: unknown problem 'helmholz2d' (did you mean 'helmholtz2d'?); "
        "choose one of helmholtz2d",
        id="problem",
    ),
    pytest.param(
        "model: {mlp: {inputs: 2}}\ndata: {problem: helmholtz2d, points: 0}\nloss: mse(output, 0)\n",
        "train.yaml:2:30: data.points: must be an integer between 1 and 1e+07, not 0",
        id="problem-points",
    ),
    pytest.param(
        "model: {mlp: {inputs: 2}}\ndata: {problem: helmholtz2d, samples: 10}\nloss: mse(output, 0)\n",
        "train.yaml:2:30: data.samples: helmholtz2d has no option 'samples'; it has points, steps",
        id="problem-option",
    ),
    pytest.param(
        "model: {mlp: {inputs: 2}}\ndata: {problem: helmholtz2d, dataset: classification}\nloss: mse(output, 0)\n",
        "train.yaml:2:8: data.problem: give either dataset or problem, not both",
        id="problem-and-dataset",
    ),
    pytest.param(
        "model: {mlp: {inputs: 2}, apply: {u: x_b5}}\ndata: {problem: helmholtz2d}\nloss: mse(u, 0)\n",
        "train.yaml:1:35: model.apply.u: the model cannot be applied to 'x_b5' (did you mean 'x_b1'?); "
        "it reads x, f, x_b1, x_b2, x_b3, x_b4",
        id="apply",
    ),
    pytest.param(
        "model: {mlp: {inputs: 3}, apply: {u: x}}\ndata: {problem: helmholtz2d}\nloss: mse(u, 0)\n",
        "train.yaml:1:15: model.mlp.inputs: is 3, but the problem helmholtz2d gives x with 2 features: "
        "model.mlp.inputs and the data section disagree; make them match",
        id="apply-width",
    ),
    pytest.param(
        "model: {mlp: {inputs: 2, init: glorot}}\ndata: {problem: helmholtz2d}\nloss: mse(output, 0)\n",
        "train.yaml:1:26: model.mlp.init: unknown init 'glorot'; choose one of default, xavier_normal",
        id="init",
    ),
    pytest.param(
        "model: {mlp: {inputs: 1}}\ndata: {dataset: linear_multilabel}\noptimizer: {decay_rate: 1.5, decay_steps: 10}\n"
        "loss: mse(output, label1)\n",
        "train.yaml:3:13: optimizer.decay_rate: must be a number above 0 and at most 1, not 1.5",
        id="decay-rate",
    ),
]


@pytest.mark.parametrize(("text", "message"), TRAIN_ERRORS)
def test_training_config_errors(tmp_path: Path, text: str, message: str | None) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(losslang.LossLangError) as caught:
        train(path, run_dir=tmp_path, progress=False, stream=io.StringIO())
    if message is None:
        assert "the loss reads the input 'labl1' (did you mean 'label1'?)" in str(caught.value)
    else:
        assert str(caught.value) == f"{tmp_path}/{message}"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "losslang", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_train_and_plot_commands(tmp_path: Path) -> None:
    result = cli("train", str(EXAMPLES / "multilabel.yaml"), "--epochs", "3", "--out", str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert f"wrote {tmp_path}/run.csv, {tmp_path}/run.png" in result.stdout
    (tmp_path / "run.png").unlink()
    replot = cli("plot", str(tmp_path / "run.csv"))
    assert replot.returncode == 0 and (tmp_path / "run.png").stat().st_size > 0
    bad = cli("plot", str(tmp_path / "missing.csv"))
    assert bad.returncode == 1 and "cannot read" in bad.stderr


def test_main_job_config_loads_its_loss_alone() -> None:
    loss = losslang.load(EXAMPLES / "multilabel.yaml")
    assert loss.inputs == ("output", "label1", "label2")
    assert torch.is_tensor(loss(output=torch.ones(2, 1), label1=torch.ones(2, 1), label2=torch.ones(2, 1)).total)


def test_run_dir_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file")
    config = {"model": {"mlp": {"inputs": 1}}, "data": {"dataset": "linear_multilabel"}, "loss": "mse(output, label1)"}
    with pytest.raises(losslang.LossConfigError, match=r"run\.dir: cannot write the run to .*taken"):
        train({**config, "run": {"dir": str(tmp_path / "taken")}}, progress=False, stream=io.StringIO())


def test_total_that_does_not_depend_on_the_model_is_an_error(tmp_path: Path) -> None:
    config = {"model": {"mlp": {"inputs": 1}}, "data": {"dataset": "linear_multilabel"}, "loss": "mse(label2, label1)"}
    with pytest.raises(losslang.LossValueError, match="the total does not depend on the model's output"):
        train(config, run_dir=tmp_path, progress=False, stream=io.StringIO())


MINI = {
    "epochs": 2,
    "model": {"mlp": {"inputs": 1}},
    "data": {"dataset": "linear_multilabel", "samples": 40, "batch_size": 8},
    "loss": "mse(output, label1) + mae(output, label2)",
    "run": {"plot": False},
}


def test_a_rerun_writes_beside_the_last_run_and_says_where(tmp_path: Path) -> None:
    first = train(MINI, run_dir=tmp_path / "run", progress=False, stream=io.StringIO())
    second = train(MINI, run_dir=tmp_path / "run", progress=False, stream=io.StringIO())
    assert (first.folder, second.folder) == (tmp_path / "run", tmp_path / "run-2")
    assert first.csv_path.read_text() == second.csv_path.read_text()  # the first run is still there, untouched
    result = cli(
        "train", str(EXAMPLES / "multilabel.yaml"), "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress"
    )
    assert f"wrote {tmp_path / 'run-3' / 'run.csv'}" in result.stdout


def test_a_checkpoint_holds_model_loss_config_and_step_and_loads_safely(tmp_path: Path) -> None:
    run = train(MINI, run_dir=tmp_path, progress=False, stream=io.StringIO())
    saved = torch.load(run.checkpoint_path)  # torch's default weights_only=True: tensors and plain values only
    assert saved["step"] == len(run.history) and saved["config"]["loss"] == MINI["loss"]
    model = type(run.model)(*[type(layer)(layer.in_features, layer.out_features) for layer in run.model])
    model.load_state_dict(saved["model"])
    assert torch.equal(model[0].weight, run.model[0].weight)
    losslang.compile(MINI["loss"]).load_state_dict(saved["loss"])


def test_dry_run_builds_everything_runs_one_step_and_writes_nothing(tmp_path: Path) -> None:
    stream = io.StringIO()
    run = train({**MINI, "run": {"dir": str(tmp_path / "never")}}, dry_run=True, progress=False, stream=stream)
    assert len(run.history) == 1 and not (tmp_path / "never").exists()
    assert stream.getvalue().startswith("dry run: one step ok")


def test_safe_names_log_keys_every_tracker_accepts(tmp_path: Path) -> None:
    run = train(MINI, run_dir=tmp_path, progress=False, stream=io.StringIO(), safe_names=True)
    assert list(run.final) == [
        *("step", "epoch", "total", "mse_output_label1", "mae_output_label2"),
        *("val/total", "val/mse_output_label1", "val/mae_output_label2"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "model: {mlp: {inputs: 1, hiden: [8]}}\ndata: {dataset: linear_multilabel}\nloss: mse(output, label1)\n",
            "train.yaml:1:26: model.mlp.hiden: unknown key 'hiden' (did you mean 'hidden'?)",
        ),
        (
            "model: {mlp: {inputs: 1}}\ndata: {dataset: linear_multilabel}\noptimizer: {name: adma}\n"
            "loss: mse(output, label1)\n",
            "train.yaml:3:13: optimizer.name: unknown optimizer 'adma' (did you mean 'adam'?)",
        ),
        (
            "model: {mlp: {inputs: 3}}\ndata: {dataset: linear_multilabel}\nloss: mse(output, label1)\n",
            "train.yaml:1:15: model.mlp.inputs: is 3, but the dataset linear_multilabel gives x with 1 feature",
        ),
    ],
    ids=["model-key", "optimizer-name", "width"],
)
def test_check_on_a_training_config_checks_every_section(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "train.yaml").write_text(text)
    result = cli("check", str(tmp_path / "train.yaml"))
    assert result.returncode == 1 and result.stderr.startswith(f"error: {tmp_path}/{message}")
    good = cli("check", str(EXAMPLES / "multilabel.yaml"))
    assert "read as: the training config" in good.stdout


PINN = {
    "seed": 0,
    "epochs": 2,
    "model": {
        "mlp": {"inputs": 2, "hidden": [16], "outputs": 1, "init": "xavier_normal"},
        "apply": {"u": "x", "u_b1": "x_b1", "u_b2": "x_b2", "u_b3": "x_b3", "u_b4": "x_b4"},
    },
    "data": {"problem": "helmholtz2d", "points": 16, "steps": 5},
    "optimizer": {"name": "adam", "lr": 0.01, "decay_rate": 0.5, "decay_steps": 5},
    "loss": {
        "terms": {
            "res": "mse(laplacian(u, x)[:, 0] + u[:, 0] - f, 0)",
            "bc": "mse(u_b1, 0) + mse(u_b2, 0) + mse(u_b3, 0) + mse(u_b4, 0)",
        },
        "total": "lr_annealing(res, bc, every=2)",
    },
}


def test_a_problem_samples_fresh_points_each_step_and_validates_against_the_exact_solution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PINN job from a config alone: laplacian in the formula, the decay, the error as val/rel_l2_error."""
    from losslang.module import LossModule
    from losslang.problems import Helmholtz2D

    updates = []
    update_weights = LossModule.update_weights
    monkeypatch.setattr(
        LossModule, "update_weights", lambda self, closure: updates.append(update_weights(self, closure))
    )
    run = train(PINN, run_dir=tmp_path, progress=False, stream=io.StringIO())
    assert len(run.history) == 10 and updates == [False, True] * 5  # after every second step: every=2, after the step
    errors = [row["val/rel_l2_error"] for row in run.history]
    assert errors[0] == errors[3] != errors[4] == errors[8] != errors[9]  # taken at the start and after each epoch
    assert errors[-1] == pytest.approx(Helmholtz2D().error(run.model), rel=1e-6)  # the last row: the trained model
    assert run.final["weight/bc"] != 1.0
    assert float(run.model[0].bias.detach().abs().sum()) != 0.0  # trained from Xavier-normal weights, zero biases


def test_learning_rate_decay_follows_decay_rate_and_decay_steps() -> None:
    from losslang.recipe import prepare

    recipe = prepare(PINN)
    assert recipe.schedule is not None
    for _ in range(5):
        recipe.optimizer.step()
        recipe.schedule.step()
    assert recipe.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5)  # 0.5 ** (5 / 5)
    assert all(float(layer.bias.abs().sum()) == 0.0 for layer in recipe.model if isinstance(layer, torch.nn.Linear))


def test_baseline_trains_the_same_config_with_a_plain_sum_and_overlays_both(tmp_path: Path) -> None:
    stream = io.StringIO()
    run = train(PINN, run_dir=tmp_path / "run", progress=False, stream=stream, baseline=True)
    baseline = read_run(tmp_path / "run" / "baseline" / "run.csv")
    assert "weight/bc" in run.final and not any(name.startswith("weight/") for name in baseline)
    assert baseline["res"][0] == run.history[0]["res"]  # the same seed: the same model and first batch
    assert baseline["val/rel_l2_error"][-1] != run.final["val/rel_l2_error"]
    assert run.png_path is not None and run.png_path.stat().st_size > 0
    assert "baseline:\n    res = mse(" in stream.getvalue() and "\n    res + bc\n" in stream.getvalue()
    assert "\nrun:\n    res = mse(" in stream.getvalue()  # each formula line indented under its label


def test_baseline_of_a_loss_without_a_scheme_is_refused_before_training(tmp_path: Path) -> None:
    config = {**PINN, "loss": "mse(u, 0)"}
    with pytest.raises(losslang.LossConfigError, match="no weighting scheme to replace by a plain sum: mse"):
        train(config, run_dir=tmp_path, progress=False, stream=io.StringIO(), baseline=True)
    assert not (tmp_path / "run.csv").exists()


def test_train_command_takes_baseline(tmp_path: Path) -> None:
    path = tmp_path / "pinn.yaml"
    path.write_text(__import__("yaml").safe_dump({**PINN, "epochs": 1}))
    result = cli("train", str(path), "--baseline", "--out", str(tmp_path / "run"), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "baseline" / "run.csv").exists() and "baseline:\n    " in result.stdout


def test_standardize_puts_the_inputs_moments_first() -> None:
    """mlp.standardize: the problem's domain moments (0, 1/sqrt(3)), or the training split's x."""
    from losslang.recipe import Standardize, prepare

    pinn = prepare({**PINN, "model": {**PINN["model"], "mlp": {**PINN["model"]["mlp"], "standardize": True}}})
    first = pinn.model[0]
    assert isinstance(first, Standardize) and torch.equal(first.mean, torch.zeros(2))
    torch.testing.assert_close(first.std, torch.full((2,), 3**-0.5))
    config = {"model": {"mlp": {"inputs": 1, "standardize": True}}, "data": {"dataset": "linear_multilabel"}}
    recipe = prepare({**config, "loss": "mse(output, label1)"})
    torch.testing.assert_close(recipe.model[0].mean, recipe.data["x"].mean(0))
    standardised = recipe.model[0](recipe.data["x"])
    torch.testing.assert_close(standardised.std(0), torch.ones(1))


@pytest.mark.parametrize("taken", ["checkpoint.pt", "run.png", "run.json", "tensorboard", "baseline"])
def test_a_folder_holding_any_file_a_run_writes_is_never_written_into(tmp_path: Path, taken: str) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / taken).write_text("the user's")
    run = train(MINI, run_dir=tmp_path / "run", progress=False, stream=io.StringIO())
    assert run.folder == tmp_path / "run-2" and (tmp_path / "run" / taken).read_text() == "the user's"
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == [taken]


@pytest.mark.parametrize("dangling", [True, False], ids=["dangling", "to-a-file"])
def test_a_run_never_follows_a_symlink_out_of_its_folder(tmp_path: Path, dangling: bool) -> None:
    outside = tmp_path / "outside.txt"
    if not dangling:
        outside.write_text("the user's")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.csv").symlink_to(outside)
    run = train(MINI, run_dir=tmp_path / "run", progress=False, stream=io.StringIO())
    assert run.folder == tmp_path / "run-2"
    assert not outside.exists() if dangling else outside.read_text() == "the user's"


def test_run_dir_dot_writes_beside_the_user_files_then_into_numbered_subfolders(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    config = {**MINI, "run": {"dir": ".", "plot": False}}
    first = train(config, progress=False, stream=io.StringIO())
    second = train(config, progress=False, stream=io.StringIO())
    assert (first.folder, second.folder) == (Path("."), Path("run-2"))
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "run-2" / "checkpoint.pt").is_file()


@pytest.mark.parametrize("epochs", [0, -1])
def test_epochs_below_one_are_refused(tmp_path: Path, epochs: int) -> None:
    with pytest.raises(losslang.LossConfigError, match=f"must be a positive integer, not {epochs}"):
        train(MINI, epochs=epochs, run_dir=tmp_path, progress=False, stream=io.StringIO())
    with pytest.raises(
        losslang.LossConfigError, match=f"epochs: must be an integer from 1 to 2\\*\\*63 - 1, not {epochs}"
    ):
        train({**MINI, "epochs": epochs}, run_dir=tmp_path, progress=False, stream=io.StringIO())
    result = cli("train", str(EXAMPLES / "multilabel.yaml"), "--epochs", str(epochs), "--out", str(tmp_path / "r"))
    assert result.returncode == 1 and "must be a positive integer" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("mlp", "message"),
    [
        (
            {"inputs": 1, "hidden": [100_000, 100_000]},
            r"model.mlp: this MLP has 10,000,400,001 parameters; the limit is 50,000,000",
        ),
        ({"inputs": 1, "hidden": [1] * 30_000}, "model.mlp.hidden: has 30,000 layers; the limit is 100 hidden layers"),
    ],
    ids=["wide", "deep"],
)
def test_a_model_too_large_is_refused_before_anything_is_allocated(mlp: dict, message: str) -> None:
    import time

    from losslang.recipe import prepare

    started = time.perf_counter()
    with pytest.raises(losslang.LossConfigError, match=message):
        prepare({**MINI, "model": {"mlp": mlp}})
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"dataset": ["linear_multilabel"]}, "data.dataset: must name one dataset"),
        ({"problem": ["helmholtz2d"]}, "data.problem: must name one problem"),
        ({"dataset": {"name": "x"}}, "data.dataset: must name one dataset"),
    ],
)
def test_a_list_or_mapping_where_a_name_belongs_is_a_config_error(data: dict, where: str) -> None:
    from losslang.recipe import prepare

    with pytest.raises(losslang.LossConfigError, match=where):
        prepare({**MINI, "data": data})


@pytest.mark.parametrize(
    ("loss", "where"),
    [
        ("mse(output, label1) + mae(output, label9)", "loss: line 1, column 35: the loss reads the input 'label9'"),
        (
            {"terms": {"fit": "mse(outputs, label1)"}},
            "loss.terms.fit: line 1, column 5: the loss reads the input 'outputs'",
        ),
        (
            {"inputs": {"p": "prediction"}, "total": "mse(p, label1)"},
            "loss.total: line 1, column 5: the loss reads the input 'prediction'",
        ),
    ],
    ids=["program", "term", "mapped"],
)
def test_check_refuses_a_loss_reading_an_input_the_data_does_not_give(tmp_path: Path, loss, where: str) -> None:
    import yaml

    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({**MINI, "loss": loss}))
    result = cli("check", str(path))
    assert result.returncode == 1 and where in result.stderr, result.stderr
    assert "neither the dataset linear_multilabel nor the model gives" in result.stderr


def test_a_bigger_config_holding_a_loss_section_suggests_key(tmp_path: Path) -> None:
    path = tmp_path / "hydra.yaml"
    path.write_text(
        "defaults:\n  - _self_\nmodel:\n  hidden: 32\n  loss:\n    terms:\n      a: mse(p, y)\ndata:\n  path: x\n"
    )
    result = cli("check", str(path))
    assert result.returncode == 1 and "unknown section 'defaults'" in result.stderr
    assert "pass --key model.loss (key='model.loss' in losslang.load)" in result.stderr
    assert cli("check", str(path), "--key", "model.loss").stdout.startswith("ok: a = mse(p, y)")
