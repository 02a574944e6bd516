"""The ``losslang`` command: check, explain, list terms and evaluate a loss from the shell.

Exit status: 0 on success, 1 when the loss (or its inputs) is bad, 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from losslang import __version__, explain
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
    why = f"it contains {separator!r}" if separator else f"it ends in {Path(target).suffix}"
    raise LossConfigError(
        f"{target}: no such file; it is read as a config path because {why} "
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
    for name in args.names or REGISTRY:  # the built-in terms, then those of installed plugins (loading them)
        try:
            spec = REGISTRY.lookup(name)
        except LossLangError as error:  # one broken plugin does not hide the rest
            print(f"warning: {error}", file=sys.stderr)
            continue
        if spec is None:  # only a name given on the command line can name nothing
            raise LossNameError(f"no term {name!r}{did_you_mean(name, REGISTRY)}; `losslang terms` lists them all")
        specs.setdefault(spec.name, spec)
    for spec in sorted(specs.values(), key=lambda spec: (spec.kind != "loss", spec.name)):
        aliases = f"  (alias {', '.join(spec.aliases)})" if spec.aliases else ""
        print(f"{spec.signature}{aliases}\n    {spec.summary}")
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
        raise LossConfigError(f"cannot read {path} with torch.load: {error}") from None
    if not isinstance(inputs, Mapping):
        raise LossConfigError(f"{path} must hold a dict of tensors, not {type(inputs).__name__}")
    return inputs


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
    )
    saved = [str(path) for path in (run.csv_path, run.png_path, run.checkpoint_path) if path is not None]
    if saved:
        print(f"wrote {', '.join(saved)}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from losslang.plot import plot_run

    print(f"wrote {plot_run(args.csv, args.out, terms=args.terms, linear=args.linear)}")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command-line parser, with one sub-command per job.

    Example:
        >>> parser().parse_args(["check", "mse(p, y)"]).loss
        'mse(p, y)'
    """
    main = argparse.ArgumentParser(prog="losslang", description="Write PyTorch losses as text.")
    main.add_argument("--version", action="version", version=f"losslang {__version__}")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:  # noqa: A002
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    def takes_loss(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("loss", help="a formula, or a YAML config file")
        sub.add_argument("--key", help="dotted path of the loss section in the YAML file (default: loss)")
        sub.add_argument("--allow-imports", action="store_true", help="let the config's imports: list import modules")

    takes_loss(command("check", _check, "check a loss; print its canonical form or the error"))
    explained = command("explain", _explain, "show a loss's inputs, terms, parameters, term tree and generated code")
    takes_loss(explained)
    explained.add_argument("--format", choices=("text", "dot", "mermaid", "json"), default="text", help="output format")
    listed = command("terms", _terms, "list every registered term with its signature, or only those named")
    listed.add_argument("names", nargs="*", help="terms (or aliases) to show, e.g. mse huber")
    evaluated = command("eval", _eval, "print every term's value on saved inputs")
    takes_loss(evaluated)
    evaluated.add_argument("--inputs", required=True, help="a .pt file (dict of tensors) or an .npz file")
    evaluated.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    trained = command("train", _train, "train the model of a YAML config with its loss, showing every term")
    trained.add_argument("config", help="a training config: model, data, optimizer, epochs, run and loss sections")
    trained.add_argument("--epochs", type=int, help="override the config's epochs")
    trained.add_argument("--out", help="override run.dir, where run.csv, run.png and checkpoint.pt go")
    trained.add_argument("--no-progress", action="store_true", help="no progress bar")
    trained.add_argument("--allow-imports", action="store_true", help="let the loss's imports: list import modules")
    trained.add_argument("--dry-run", action="store_true", help="build everything and run one step; write nothing")
    trained.add_argument(
        "--safe-names", action="store_true", help="log terms under logger-safe keys: mse(p, y) as mse_p_y"
    )
    plotted = command("plot", _plot, "redraw the per-term curves of one run.csv, or overlay several")
    plotted.add_argument("csv", nargs="+", help="run.csv files written by losslang train")
    plotted.add_argument("--out", help="the PNG to write (default: next to the first CSV)")
    plotted.add_argument("--terms", nargs="+", help="draw only these terms (and their val/ twins)")
    plotted.add_argument("--linear", action="store_true", help="a linear y axis instead of a logarithmic one")
    return main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``losslang`` command; returns the exit status.

    Example:
        >>> main(["check", "0.5*mse(pred,y)"])
        ok: 0.5 * mse(pred, y)
          read as: a formula
          inputs: pred, y
          metrics (no gradient): (none)
        0
    """
    args = parser().parse_args(argv)
    try:
        status: int = args.run(args)
        if sys.stdout is not None:  # None when started with stdout closed (`>&-`)
            sys.stdout.flush()  # a closed pipe or a full disk shows up here, not at exit
        return status
    except LossLangError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `losslang terms | head`: the reader left; say nothing more
        _discard_stdout()
        return 141
    except OSError as error:  # writing the output failed: `>/dev/full`
        _discard_stdout()
        print(f"error: cannot write the output: {error}", file=sys.stderr)
        return 1


def _discard_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's flush at exit does not fail again."""
    if sys.stdout is not None:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
