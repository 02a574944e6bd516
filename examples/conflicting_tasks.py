"""Two tasks whose gradients conflict, trained with a plain sum, PCGrad, MGDA, UPGrad and FAMO: one config each.

The configs in ``examples/conflicting_tasks/`` differ in their ``total`` line only. The model's
shared trunk narrows to one unit, so it can carry what one task needs but not both, and the
second task's loss is about 140 times the first's. Each method settles somewhere on the trade-off;
the table shows where, per task and relative to the task's variance (1 = nothing learnt).

    python examples/conflicting_tasks.py                     # 60 epochs, seeds 0 and 1
    python examples/conflicting_tasks.py --epochs 5 --plot docs/conflicting_tasks.png

Prints a Markdown table of the final validation losses, and draws the per-term validation curves
of every method, overlaid, to ``--plot``.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import torch

from losslang.datasets import conflicting_tasks
from losslang.document import read
from losslang.plot import plot_run
from losslang.train import train

FOLDER = Path(__file__).resolve().parent / "conflicting_tasks"
METHODS = ("sum", "pcgrad", "mgda", "upgrad", "famo")


def compare(epochs: int, seeds: tuple[int, ...], folder: Path) -> list[dict[str, float | str]]:
    """Train every method's config for ``epochs`` at each seed under ``folder``; one row per run."""
    variances = {name: float(values.var()) for name, values in conflicting_tasks(1024).items() if name != "x"}
    rows: list[dict[str, float | str]] = []
    for method in METHODS:
        for seed in seeds:
            config = {**read(FOLDER / f"{method}.yaml").data, "seed": seed}
            start = time.perf_counter()
            run = train(
                config, epochs=epochs, run_dir=folder / f"{method}-{seed}", progress=False, stream=io.StringIO()
            )
            seconds = time.perf_counter() - start
            final = run.final
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "y1": final["val/y1_loss"],
                    "y2": final["val/y2_loss"],
                    "y1 / var": final["val/y1_loss"] / variances["y1"],
                    "y2 / var": final["val/y2_loss"] / variances["y2"],
                    "s": seconds,
                }
            )
    return rows


def table(rows: list[dict[str, float | str]]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| method | seed | val y1_loss | val y2_loss | y1 / var(y1) | y2 / var(y2) | wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| `{row['method']}` | {row['seed']} | {row['y1']:.3g} | {row['y2']:.3g} | "
            f"{row['y1 / var']:.3f} | {row['y2 / var']:.3f} | {row['s']:.1f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--plot", help="where to draw the overlaid validation curves (seed 0)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        rows = compare(args.epochs, tuple(args.seeds), Path(scratch))
        if args.plot:
            csvs = [Path(scratch) / f"{method}-{args.seeds[0]}" / "run.csv" for method in METHODS]
            plot_run(csvs, args.plot, terms=["val/y1_loss", "val/y2_loss"])
    print(table(rows))


if __name__ == "__main__":
    main()
