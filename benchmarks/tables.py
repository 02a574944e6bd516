"""Helpers shared by the report and the targets: Markdown cells and per-row statistics."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from benchmarks.measure import median_ratio

if TYPE_CHECKING:
    from benchmarks.run import Row

NONE = "-"
# Half-precision rows also time the hand-written module on its inputs widened to float32 inside the
# step: the arithmetic DESIGN.md prescribes for every built-in term under autocast (torch's own
# losses do the same there). Those rows are judged against it; `b` computes in half precision.
WIDE = "hand-written, float32 arithmetic"
HALF_DTYPES = ("float16", "bfloat16")


def median(row: Row, label: str) -> float:
    """The median seconds per call of variant ``label``."""
    return statistics.median(row.seconds[label])


def ratio(row: Row, label: str, reference: str = "b") -> float | None:
    """The median per-repeat ratio of variant ``label`` to ``reference`` (default: hand-written eager), if both ran."""
    if label not in row.seconds or reference not in row.seconds:
        return None
    return median_ratio(row.seconds[label], row.seconds[reference])


def same_arithmetic(row: Row) -> str:
    """The hand-written variant that computes in the arithmetic losslang's terms use for ``row``'s dtype."""
    return WIDE if row.dtype in HALF_DTYPES else "b"


def ratios(rows: Iterable[Row], label: str, keep: Callable[[Row], bool]) -> list[float]:
    """The ratios of variant ``label`` over the rows ``keep`` selects."""
    return [value for row in rows if keep(row) and (value := ratio(row, label)) is not None]


def size_label(size: int) -> str:
    """``1000`` -> ``1e3``."""
    return f"1e{len(str(size)) - 1}" if str(size).rstrip("0") == "1" else str(size)


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` decimals, or a dash for a missing one."""
    return NONE if value is None else f"{value:.{digits}f}"


def line(*cells: object) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(map(str, cells)) + " |"


def header(*cells: str) -> list[str]:
    """A Markdown table header and its rule."""
    return [line(*cells), "|" + "---|" * len(cells)]


def verdict(ok: bool) -> str:
    """Met or not met, in bold."""
    return "**met**" if ok else "**not met**"
