"""The jobs of the ``losslang`` command: check, explain, list terms, evaluate, train and plot.

:mod:`losslang.cli` parses the command line, then calls one of these by name; they import
torch, so a command line that only asks for help, the version or is wrong never loads it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from losslang import explain
from losslang.config import load
from losslang.document import read
from losslang.errors import LossConfigError, LossLangError, LossNameError, did_you_mean
from losslang.module import LossModule
from losslang.recipe import is_training_config, prepare
from losslang.registry import REGISTRY, TermSpec

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def _loss(args: argparse.Namespace) -> LossModule:
    """A formula given on the command line, or a YAML file's loss."""
    if _is_config(args.loss):
        return load(args.loss, key=args.key, allow_imports=args.allow_imports)
    return LossModule(args.loss)


def _is_config(target: str) -> bool:
    """Whether ``target`` names a config file rather than being a formula.

    An existing file is a config. So is one word (no spaces, brackets or operators but ``/``) with
    a path separator or a config extension, which must then exist: ``check configs/myloss`` must
    not pass as the formula ``configs / myloss``.

    Raises:
        LossConfigError: ``target`` reads as a path, but names no file.
    """
    if _is_file(target):
        return True
    if _is_dir(target):
        raise LossConfigError(
            f"{target}: a directory; give a config file (or write a formula of one name as ({target}))"
        )
    separator = next((sep for sep in ("/", os.sep) if sep in target), None)
    if set(target) & set(" \t\n()[],=+*") or not (separator or target.endswith(CONFIG_SUFFIXES)):
        return False
    if target.endswith(CONFIG_SUFFIXES):  # a config's name: nothing about it reads as a formula
        raise LossConfigError(f"{target}: no such file")
    raise LossConfigError(
        f"{target}: no such file; it is read as a config path because it contains {separator!r} "
        "(to check a formula, write it with spaces, as in 'a / b')"
    )


def _is_dir(target: str) -> bool:
    return _path_test(target, Path.is_dir)


def _is_file(target: str) -> bool:
    return _path_test(target, Path.is_file)


def _path_test(target: str, test: Callable[[Path], bool]) -> bool:
    try:
        return test(Path(target))
    except (OSError, ValueError):  # a formula too long to be a file name
        return False


def _check(args: argparse.Namespace) -> int:
    config = _is_config(args.loss)
    if config and args.key is None and is_training_config(read(args.loss).data):  # every section, not only the loss
        loss = prepare(args.loss, allow_imports=args.allow_imports).loss
        source = f"the training config {args.loss} (its model, data, optimizer and run sections too)"
    else:
        loss = _loss(args)
        source = (
            f"the config file {args.loss}" + (f" (section {args.key})" if args.key else "") if config else "a formula"
        )
    print(f"ok: {_indented(str(loss))}")
    print(f"  read as: {source}")
    print(f"  inputs: {', '.join(loss.inputs) or '(none)'}")
    print(f"  metrics (no gradient): {', '.join(loss.metric_names) or '(none)'}")
    return 0


def _indented(text: str) -> str:
    return text.replace("\n", "\n    ")


def _explain(args: argparse.Namespace) -> int:
    loss = _loss(args)
    render: dict[str, Callable[[LossModule], str]] = {
        "text": explain.summary,
        "dot": explain.dot,
        "mermaid": explain.mermaid,
        "json": lambda loss: json.dumps(explain.as_dict(loss), indent=2),
    }
    print(render[args.format](loss))
    return 0


def _terms(args: argparse.Namespace) -> int:
    specs: dict[str, TermSpec] = {}
    unknown = []
    for name in args.names or REGISTRY:  # the built-in terms, then those of installed plugins (loading them)
        try:
            spec = REGISTRY.lookup(name)
        except LossLangError as error:  # one broken plugin does not hide the rest
            print(f"warning: {error}", file=sys.stderr)
            continue
        if spec is None:  # only a name given on the command line can name nothing
            unknown.append(f"no term {name!r}{did_you_mean(name, REGISTRY)}")
            continue
        specs.setdefault(spec.name, spec)
    for spec in sorted(specs.values(), key=lambda spec: (spec.kind != "loss", spec.name)):
        aliases = f"  (alias {', '.join(spec.aliases)})" if spec.aliases else ""
        print(f"{spec.signature}{aliases}\n    {spec.summary}")
    if unknown:  # the names that exist are shown first, then every one that does not, together
        raise LossNameError(f"{'; '.join(unknown)}; `losslang terms` lists them all")
    return 0


def _eval(args: argparse.Namespace) -> int:
    loss = _loss(args).eval()
    with torch.no_grad():
        out = loss(_read_inputs(Path(args.inputs)))
    metrics = out.metrics()
    if args.format == "json":
        shapes = {name: list(out[name].shape) for name in metrics}
        print(json.dumps({name: {"value": value, "shape": shapes[name]} for name, value in metrics.items()}, indent=2))
        return 0
    width = max(map(len, metrics))
    for name, value in metrics.items():
        shape = tuple(out[name].shape)
        note = f"  (mean of shape {shape})" if shape else ""
        print(f"{name:<{width}}  {value:.6g}{note}")
    return 0


def _read_inputs(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        raise LossConfigError(f"no inputs file {path}")
    if path.suffix == ".npz":
        try:
            import numpy as np
        except ImportError:
            raise LossConfigError("reading .npz files needs numpy: pip install numpy") from None
        try:
            with np.load(path) as arrays:  # allow_pickle stays False: an inputs file never runs code
                return {name: torch.from_numpy(arrays[name]) for name in arrays.files}
        except Exception as error:  # not an .npz, pickled objects (refused), strings
            raise LossConfigError(f"cannot read {path} as an .npz of arrays: {error}") from None
    try:
        inputs = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:
        # torch's own text is long and advises weights_only=False, which would run the file's code: not quoted.
        objects = "Unsupported global" in str(error)
        what = "holds Python objects besides tensors, which are never unpickled" if objects else "is not readable"
        raise LossConfigError(
            f"cannot read {path}: it {what} (torch.load with weights_only=True: {type(error).__name__}); "
            "give a file that torch.save wrote of a dict of tensors, or an .npz"
        ) from None
    if not isinstance(inputs, Mapping):
        raise LossConfigError(f"{path} must hold a dict of tensors, not {type(inputs).__name__}")
    _check_size(path, inputs)
    return inputs


MAX_INPUT_BYTES = 2**30  # what the tensors of an inputs file may take once computed on: 1 GiB


def _check_size(path: Path, inputs: Mapping[str, Any]) -> None:
    """Refuse inputs that would take more than :data:`MAX_INPUT_BYTES` once computed on.

    A tensor's bytes are its elements times their size, not its storage's: a 1.5 kB file can hold
    a stride-0 expanded tensor of billions of elements, which the first operation materialises.
    """
    stack, needed = [("", inputs)], 0
    while stack:
        prefix, mapping = stack.pop()
        for name, value in mapping.items():
            if isinstance(value, Mapping):
                stack.append((f"{prefix}{name}.", value))
            elif isinstance(value, torch.Tensor):
                needed += value.numel() * value.element_size()
                if needed > MAX_INPUT_BYTES:
                    raise LossConfigError(
                        f"{path}: the inputs take more than {MAX_INPUT_BYTES / 2**30:g} GiB once computed on "
                        f"('{prefix}{name}' of shape {tuple(value.shape)} alone is {_size(value)}, though the file "
                        f"may store far less); the limit keeps a small file from exhausting memory"
                    )


def _size(value: torch.Tensor) -> str:
    size, units = float(value.numel() * value.element_size()), ["bytes", "kB", "MB", "GB", "TB"]
    while size >= 1000 and len(units) > 1:
        size, units = size / 1000, units[1:]
    return f"{size:.3g} {units[0]}"


def _train(args: argparse.Namespace) -> int:
    from losslang.train import train

    run = train(
        args.config,
        epochs=args.epochs,
        run_dir=args.out,
        progress=not args.no_progress,
        allow_imports=args.allow_imports,
        dry_run=args.dry_run,
        safe_names=args.safe_names,
        baseline=args.baseline,
    )
    saved = [str(path) for path in (run.csv_path, run.png_path, run.checkpoint_path) if path is not None]
    if saved:
        print(f"wrote {', '.join(saved)}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from losslang.plot import plot_run

    print(f"wrote {plot_run(args.csv, args.out, terms=args.terms, linear=args.linear)}")
    return 0
