"""The demo training run: a small model, a synthetic dataset and a losslang loss, all from one YAML file.

Every term (and every dynamic weight) is written per step to ``<run dir>/run.csv``, with the
validation split's terms under ``val/``, optionally to TensorBoard, shown live in a progress bar
(on stderr, as tqdm's convention is), drawn at the end to ``<run dir>/run.png``, printed as a
final table, and the model and loss are saved to ``<run dir>/checkpoint.pt``. A run never
overwrites a file: when the folder holds any file a run writes, it writes to ``<dir>-2``, ``<dir>-3``, ...
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import Tensor, nn

from losslang.baseline import plain_sum
from losslang.errors import LossConfigError, LossLangError, LossValueError
from losslang.module import LossModule
from losslang.plot import AXES, plot_run
from losslang.recipe import Recipe, prepare


@dataclass
class Run:
    """What a training run produced."""

    model: nn.Module
    loss: LossModule
    history: list[dict[str, float]] = field(default_factory=list)
    folder: Path | None = None
    csv_path: Path | None = None
    png_path: Path | None = None
    checkpoint_path: Path | None = None

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
    dry_run: bool = False,
    safe_names: bool = False,
    baseline: bool = False,
) -> Run:
    """Train the config's model on its dataset with its loss, logging every term.

    Args:
        config: a YAML file or mapping with ``model``, ``data``, ``optimizer``, ``epochs``,
            ``seed``, ``run`` and ``loss`` sections.
        epochs: overrides the config's ``epochs``.
        run_dir: overrides ``run.dir``, where ``run.csv``, ``run.png`` and ``checkpoint.pt`` go.
        progress: show a live progress bar (tqdm, if installed) with every term, on stderr.
        allow_imports: let the loss section's ``imports:`` import modules.
        stream: where the final table and the paths written go (default: stdout).
        dry_run: build everything and run one training step; write nothing.
        safe_names: log every term under its logger-safe key (see :meth:`LossOutput.metrics`).
        baseline: train the same config a second time (same seed) with every weighting scheme
            replaced by the plain sum of its terms, into ``<run dir>/baseline``, and overlay both
            runs in the plot: an adaptive scheme has to beat equal weights to be worth it.

    Example:
        >>> import io, tempfile
        >>> run = train({
        ...     "epochs": 2, "model": {"mlp": {"inputs": 1, "outputs": 1}},
        ...     "data": {"dataset": "linear_multilabel", "samples": 40, "batch_size": 8},
        ...     "loss": {"inputs": {"pred": "output"}, "total": "mean(mae(pred, label1), mae(pred, label2))"},
        ...     "run": {"dir": tempfile.mkdtemp(), "plot": False},
        ... }, progress=False, stream=io.StringIO())
        >>> len(run.history), sorted(run.final)[:3]
        (8, ['epoch', 'mae(pred, label1)', 'mae(pred, label2)'])
        >>> sorted(name for name in run.final if name.startswith("val/"))[:2]
        ['val/mae(pred, label1)', 'val/mae(pred, label2)']
    """
    stream = stream or sys.stdout
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise LossConfigError(f"epochs= (--epochs) must be a positive integer, not {epochs!r}")
    recipe = prepare(config, allow_imports=allow_imports)
    compared = _baseline(config, allow_imports) if baseline else None  # refused before anything trains
    total_epochs = 1 if dry_run else epochs if epochs is not None else recipe.settings["epochs"]
    if dry_run:
        run = Run(recipe.model, recipe.loss, [next(_steps(recipe, total_epochs, safe_names))])
        print(f"dry run: one step ok\n{_table(run.history)}", file=stream)
        return run
    folder = _fresh_folder(recipe, Path(run_dir or recipe.run.get("dir", "runs/losslang")))
    run = _run(recipe, folder, total_epochs, safe_names, progress, _name(config))
    csvs = [run.csv_path]
    if compared is not None:
        plain = _run(compared, folder / "baseline", total_epochs, safe_names, progress, "baseline")
        csvs.append(plain.csv_path)
        print(
            f"{_titled('baseline', compared.loss)}\n{_table(plain.history)}\n\n{_titled('run', recipe.loss)}",
            file=stream,
        )
    if recipe.run.get("plot", True) and run.history:
        run.png_path = _plot(csvs, folder / "run.png", stream)
    if recipe.run.get("checkpoint", True):
        run.checkpoint_path = _checkpoint(recipe, folder / "checkpoint.pt", len(run.history))
    print(_table(run.history), file=stream)
    return run


def _baseline(config: str | Path | Mapping[str, Any], allow_imports: bool) -> Recipe:
    """The same config, built again (the same seed: the same model and data), with a plain-sum loss."""
    recipe = prepare(config, allow_imports=allow_imports)
    recipe.loss = plain_sum(recipe.loss).attach(recipe.model)
    return recipe


def _run(recipe: Recipe, folder: Path, epochs: int, safe: bool, progress: bool, name: str) -> Run:
    """Train ``recipe`` for ``epochs``, writing ``run.csv`` and ``run.json`` to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    run = Run(recipe.model, recipe.loss, folder=folder, csv_path=folder / "run.csv")
    with _Logger(run.csv_path, folder if recipe.run.get("tensorboard") else None) as logger:
        for row in _bar(_steps(recipe, epochs, safe), epochs * recipe.steps_per_epoch, progress):
            logger.write(row)
            run.history.append(row)
    meta = {"config": name, "metrics": list(recipe.loss.metric_names)}
    (folder / "run.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return run


def _name(config: str | Path | Mapping[str, Any]) -> str:
    """How the plot's title names the run: the config file's name, or the run folder's for a mapping."""
    return Path(config).stem if isinstance(config, str | Path) else ""


# Everything a run writes into its folder: a folder holding any of them is another run's, never overwritten.
OUTPUTS = ("run.csv", "run.json", "run.png", "checkpoint.pt", "tensorboard", "baseline")


def _fresh_folder(recipe: Recipe, base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``, ... : the first that holds none of the files a run writes.

    A folder may hold other files (``run.dir: .``), but not one of :data:`OUTPUTS`, not even as a
    symlink, dangling or not: nothing a run writes follows a link out of its folder. ``run.csv``
    is created at once with ``O_EXCL`` (which refuses a link too), so that two runs started
    together take two folders. The
    next names of ``.`` (or any folder without a name of its own) are ``./run-2``, ``./run-3``, ...
    """
    folder, count = base, 1
    while True:
        try:
            if not any(os.path.lexists(folder / name) for name in OUTPUTS):
                folder.mkdir(parents=True, exist_ok=True)
                if _reserved(folder / "run.csv"):
                    return folder
        except OSError as error:  # a file in the way, no permission
            raise recipe.document.error(("run", "dir"), f"cannot write the run to {folder}: {error}") from None
        count += 1
        folder = base.with_name(f"{base.name}-{count}") if base.name not in ("", ".", "..") else base / f"run-{count}"


def _reserved(path: Path) -> bool:
    """Create ``path`` unless anything (a file, a link, another run's) is there already; whether it was."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        return False
    return True


def _checkpoint(recipe: Recipe, path: Path, steps: int) -> Path:
    """Save the model's and the loss's state, the config and the step count; ``torch.load`` reads it back safely."""
    state = {
        "model": recipe.model.state_dict(),
        "loss": recipe.loss.state_dict(),
        "config": recipe.document.data,
        "step": steps,
    }
    torch.save(state, path)
    return path


def _epochs(recipe: Recipe, epochs: int) -> Iterator[list[dict[str, Tensor]]]:
    """Each epoch's batches: the split shuffled in an order the seed fixes, or a problem's fresh points."""
    seed, size = recipe.settings["seed"], recipe.settings["data"].get("batch_size", 32)
    generator = torch.Generator().manual_seed(seed)  # a problem's points: one stream over all epochs
    for epoch in range(epochs):
        if recipe.problem is not None:
            yield [recipe.problem.sample(generator) for _ in range(recipe.steps_per_epoch)]
            continue
        order = torch.randperm(len(recipe.data["x"]), generator=torch.Generator().manual_seed(seed + epoch))
        yield [
            {name: values[order[i : i + size]] for name, values in recipe.data.items()}
            for i in range(0, len(order), size)
        ]


def _steps(recipe: Recipe, epochs: int, safe: bool) -> Iterator[dict[str, float]]:
    """Train, one row of metrics per step: the step's terms, and the validation's as of the last epoch's end.

    The validation is taken before the first step and after each epoch's last, whose row has it:
    the last row holds the trained model's.

    After each optimiser step the loss's due weight update is made from the batch just trained
    on (:meth:`LossModule.update_weights`: ``lr_annealing`` as its authors run it).
    """
    loss, optimizer = recipe.loss, recipe.optimizer
    validation = _validate(recipe, safe)
    step = 0
    for epoch, batches in enumerate(_epochs(recipe, epochs)):
        for index, batch in enumerate(batches):
            out = loss(recipe.outputs(batch))
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
            if recipe.schedule is not None:
                recipe.schedule.step()
            loss.update_weights(lambda batch=batch: recipe.outputs(batch))
            if index == len(batches) - 1:  # the epoch's last row has the validation at its end
                validation = _validate(recipe, safe)
            yield {"step": step, "epoch": epoch, **out.metrics(safe=safe), **validation}
            step += 1


def _validate(recipe: Recipe, safe: bool) -> dict[str, float]:
    """The validation metrics, from the model as it stands.

    The loss's terms on the held-out split as ``val/<term>``, in eval mode (no state moves), or a
    problem's relative error against its exact solution, ``val/rel_l2_error``.
    """
    if recipe.problem is not None:
        return {"val/rel_l2_error": recipe.problem.error(recipe.model)}
    if not len(recipe.validation["x"]):
        return {}
    recipe.loss.eval()
    try:
        with torch.no_grad():
            out = recipe.loss(recipe.outputs(recipe.validation))
        return out.metrics(prefix="val/", safe=safe)
    finally:
        recipe.loss.train()


def _bar(rows: Iterator[dict[str, float]], total: int, progress: bool) -> Iterator[dict[str, float]]:
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if not progress or tqdm is None:
        yield from rows
        return
    with tqdm(total=total, file=sys.stderr, unit="step", dynamic_ncols=True) as bar:
        for row in rows:
            bar.set_postfix({name: f"{value:.4g}" for name, value in row.items() if name not in AXES}, refresh=False)
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
                if name not in AXES:
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


def _titled(label: str, loss: LossModule) -> str:
    """A table's title: the label on a line of its own, then the formula indented, however many lines it has.

    Example:
        >>> import losslang
        >>> print(_titled("baseline", losslang.compile("a = mse(p, y); b = mae(p, y); a + b")))
        baseline:
            a = mse(p, y)
            b = mae(p, y)
            a + b
    """
    return "\n".join([f"{label}:", *(f"    {line}" for line in str(loss).splitlines())])


def _table(history: list[dict[str, float]]) -> str:
    """The first, last and best value of every term."""
    names = [name for name in history[0] if name not in AXES] if history else []
    width = max([len(name) for name in names] + [4])
    lines = [f"{'term':<{width}}  {'first':>10}  {'last':>10}  {'min':>10}"]
    for name in names:
        values = [row[name] for row in history]
        lines.append(f"{name:<{width}}  {values[0]:>10.4g}  {values[-1]:>10.4g}  {min(values):>10.4g}")
    return "\n".join(lines)
