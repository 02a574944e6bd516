"""The demo training run: a small model, a synthetic dataset and a losslang loss, all from one YAML file.

Every term (and every dynamic weight) is written per step to ``<run dir>/run.csv``, optionally to
TensorBoard, shown live in a progress bar, drawn at the end to ``<run dir>/run.png`` and printed
as a final table.
"""

from __future__ import annotations

import csv
import itertools
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import Tensor, nn

from losslang.config import build
from losslang.datasets import DATASET_OPTIONS, DATASETS
from losslang.document import Document, Key, read
from losslang.errors import LossConfigError, LossLangError, LossValueError, did_you_mean, shown
from losslang.module import LossModule
from losslang.plot import plot_run

SECTIONS = ("seed", "epochs", "model", "data", "optimizer", "run", "loss")
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
}


@dataclass
class Run:
    """What a training run produced."""

    model: nn.Module
    loss: LossModule
    history: list[dict[str, float]] = field(default_factory=list)
    csv_path: Path | None = None
    png_path: Path | None = None

    @property
    def final(self) -> dict[str, float]:
        """The last step's metrics."""
        return self.history[-1]


def train(
    config: str | Path | Mapping[str, Any],
    *,
    epochs: int | None = None,
    run_dir: str | Path | None = None,
    progress: bool = True,
    allow_imports: bool = False,
    stream: TextIO | None = None,
) -> Run:
    """Train the config's model on its dataset with its loss, logging every term.

    Args:
        config: a YAML file or mapping with ``model``, ``data``, ``optimizer``, ``epochs``,
            ``seed``, ``run`` and ``loss`` sections.
        epochs: overrides the config's ``epochs``.
        run_dir: overrides ``run.dir``, where ``run.csv`` and ``run.png`` are written.
        progress: show a live progress bar (tqdm, if installed) with every term.
        allow_imports: let the loss section's ``imports:`` import modules.
        stream: where the progress and the final table go (default: stdout).

    Example:
        >>> import io, tempfile
        >>> run = train({
        ...     "epochs": 2, "model": {"mlp": {"inputs": 1, "outputs": 1}},
        ...     "data": {"dataset": "linear_multilabel", "samples": 32, "batch_size": 8},
        ...     "loss": {"inputs": {"pred": "output"}, "total": "mean(mae(pred, label1), mae(pred, label2))"},
        ...     "run": {"dir": tempfile.mkdtemp(), "plot": False},
        ... }, progress=False, stream=io.StringIO())
        >>> len(run.history), sorted(run.final)[:2]
        (8, ['epoch', 'mae(pred, label1)'])
    """
    stream = stream or sys.stdout
    document = read(config)
    settings = _settings(document)
    torch.manual_seed(settings["seed"])
    loss = build(document, ("loss",), settings["loss"], allow_imports)
    data = _dataset(document, settings["data"])
    model = _model(document, settings["model"])
    loss.attach(model)
    optimizer = _optimizer(document, settings["optimizer"], [*model.parameters(), *loss.parameters()])
    options = _options(document, settings["run"])
    folder = Path(run_dir or options.get("dir", "runs/losslang"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run.csv").open("a").close()
    except OSError as error:  # a file in the way, no permission
        raise document.error(("run", "dir"), f"cannot write the run to {folder}: {error}") from None
    run = Run(model, loss, csv_path=folder / "run.csv")
    total_epochs = epochs if epochs is not None else settings["epochs"]
    batch_size = settings["data"].get("batch_size", 32)
    steps = total_epochs * -(-len(next(iter(data.values()))) // batch_size)
    epochs_of_batches = (_batches(data, batch_size, settings["seed"] + epoch) for epoch in range(total_epochs))
    with _Logger(run.csv_path, folder if options.get("tensorboard") else None) as logger:
        for row in _bar(_steps(model, loss, optimizer, epochs_of_batches), steps, progress, stream):
            logger.write(row)
            run.history.append(row)
    if options.get("plot", True) and run.history:
        run.png_path = _plot(run.csv_path, folder / "run.png", stream)
    print(_table(run.history), file=stream)
    return run


def _settings(document: Document) -> dict[str, Any]:
    data = document.data
    if not isinstance(data, Mapping):
        raise document.error((), "a training config must be a mapping of " + ", ".join(SECTIONS))
    for name in data:
        if name not in SECTIONS:
            raise document.error(
                (name,), f"unknown section {name!r}{did_you_mean(str(name), SECTIONS)}; allowed: {', '.join(SECTIONS)}"
            )
    for name in ("model", "data", "loss"):
        if name not in data:
            raise document.error((), f"the training config needs a {name!r} section")
    settings = {"seed": 0, "epochs": 10, "optimizer": {"name": "adam", "lr": 0.01}, "run": {}, **data}
    for name in ("seed", "epochs"):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise document.error((name,), f"must be an integer from 0 to 2**63 - 1, not {shown(value)}")
    return settings


def _options(document: Document, options: Any) -> dict[str, Any]:
    return dict(_checked(document, ("run",), options, {"dir": str, "tensorboard": bool, "plot": bool}))


def _checked(
    document: Document, path: Key, section: Any, allowed: Mapping[str, type | tuple[type, ...]]
) -> Mapping[str, Any]:
    """``section`` if it is a mapping whose keys are ``allowed`` with values of the given types."""
    if not isinstance(section, Mapping):
        raise document.error(path, f"must be a mapping with {', '.join(allowed)}")
    for name, value in section.items():
        if name not in allowed:
            raise document.error(
                (*path, name), f"unknown key {name!r}{did_you_mean(str(name), allowed)}; allowed: {', '.join(allowed)}"
            )
        if not isinstance(value, allowed[name]) or (isinstance(value, bool) and allowed[name] is not bool):
            raise document.error((*path, name), f"has the wrong type: {type(value).__name__}")
    return section


def _model(document: Document, spec: Any) -> nn.Module:
    mlp = _checked(document, ("model",), spec, {"mlp": dict}).get("mlp")
    if mlp is None:
        raise document.error(("model",), "needs an mlp: {inputs: N, hidden: [...], outputs: M, activation: tanh}")
    path = ("model", "mlp")
    mlp = _checked(document, path, mlp, {"inputs": int, "hidden": list, "outputs": int, "activation": str})
    activation = mlp.get("activation", "tanh")
    if activation not in ACTIVATIONS:
        raise document.error(
            (*path, "activation"), f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
        )
    widths = [mlp.get("inputs", 1), *mlp.get("hidden", []), mlp.get("outputs", 1)]
    if not all(isinstance(width, int) and not isinstance(width, bool) and width > 0 for width in widths):
        raise document.error(path, f"layer widths must be positive integers, not {widths}")
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
        layers += [nn.Linear(width_in, width_out)] + ([ACTIVATIONS[activation]()] if index < len(widths) - 2 else [])
    return nn.Sequential(*layers)


def _dataset(document: Document, spec: Any) -> dict[str, Tensor]:
    path = ("data",)
    if not isinstance(spec, Mapping) or spec.get("dataset") not in DATASETS:
        raise document.error(path, f"needs a dataset: one of {', '.join(DATASETS)}")
    options = {name: value for name, value in spec.items() if name not in ("dataset", "batch_size")}
    batch_size = spec.get("batch_size", 32)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise document.error((*path, "batch_size"), f"must be a positive integer, not {shown(batch_size)}")
    ranges = DATASET_OPTIONS[spec["dataset"]]
    for name, value in options.items():
        if name not in ranges:
            hint = did_you_mean(name, ranges) if isinstance(name, str) else ""
            raise document.error(
                (*path, name), f"{spec['dataset']} has no option {shown(name)}{hint}; it has {', '.join(ranges)}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or not ranges[name].admits(value):
            raise document.error((*path, name), f"must be an integer {ranges[name]}, not {shown(value)}")
    return DATASETS[spec["dataset"]](**options)


def _optimizer(document: Document, spec: Any, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    path = ("optimizer",)
    if not isinstance(spec, Mapping) or spec.get("name", "adam") not in OPTIMIZERS:
        raise document.error(path, f"needs a name: one of {', '.join(OPTIMIZERS)}")
    options = {name: value for name, value in spec.items() if name != "name"}
    for name, value in options.items():
        numbers = value if isinstance(value, list) else [value]
        if not numbers or not all(isinstance(number, int | float) and math.isfinite(number) for number in numbers):
            raise document.error(
                (*path, name), f"must be a finite number, a boolean or a list of numbers, not {shown(value)}"
            )
    try:
        return OPTIMIZERS[spec.get("name", "adam")](params, **options)
    except (TypeError, ValueError, RuntimeError) as error:
        raise document.error(path, f"bad optimizer option: {error}") from None


def _batches(data: dict[str, Tensor], size: int, seed: int) -> list[dict[str, Tensor]]:
    """One epoch of batches in a shuffled order that the seed fixes."""
    order = torch.randperm(len(next(iter(data.values()))), generator=torch.Generator().manual_seed(seed))
    return [
        {name: values[order[start : start + size]] for name, values in data.items()}
        for start in range(0, len(order), size)
    ]


def _steps(
    model: nn.Module, loss: LossModule, optimizer: torch.optim.Optimizer, epochs: Iterator[list[dict[str, Tensor]]]
) -> Iterator[dict[str, float]]:
    step = 0
    for epoch, batches in enumerate(epochs):
        for batch in batches:
            out = loss({**batch, "output": model(batch["x"])})
            if not out.total.requires_grad:
                raise LossValueError(
                    f"the total does not depend on the model's output, so there is nothing to train: {loss}; "
                    "use the model's prediction (the input 'output', or the name mapped to it under loss.inputs)"
                )
            optimizer.zero_grad()
            out.total.backward()
            try:
                optimizer.step()
            except (TypeError, ValueError, RuntimeError) as error:  # an option torch takes but cannot use
                raise LossConfigError(
                    f"optimizer: the optimizer's step failed: {type(error).__name__}: {error}"
                ) from None
            yield {"step": step, "epoch": epoch, **out.metrics()}
            step += 1


def _bar(rows: Iterator[dict[str, float]], total: int, progress: bool, stream: TextIO) -> Iterator[dict[str, float]]:
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if not progress or tqdm is None:
        yield from rows
        return
    with tqdm(total=total, file=stream, unit="step", dynamic_ncols=True) as bar:
        for row in rows:
            bar.set_postfix(
                {name: f"{value:.4g}" for name, value in row.items() if name not in ("step", "epoch")}, refresh=False
            )
            bar.update()
            yield row


class _Logger:
    """Writes each step's metrics to the CSV (and to TensorBoard when asked)."""

    def __init__(self, csv_path: Path, tensorboard: Path | None) -> None:
        self.handle = open(csv_path, "w", newline="")  # noqa: SIM115 - closed in __exit__
        self.writer: csv.DictWriter[str] | None = None
        self.board = _tensorboard(tensorboard) if tensorboard else None

    def write(self, row: dict[str, float]) -> None:
        if self.writer is None:
            self.writer = csv.DictWriter(self.handle, fieldnames=list(row))
            self.writer.writeheader()
        self.writer.writerow(row)
        if self.board is not None:
            for name, value in row.items():
                if name not in ("step", "epoch"):
                    self.board.add_scalar(name, value, int(row["step"]))

    def __enter__(self) -> _Logger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
        if self.board is not None:
            self.board.close()


def _tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise LossConfigError("run.tensorboard needs tensorboard: pip install 'losslang[tensorboard]'") from None
    return SummaryWriter(log_dir=str(folder / "tensorboard"))


def _plot(csv_path: Path, png_path: Path, stream: TextIO) -> Path | None:
    try:
        return plot_run(csv_path, png_path)
    except LossLangError as error:
        print(f"no plot: {error}", file=stream)
        return None


def _table(history: list[dict[str, float]]) -> str:
    """The first, last and best value of every term."""
    names = [name for name in history[0] if name not in ("step", "epoch")] if history else []
    width = max([len(name) for name in names] + [4])
    lines = [f"{'term':<{width}}  {'first':>10}  {'last':>10}  {'min':>10}"]
    for name in names:
        values = [row[name] for row in history]
        lines.append(f"{name:<{width}}  {values[0]:>10.4g}  {values[-1]:>10.4g}  {min(values):>10.4g}")
    return "\n".join(lines)
