"""Per-term training curves from a run's CSV, drawn with matplotlib (the ``[plot]`` extra)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from losslang.document import read_text
from losslang.errors import LossConfigError, did_you_mean


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


def read_meta(csv_path: str | Path) -> dict[str, Any]:
    """What ``losslang train`` wrote beside a run CSV in ``run.json``: the config's name and the metrics.

    Example:
        >>> import tempfile, pathlib
        >>> read_meta(pathlib.Path(tempfile.mkdtemp()) / "run.csv")  # no run.json: nothing known
        {}
    """
    path = Path(csv_path).with_name("run.json")
    try:
        meta = json.loads(read_text(path, what="a run.json")) if path.is_file() else {}
    except (LossConfigError, ValueError):
        return {}  # a damaged run.json costs the labels, not the plot
    return meta if isinstance(meta, dict) else {}


def plot_run(
    csv_path: str | Path | Sequence[str | Path],
    png_path: str | Path | None = None,
    *,
    terms: Sequence[str] | None = None,
    linear: bool = False,
    smoothing: float = 0.9,
) -> Path:
    r"""Draw each term's curve against the step: smoothed, with the raw values faint behind.

    Metrics (no gradient) are dashed, the validation split's terms (``val/``) dotted in their
    term's colour, the total drawn thicker; dynamic weights and gradient norms get a second panel.
    Several CSVs overlay their runs: a colour per run, labelled by its folder, and a marker per
    term.

    Args:
        csv_path: a run CSV written by ``losslang train``, or several to overlay.
        png_path: where to write the figure (default: next to the first CSV).
        terms: draw only these terms (default: all).
        linear: a linear y axis (default: logarithmic when every value is positive).
        smoothing: the exponential moving average's weight of the past, 0 (raw) to below 1.

    Raises:
        LossConfigError: matplotlib is missing, a CSV is not a run, or a term is in none of them.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "run.csv").write_text("step,epoch,total,weight/a\n0,0,2.5,1\n1,0,1.5,0.5\n")
        >>> plot_run(folder / "run.csv", folder / "run.png").stat().st_size > 0
        True
    """
    paths = [Path(csv_path)] if isinstance(csv_path, str | Path) else [Path(path) for path in csv_path]
    if not paths:
        raise LossConfigError("plot needs at least one run CSV")
    runs = [(path, read_run(path), read_meta(path)) for path in paths]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LossConfigError("plotting needs matplotlib: pip install 'losslang[plot]'") from None
    wanted = _wanted(runs, terms)
    weighted = any(_is_weight(name) for _, columns, _ in runs for name in columns if name in wanted or terms is None)
    figure, axes = plt.subplots(2 if weighted else 1, 1, figsize=(10, 8 if weighted else 5), squeeze=False)
    colours: dict[str, Any] = {}
    for index, (path, columns, meta) in enumerate(runs):
        label = f"{path.parent.name}: " if len(runs) > 1 else ""
        steps = columns["step"]
        for name, values in columns.items():
            if name not in wanted or name.startswith("skipped/"):
                continue
            axis = axes[1 if weighted and _is_weight(name) else 0, 0]
            base = name.removeprefix("val/")
            colour = colours.setdefault(base, f"C{len(colours) % 10}")
            style = ":" if name.startswith("val/") else "--" if base in meta.get("metrics", ()) else "-"
            width = 2.6 if base == "total" else 1.6
            marks: dict[str, Any] = {}
            if len(runs) > 1:  # a colour per run; the terms of one kind told apart by their markers
                colour = f"C{index % 10}"
                marks = {"marker": _MARKERS[list(colours).index(base) % len(_MARKERS)], "markevery": 0.1}
            axis.plot(steps, values, color=colour, alpha=0.2, linewidth=0.8)
            axis.plot(
                steps,
                _smoothed(values, smoothing),
                color=colour,
                linestyle=style,
                linewidth=width,
                label=f"{label}{name}",
                **marks,
            )
    title = " vs ".join(str(meta.get("config") or path.parent.name) for path, _, meta in runs)
    for axis, heading, ylabel in zip(
        axes[:, 0],
        ("terms", "dynamic weights and gradient norms"),
        ("loss value", "weight / gradient norm"),
        strict=False,
    ):
        values = [v for line in axis.get_lines() for v in line.get_ydata()]
        log = not linear and bool(values) and all(v > 0 for v in values)
        axis.set(
            xlabel="step",
            ylabel=ylabel + (" (log scale)" if log else ""),
            yscale="log" if log else "linear",
            title=f"{title}: {heading}",
        )
        axis.legend(fontsize="small", ncol=2 if len(axis.get_lines()) > 16 else 1)
        axis.grid(alpha=0.3, which="both" if log else "major")
    figure.text(
        0.99,
        0.005,
        f"smoothed (EMA {smoothing:g}); raw values faint; metrics dashed, val/ dotted",
        ha="right",
        va="bottom",
        fontsize="x-small",
        alpha=0.7,
    )
    figure.tight_layout()
    target = Path(png_path) if png_path is not None else paths[0].with_suffix(".png")  # a CSV that was read has a name
    try:
        figure.savefig(target, dpi=110)
    except (OSError, ValueError) as error:  # a missing folder; an extension matplotlib cannot write
        raise LossConfigError(f"cannot write the plot to {target}: {error}") from None
    finally:
        plt.close(figure)
    return target


_MARKERS = ("o", "s", "^", "D", "v", "x")  # the terms' markers when several runs are overlaid


AXES = ("step", "epoch")  # the columns of run.csv that count steps, not terms


def _is_weight(name: str) -> bool:
    return name.startswith(("weight/", "grad_norm/"))


def _wanted(
    runs: Sequence[tuple[Path, dict[str, list[float]], dict[str, Any]]], terms: Sequence[str] | None
) -> set[str]:
    """The columns to draw: ``terms`` and their ``val/`` twins, each in some run, or every column."""
    names = {name for _, columns, _ in runs for name in columns if name not in AXES}  # step and epoch are axes
    if terms is None:
        return names
    for term in terms:
        if term not in names:
            raise LossConfigError(
                f"no run has a term {term!r}{did_you_mean(term, names)}; they have {', '.join(sorted(names))}"
            )
    return {*terms, *(f"val/{term}" for term in terms)}


def _smoothed(values: Sequence[float], weight: float) -> list[float]:
    """The exponential moving average of ``values``, debiased like TensorBoard's so the start is not pulled to 0."""
    average, smoothed = 0.0, []
    for count, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight**count) if weight else value)
    return smoothed
