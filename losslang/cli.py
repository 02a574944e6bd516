"""The ``losslang`` command: check, explain, list terms and evaluate a loss from the shell.

The command line is parsed before anything heavy is imported: ``--help``, ``--version`` and a
bad command line answer at once, without torch. The jobs live in :mod:`losslang.commands`.

Exit status: 0 on success, 1 when the loss (or its inputs) is bad, 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from losslang import __version__
from losslang.errors import LossLangError, did_you_mean


class _Parser(argparse.ArgumentParser):
    """argparse's parser, adding the did-you-mean to an unknown command or choice (``losslang chek``)."""

    def error(self, message: str) -> NoReturn:
        """Exit 2 with the usage and ``message``, and the closest choice when a word was not one."""
        wrong = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if wrong:
            choices = [choice.strip(" '") for choice in wrong.group(2).split(",")]
            message += did_you_mean(wrong.group(1), choices)
        super().error(message)


def parser() -> argparse.ArgumentParser:
    """The command-line parser, with one sub-command per job.

    Example:
        >>> parser().parse_args(["check", "mse(p, y)"]).loss
        'mse(p, y)'
    """
    main = _Parser(prog="losslang", description="Write PyTorch losses as text.")
    main.add_argument("--version", action="version", version=f"losslang {__version__}")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: str, help: str) -> argparse.ArgumentParser:  # noqa: A002
        """A sub-command whose job is the function ``run`` of :mod:`losslang.commands`."""
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    def takes_loss(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("loss", help="a formula, or a YAML config file")
        sub.add_argument("--key", help="dotted path of the loss section in the YAML file (default: loss)")
        sub.add_argument("--allow-imports", action="store_true", help="let the config's imports: list import modules")

    takes_loss(command("check", "_check", "check a loss; print its canonical form or the error"))
    explained = command("explain", "_explain", "show a loss's inputs, terms, parameters, term tree and generated code")
    takes_loss(explained)
    explained.add_argument("--format", choices=("text", "dot", "mermaid", "json"), default="text", help="output format")
    listed = command("terms", "_terms", "list every registered term with its signature, or only those named")
    listed.add_argument("names", nargs="*", help="terms (or aliases) to show, e.g. mse huber")
    evaluated = command("eval", "_eval", "print every term's value on saved inputs")
    takes_loss(evaluated)
    evaluated.add_argument("--inputs", required=True, help="a .pt file (dict of tensors) or an .npz file")
    evaluated.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    trained = command("train", "_train", "train the model of a YAML config with its loss, showing every term")
    trained.add_argument("config", help="a training config: model, data, optimizer, epochs, run and loss sections")
    trained.add_argument("--epochs", type=int, help="override the config's epochs")
    trained.add_argument("--out", help="override run.dir, where run.csv, run.png and checkpoint.pt go")
    trained.add_argument("--no-progress", action="store_true", help="no progress bar")
    trained.add_argument("--allow-imports", action="store_true", help="let the loss's imports: list import modules")
    trained.add_argument("--dry-run", action="store_true", help="build everything and run one step; write nothing")
    trained.add_argument(
        "--safe-names", action="store_true", help="log terms under logger-safe keys: mse(p, y) as mse_p_y"
    )
    trained.add_argument(
        "--baseline",
        action="store_true",
        help="train again with every weighting scheme replaced by a plain sum, and overlay both runs in the plot",
    )
    plotted = command("plot", "_plot", "redraw the per-term curves of one run.csv, or overlay several")
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
        from losslang import commands  # torch, from here on

        status: int = getattr(commands, args.run)(args)
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
