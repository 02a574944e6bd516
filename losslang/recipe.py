"""A training config -> everything a run needs: the model, the data, the optimizer and the loss, checked.

Every section (``seed``, ``epochs``, ``model``, ``data``, ``optimizer``, ``run``, ``loss``) is
checked before anything trains, each fault at its YAML node with a did-you-mean, so that
``losslang check`` on a training config catches what ``losslang train`` would fail on.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from losslang.config import build
from losslang.datasets import DATASET_OPTIONS, DATASETS
from losslang.document import Document, Key, read
from losslang.errors import LossLangError, did_you_mean, shown
from losslang.module import LossModule

SECTIONS = ("seed", "epochs", "model", "data", "optimizer", "run", "loss")
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
}
VALIDATION = 0.2  # the share of the samples held out for validation, unless data.validation says otherwise


@dataclass
class Recipe:
    """A training config, read and checked: what :func:`losslang.train.train` runs.

    Attributes:
        document: the config, with the position of every value.
        settings: its sections, with the defaults filled in.
        loss: the compiled loss, attached to the model.
        model: the MLP the config describes.
        data: the training split: equally long tensors by name.
        validation: the held-out split (empty tensors when ``data.validation`` is 0).
        optimizer: over the model's and the loss's parameters.
        run: the ``run`` section's options.
    """

    document: Document
    settings: dict[str, Any]
    loss: LossModule
    model: nn.Module
    data: dict[str, Tensor]
    validation: dict[str, Tensor]
    optimizer: torch.optim.Optimizer
    run: dict[str, Any]


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
    data, validation = _split(document, settings["data"], _dataset(document, settings["data"]))
    model = _model(document, settings["model"], data)
    loss.attach(model)
    optimizer = _optimizer(document, settings["optimizer"], [*model.parameters(), *loss.parameters()])
    return Recipe(document, settings, loss, model, data, validation, optimizer, _options(document, settings["run"]))


def _settings(document: Document) -> dict[str, Any]:
    data = document.data
    if not isinstance(data, Mapping):
        raise document.error((), "a training config must be a mapping of " + ", ".join(SECTIONS))
    for name in data:
        if name not in SECTIONS:
            hint = did_you_mean(name, SECTIONS) if isinstance(name, str) else ""
            raise document.error((name,), f"unknown section {shown(name)}{hint}; allowed: {', '.join(SECTIONS)}")
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


def _model(document: Document, spec: Any, data: Mapping[str, Tensor]) -> nn.Module:
    mlp = _checked(document, ("model",), spec, {"mlp": dict}).get("mlp")
    if mlp is None:
        raise document.error(("model",), "needs an mlp: {inputs: N, hidden: [...], outputs: M, activation: tanh}")
    path = ("model", "mlp")
    mlp = _checked(document, path, mlp, {"inputs": int, "hidden": list, "outputs": int, "activation": str})
    activation = mlp.get("activation", "tanh")
    if activation not in ACTIVATIONS:
        raise _unknown(document, path, "activation", mlp, ACTIVATIONS, "activation")
    widths = [mlp.get("inputs", 1), *mlp.get("hidden", []), mlp.get("outputs", 1)]
    if not all(isinstance(width, int) and not isinstance(width, bool) and 0 < width <= 100_000 for width in widths):
        raise document.error(path, f"layer widths must be integers from 1 to 100,000, not {shown(widths)}")
    features = data["x"].shape[-1]
    if widths[0] != features:
        dataset = document.data["data"]["dataset"]
        reason = f"is {widths[0]}, but the dataset {dataset} gives x with {features} feature{'s' * (features != 1)}"
        where = (*path, "inputs") if "inputs" in mlp else path
        raise document.error(where, f"{reason}: model.mlp.inputs and the data section disagree; make them match")
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
        layers += [nn.Linear(width_in, width_out)] + ([ACTIVATIONS[activation]()] if index < len(widths) - 2 else [])
    return nn.Sequential(*layers)


def _dataset(document: Document, spec: Any) -> dict[str, Tensor]:
    path = ("data",)
    if not isinstance(spec, Mapping) or spec.get("dataset") not in DATASETS:
        raise _unknown(document, path, "dataset", spec, DATASETS, "dataset")
    options = {name: value for name, value in spec.items() if name not in ("dataset", "batch_size", "validation")}
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


def _unknown(
    document: Document, path: Key, key: str, section: Any, choices: Mapping[str, Any], what: str
) -> LossLangError:
    """The error for a ``key`` of ``section`` that names none of ``choices``: at the value, with the did-you-mean."""
    value = section.get(key) if isinstance(section, Mapping) else None
    if not isinstance(value, str):
        return document.error(path, f"needs a {key}: one of {', '.join(choices)}")
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


def _optimizer(document: Document, spec: Any, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    path = ("optimizer",)
    if not isinstance(spec, Mapping) or spec.get("name", "adam") not in OPTIMIZERS:
        raise _unknown(document, path, "name", spec, OPTIMIZERS, "optimizer")
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
