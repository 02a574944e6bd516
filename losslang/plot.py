"""Per-term training curves from a run's CSV, drawn with matplotlib (the ``[plot]`` extra)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from losslang.document import read_text
from losslang.errors import LossConfigError


def read_run(csv_path: str | Path) -> dict[str, list[float]]:
    r"""The columns of a run CSV written by ``losslang train``: ``step`` and one per term.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.csv"
        >>> _ = path.write_text("step,epoch,total\n0,0,2.5\n1,0,1.5\n")
        >>> read_run(path)
        {'step': [0.0, 1.0], 'epoch': [0.0, 0.0], 'total': [2.5, 1.5]}
    """
    text = read_text(Path(csv_path), limit=2**30, what="a run CSV")
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as error:  # a NUL byte
        raise LossConfigError(f"cannot read {csv_path} as a run CSV: {error}") from None
    if not rows or "step" not in rows[0]:
        raise LossConfigError(f"{csv_path} is not a losslang run: it needs a header with a 'step' column")
    try:
        return {name: [float(row[name]) for row in rows] for name in rows[0]}
    except (TypeError, ValueError) as error:
        raise LossConfigError(f"{csv_path} has a value that is not a number: {error}") from None


def plot_run(csv_path: str | Path, png_path: str | Path | None = None) -> Path:
    r"""Draw every term's curve against the step on a log scale, weights on a second panel.

    Raises:
        LossConfigError: matplotlib is missing, or the CSV is not a run.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "run.csv").write_text("step,epoch,total,weight/a\n0,0,2.5,1\n1,0,1.5,0.5\n")
        >>> plot_run(folder / "run.csv", folder / "run.png").stat().st_size > 0
        True
    """
    columns = read_run(csv_path)
    png_path = Path(csv_path).with_suffix(".png") if png_path is None else png_path  # a CSV that was read has a name
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LossConfigError("plotting needs matplotlib: pip install 'losslang[plot]'") from None
    steps = columns.pop("step")
    columns.pop("epoch", None)
    weights = {name: values for name, values in columns.items() if name.startswith(("weight/", "grad_norm/"))}
    terms = {name: values for name, values in columns.items() if name not in weights}
    figure, axes = plt.subplots(2 if weights else 1, 1, figsize=(9, 7 if weights else 4.5), squeeze=False)
    for axis, curves, title in zip(axes[:, 0], (terms, weights), ("terms", "weights and gradient norms"), strict=False):
        for name, values in curves.items():
            axis.plot(steps, values, label=name, linewidth=2.5 if name == "total" else 1.2)
        axis.set(
            xlabel="step", title=title, yscale="log" if all(v > 0 for c in curves.values() for v in c) else "linear"
        )
        axis.legend(fontsize="small")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    try:
        figure.savefig(png_path, dpi=110)
    except (OSError, ValueError) as error:  # a missing folder; an extension matplotlib cannot write
        raise LossConfigError(f"cannot write the plot to {png_path}: {error}") from None
    finally:
        plt.close(figure)
    return Path(png_path)
