"""A training config -> everything a run needs: the model, the data, the optimizer and the loss, checked.

The data is a synthetic dataset (``data.dataset``), batched and held out as usual, or a
physics-informed problem (``data.problem``), which samples fresh points every step and validates
against its exact solution. ``model.apply`` says which inputs the model is applied to and under
which names its outputs reach the loss (default ``{output: x}``).

Every section (``seed``, ``epochs``, ``model``, ``data``, ``optimizer``, ``run``, ``loss``) is
checked before anything trains, each fault at its YAML node with a did-you-mean, so that
``losslang check`` on a training config catches what ``losslang train`` would fail on.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from losslang.bounds import Range
from losslang.config import build, missing_input
from losslang.datasets import DATASET_OPTIONS, DATASETS
from losslang.document import Document, Key, read
from losslang.errors import LossLangError, did_you_mean, shown
from losslang.module import LossModule
from losslang.problems import PROBLEM_OPTIONS, PROBLEMS, Helmholtz2D

SECTIONS = ("seed", "epochs", "model", "data", "optimizer", "run", "loss")
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
}
MAX_LAYERS = 100  # model.mlp.hidden: how many hidden layers a config may ask for
MAX_PARAMETERS = 50_000_000  # and how many weights in all: the demo job trains on a CPU
STEPS = Range(ge=1, le=10_000_000)  # data.steps: how many steps of a problem's fresh points make an epoch
VALIDATION = 0.2  # the share of the samples held out for validation, unless data.validation says otherwise


@dataclass
class Recipe:
    """A training config, read and checked: what :func:`losslang.train.train` runs.

    Attributes:
        document: the config, with the position of every value.
        settings: its sections, with the defaults filled in.
        loss: the compiled loss, attached to the model.
        model: the MLP the config describes.
        data: the training split: equally long tensors by name (empty for a problem).
        validation: the held-out split (empty tensors when ``data.validation`` is 0, or for a problem).
        optimizer: over the model's and the loss's parameters.
        run: the ``run`` section's options.
        problem: the physics-informed problem that samples each step's points, if the data is one.
        apply: the model's outputs by the name the loss reads them under, each from the input it is applied to.
        schedule: the learning-rate decay of ``optimizer.decay_rate`` and ``decay_steps``, if given.
    """

    document: Document
    settings: dict[str, Any]
    loss: LossModule
    model: nn.Module
    data: dict[str, Tensor]
    validation: dict[str, Tensor]
    optimizer: torch.optim.Optimizer
    run: dict[str, Any]
    problem: Helmholtz2D | None = None
    apply: dict[str, str] = field(default_factory=lambda: {"output": "x"})
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None

    @property
    def steps_per_epoch(self) -> int:
        """How many steps an epoch takes: ``data.steps`` for a problem, the batches of the split otherwise."""
        if self.problem is not None:
            return int(self.settings["data"].get("steps", 1000))
        return -(-len(next(iter(self.data.values()))) // self.settings["data"].get("batch_size", 32))

    def outputs(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The batch and the model's outputs on it, as the loss reads them."""
        return {**batch, **{name: self.model(batch[key]) for name, key in self.apply.items()}}


def is_training_config(data: Any) -> bool:
    """Whether a config holds a whole training run (a model or data section), not only a loss.

    Example:
        >>> is_training_config({"model": {}, "loss": "mse(p, y)"}), is_training_config({"loss": "mse(p, y)"})
        (True, False)
    """
    return isinstance(data, Mapping) and bool({"model", "data"} & set(data))


def prepare(config: str | Path | Mapping[str, Any], *, allow_imports: bool = False) -> Recipe:
    """Read and check a training config, and build what it describes (nothing trains yet).

    Raises:
        LossLangError: any section that does not follow the schema, at its YAML node.

    Example:
        >>> recipe = prepare({"model": {"mlp": {"inputs": 1}}, "data": {"dataset": "linear_multilabel", "samples": 10},
        ...                   "loss": "mse(output, label1)"})
        >>> len(recipe.data["x"]), len(recipe.validation["x"])
        (8, 2)
    """
    document = read(config)
    settings = _settings(document)
    torch.manual_seed(settings["seed"])
    loss = build(document, ("loss",), settings["loss"], allow_imports)
    spec = settings["data"]
    problem = _problem(document, spec) if isinstance(spec, Mapping) and "problem" in spec else None
    if problem is None:
        data, validation = _split(document, spec, _dataset(document, spec))
        provided = list(data)
        points = {name: values.shape[-1] for name, values in data.items() if values.dim() > 1}
        moments = data["x"].mean(0), data["x"].std(0)
    else:
        data, validation = {}, {}
        sample = problem.sample(torch.Generator())
        provided = list(sample)
        points = {name: values.shape[-1] for name, values in sample.items()}
        moments = problem.moments()
    model, apply = _model(document, settings["model"], points, moments)
    _check_inputs(document, loss, [*provided, *apply])
    loss.attach(model)
    optimizer, schedule = _optimizer(document, settings["optimizer"], [*model.parameters(), *loss.parameters()])
    options = _options(document, settings["run"])
    return Recipe(document, settings, loss, model, data, validation, optimizer, options, problem, apply, schedule)


def _check_inputs(document: Document, loss: LossModule, provided: list[str]) -> None:
    """Every input the loss reads is a column of the data or an output of the model, or an error where it is read."""
    for name, key in zip(loss.formula_inputs, loss.inputs, strict=True):
        if key not in provided:
            source = _data_source(document)
            hint = did_you_mean(key, provided)
            reason = (
                f"the loss reads the input {key!r}{hint}, which neither {source} nor the model gives; "
                f"the batch holds {', '.join(provided)} (model.apply names the model's outputs)"
            )
            raise missing_input(document, ("loss",), document.data["loss"], name, reason)


def _data_source(document: Document) -> str:
    """How messages name where the batches come from: ``the dataset linear_multilabel``, ``the problem ...``."""
    data = document.data["data"]
    return f"the dataset {data['dataset']}" if "dataset" in data else f"the problem {data['problem']}"


def _settings(document: Document) -> dict[str, Any]:
    data = document.data
    if not isinstance(data, Mapping):
        raise document.error((), "a training config must be a mapping of " + ", ".join(SECTIONS))
    for name in data:
        if name not in SECTIONS:
            hint = did_you_mean(name, SECTIONS) if isinstance(name, str) else ""
            nested = _nested_loss(data) if "loss" not in data else None
            if nested:  # a bigger config (Hydra's, say) holding a loss section: not a training config of losslang's
                hint += (
                    f"; this reads as a training config of losslang's; to use only its loss section, "
                    f"pass --key {nested} (key={nested!r} in losslang.load)"
                )
            raise document.error((name,), f"unknown section {shown(name)}{hint}; allowed: {', '.join(SECTIONS)}")
    for name in ("model", "data", "loss"):
        if name not in data:
            raise document.error((), f"the training config needs a {name!r} section")
    settings = {"seed": 0, "epochs": 10, "optimizer": {"name": "adam", "lr": 0.01}, "run": {}, **data}
    for name, low in (("seed", 0), ("epochs", 1)):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value < 2**63:
            raise document.error((name,), f"must be an integer from {low} to 2**63 - 1, not {shown(value)}")
    return settings


def _nested_loss(data: Mapping[Any, Any], depth: int = 3) -> str | None:
    """The dotted path of the first ``loss`` key below the top of ``data``, as ``--key`` takes it, if any.

    Example:
        >>> _nested_loss({"defaults": [], "model": {"loss": "mse(p, y)"}})
        'model.loss'
    """
    for name, value in data.items():
        if isinstance(value, Mapping) and isinstance(name, str) and depth > 0:
            if "loss" in value:
                return f"{name}.loss"
            deeper = _nested_loss(value, depth - 1)
            if deeper:
                return f"{name}.{deeper}"
    return None


def _options(document: Document, options: Any) -> dict[str, Any]:
    return dict(
        _checked(document, ("run",), options, {"dir": str, "tensorboard": bool, "plot": bool, "checkpoint": bool})
    )


def _checked(
    document: Document, path: Key, section: Any, allowed: Mapping[str, type | tuple[type, ...]]
) -> Mapping[str, Any]:
    """``section`` if it is a mapping whose keys are ``allowed`` with values of the given types."""
    if not isinstance(section, Mapping):
        raise document.error(path, f"must be a mapping with {', '.join(allowed)}")
    for name, value in section.items():
        if name not in allowed:
            hint = did_you_mean(name, allowed) if isinstance(name, str) else ""
            raise document.error((*path, name), f"unknown key {shown(name)}{hint}; allowed: {', '.join(allowed)}")
        if not isinstance(value, allowed[name]) or (isinstance(value, bool) and allowed[name] is not bool):
            raise document.error((*path, name), f"has the wrong type: {type(value).__name__}")
    return section


def _model(
    document: Document, spec: Any, points: Mapping[str, int], moments: tuple[Tensor, Tensor]
) -> tuple[nn.Module, dict[str, str]]:
    """The MLP, and ``model.apply``: each output's name and the input it is applied to.

    ``points`` gives the width of each input the model could be applied to; ``moments`` the mean
    and standard deviation of ``x`` (over the training split, or a problem's domain), by which
    ``mlp.standardize: true`` standardises every input first.
    """
    section = _checked(document, ("model",), spec, {"mlp": dict, "apply": dict})
    mlp = section.get("mlp")
    if mlp is None:
        raise document.error(("model",), "needs an mlp: {inputs: N, hidden: [...], outputs: M, activation: tanh}")
    path = ("model", "mlp")
    allowed = {"inputs": int, "hidden": list, "outputs": int, "activation": str, "init": str, "standardize": bool}
    mlp = _checked(document, path, mlp, allowed)
    activation = mlp.get("activation", "tanh")
    if not _names(activation, ACTIVATIONS):
        raise _unknown(document, path, "activation", mlp, ACTIVATIONS, "activation")
    if not _names(mlp.get("init", "default"), INITS):
        raise _unknown(document, path, "init", mlp, INITS, "init")
    if len(mlp.get("hidden", [])) > MAX_LAYERS:  # before anything else walks it
        where = (*path, "hidden")
        raise document.error(where, f"has {len(mlp['hidden']):,} layers; the limit is {MAX_LAYERS} hidden layers")
    widths = [mlp.get("inputs", 1), *mlp.get("hidden", []), mlp.get("outputs", 1)]
    if not all(isinstance(width, int) and not isinstance(width, bool) and 0 < width <= 100_000 for width in widths):
        raise document.error(path, f"layer widths must be integers from 1 to 100,000, not {shown(widths)}")
    parameters = sum((width_in + 1) * width_out for width_in, width_out in itertools.pairwise(widths))
    if parameters > MAX_PARAMETERS:  # refused before a single weight is allocated
        raise document.error(
            path, f"this MLP has {parameters:,} parameters; the limit is {MAX_PARAMETERS:,} (about 200 MB in float32)"
        )
    apply = _apply(document, section.get("apply", {"output": "x"}), points)
    source = _data_source(document)
    for key in apply.values():
        if widths[0] != points[key]:
            reason = f"is {widths[0]}, but {source} gives {key} with {points[key]} feature{'s' * (points[key] != 1)}"
            where = (*path, "inputs") if "inputs" in mlp else path
            raise document.error(where, f"{reason}: model.mlp.inputs and the data section disagree; make them match")
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
        layers += [nn.Linear(width_in, width_out)] + ([ACTIVATIONS[activation]()] if index < len(widths) - 2 else [])
    for layer in layers:
        if isinstance(layer, nn.Linear):
            INITS[mlp.get("init", "default")](layer)
    if mlp.get("standardize", False):
        layers.insert(0, Standardize(*moments))
    return nn.Sequential(*layers), apply


class Standardize(nn.Module):
    """``(x - mean) / std`` with fixed statistics, the first layer of a standardising MLP.

    Example:
        >>> import torch
        >>> Standardize(torch.tensor([1.0]), torch.tensor([2.0]))(torch.tensor([[5.0]]))
        tensor([[2.]])
    """

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clamp_min(1e-12))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` standardised."""
        return (x - self.mean) / self.std


def _apply(document: Document, apply: Mapping[Any, Any], points: Mapping[str, int]) -> dict[str, str]:
    """``model.apply``, checked: output names to the inputs (of at least one feature column) the model reads."""
    path = ("model", "apply")
    if not apply:
        raise document.error(path, "must name at least one output, as {output: x}")
    for name, key in apply.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise document.error((*path, name), f"an output's name must be a formula name, not {shown(name)}")
        if key not in points:
            hint = did_you_mean(key, points) if isinstance(key, str) else ""
            reads = ", ".join(points)
            raise document.error((*path, name), f"the model cannot be applied to {shown(key)}{hint}; it reads {reads}")
    return dict(apply)


def _xavier_normal(layer: nn.Linear) -> None:
    """Xavier-normal weights and zero biases, as the physics-informed literature's code initialises."""
    nn.init.xavier_normal_(layer.weight)
    nn.init.zeros_(layer.bias)


# How model.mlp.init initialises each linear layer: torch's own default, or Xavier-normal with zero biases.
INITS: dict[str, Callable[[nn.Linear], None]] = {"default": lambda layer: None, "xavier_normal": _xavier_normal}


def _dataset(document: Document, spec: Any) -> dict[str, Tensor]:
    path = ("data",)
    if not isinstance(spec, Mapping) or not _names(spec.get("dataset"), DATASETS):
        raise _unknown(document, path, "dataset", spec, DATASETS, "dataset")
    options = {name: value for name, value in spec.items() if name not in ("dataset", "batch_size", "validation")}
    batch_size = spec.get("batch_size", 32)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise document.error((*path, "batch_size"), f"must be a positive integer, not {shown(batch_size)}")
    _integers(document, spec["dataset"], options, DATASET_OPTIONS[spec["dataset"]])
    return DATASETS[spec["dataset"]](**options)


def _integers(document: Document, owner: str, options: Mapping[str, Any], ranges: Mapping[str, Range]) -> None:
    """Check the data section's ``options`` of the dataset or problem ``owner``: known names, integers in range."""
    for name, value in options.items():
        if name not in ranges:
            hint = did_you_mean(name, ranges) if isinstance(name, str) else ""
            raise document.error(
                ("data", name), f"{owner} has no option {shown(name)}{hint}; it has {', '.join(ranges)}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or not ranges[name].admits(value):
            raise document.error(("data", name), f"must be an integer {ranges[name]}, not {shown(value)}")


def _names(value: Any, choices: Mapping[str, Any]) -> bool:
    """Whether ``value`` is one of the names ``choices`` has: a string (a list or mapping is none, not a crash)."""
    return isinstance(value, str) and value in choices


def _unknown(
    document: Document, path: Key, key: str, section: Any, choices: Mapping[str, Any], what: str
) -> LossLangError:
    """The error for a ``key`` of ``section`` that names none of ``choices``: at the value, with the did-you-mean."""
    value = section.get(key) if isinstance(section, Mapping) else None
    if value is None:
        return document.error(path, f"needs a {key}: one of {', '.join(choices)}")
    if not isinstance(value, str):
        return document.error((*path, key), f"must name one {what}: one of {', '.join(choices)}; not {shown(value)}")
    hint = did_you_mean(value, choices)
    return document.error((*path, key), f"unknown {what} {shown(value)}{hint}; choose one of {', '.join(choices)}")


def _split(document: Document, spec: Mapping[str, Any], data: dict[str, Tensor]) -> tuple[dict[str, Tensor], ...]:
    """The training and the validation split: the last ``data.validation`` share of the samples is held out."""
    share = spec.get("validation", VALIDATION)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
        raise document.error(
            ("data", "validation"), f"must be a share of the samples from 0 to below 1, not {shown(share)}"
        )
    samples = len(next(iter(data.values())))
    held = min(round(samples * share), samples - 1)
    return {k: v[: samples - held] for k, v in data.items()}, {k: v[samples - held :] for k, v in data.items()}


def _optimizer(
    document: Document, spec: Any, params: list[nn.Parameter]
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    """The optimizer, and the learning-rate decay ``lr * decay_rate ** (step / decay_steps)`` if asked for."""
    path = ("optimizer",)
    if not isinstance(spec, Mapping) or not _names(spec.get("name", "adam"), OPTIMIZERS):
        raise _unknown(document, path, "name", spec, OPTIMIZERS, "optimizer")
    options = {name: value for name, value in spec.items() if name not in ("name", "decay_rate", "decay_steps")}
    decay = {name: spec[name] for name in ("decay_rate", "decay_steps") if name in spec}
    rate, steps = decay.get("decay_rate", 1.0), decay.get("decay_steps", 1)
    if decay and (isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1):
        raise document.error((*path, "decay_rate"), f"must be a number above 0 and at most 1, not {shown(rate)}")
    if decay and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise document.error((*path, "decay_steps"), f"must be a positive integer, not {shown(steps)}")
    for name, value in options.items():
        numbers = value if isinstance(value, list) else [value]
        if not numbers or not all(isinstance(number, int | float) and math.isfinite(number) for number in numbers):
            raise document.error(
                (*path, name), f"must be a finite number, a boolean or a list of numbers, not {shown(value)}"
            )
    try:
        optimizer = OPTIMIZERS[spec.get("name", "adam")](params, **options)
    except (TypeError, ValueError, RuntimeError) as error:
        raise document.error(path, f"bad optimizer option: {error}") from None
    if not decay:
        return optimizer, None
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: rate ** (step / steps))


def _problem(document: Document, spec: Mapping[str, Any]) -> Helmholtz2D:
    """The physics-informed problem of ``data.problem``, its options checked."""
    path = ("data",)
    if not _names(spec["problem"], PROBLEMS):
        raise _unknown(document, path, "problem", spec, PROBLEMS, "problem")
    if "dataset" in spec:
        raise document.error((*path, "problem"), "give either dataset or problem, not both")
    options = {name: value for name, value in spec.items() if name != "problem"}
    _integers(document, spec["problem"], options, {**PROBLEM_OPTIONS[spec["problem"]], "steps": STEPS})
    return PROBLEMS[spec["problem"]](**{name: value for name, value in options.items() if name != "steps"})
