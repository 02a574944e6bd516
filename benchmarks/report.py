"""Turn the measurements into ``REPORT.md``: machine, method, targets, and one table per case."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from benchmarks.cases import CASES, STEP_FORMULA, twenty_terms
from benchmarks.measure import median_ratio

if TYPE_CHECKING:
    from benchmarks.run import Config, Row

# The cases whose hand-written module computes the same loss; "repeated" has a target of its own.
EAGER_CASES = ("mission", "multilabel", "pinn", "segmentation")
VARIANTS = {"a": "losslang", "b": "hand-written", "c": "losslang compile=True", "d": "hand-written + torch.compile"}
NONE = "-"
CLOCKS = {
    "wall": "wall-clock (`time.perf_counter`).",
    "cpu": "CPU time of the benchmarking thread (`time.thread_time`), with one intra-op thread, so it\n"
    "  holds all the work (the CPU autograd engine runs the backward on the calling thread) but not the\n"
    "  time other processes on this shared machine held the core; the wall-clock a/b is shown as well.",
}
MEMORY_COLUMNS = (
    "peak a MiB",
    "peak b MiB",
    "peak a/b",
    "peak c/b",
    "peak d/b",
    "a GB/s",
    "b GB/s",
    "copy GB/s",
    "a / copy",
)


@dataclass
class Results:
    """Everything one run measured."""

    rows: list[Row]
    compile_times: dict[str, float]
    host_reads: dict[str, int]
    step_recompiles: dict[str, int] | None
    notes: list[str]


def _median(row: Row, label: str) -> float:
    return statistics.median(row.seconds[label])


def _ratio(row: Row, label: str) -> float | None:
    return median_ratio(row.seconds[label], row.seconds["b"]) if label in row.seconds else None


def _ratios(rows: Iterable[Row], label: str, keep: Callable[[Row], bool]) -> list[float]:
    return [ratio for row in rows if keep(row) and (ratio := _ratio(row, label)) is not None]


def _size(size: int) -> str:
    return f"1e{len(str(size)) - 1}" if str(size).rstrip("0") == "1" else str(size)


def _fmt(value: float | None, digits: int = 3) -> str:
    return NONE if value is None else f"{value:.{digits}f}"


def _line(*cells: object) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def _header(*cells: str) -> list[str]:
    return [_line(*cells), "|" + "---|" * len(cells)]


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def machine() -> list[str]:
    """Where the numbers come from."""
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.is_file():
        names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    cuda = torch.cuda.get_device_name() if torch.cuda.is_available() else "not available"
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; torch threads: {torch.get_num_threads()}",
        f"- CUDA: {cuda}",
        f"- torch {torch.__version__}, Python {platform.python_version()}, {platform.platform()}",
        f"- load average (1, 5, 15 min) when the report was written: {load}",
    ]


METHOD = """\
- One process. For each case, size and dtype every variant first runs once and is checked against
  the hand-written module: the total and the gradient of every input that requires one (the
  "max rel. error" column is the largest difference relative to the largest magnitude).
- A timed sample runs one variant's forward + `torch.autograd.grad` enough times to last about
  {block} ms (at least once) and divides; the garbage collector is off inside a sample. Every repeat
  takes one sample of every variant (and of the copy), in an order rotated by one each repeat.
  {repeats} repeats (fewer, at least 5, where they would take over {budget:.0f} s; `--json` keeps
  every sample); tables show the median time per call; ratios are computed per repeat, then
  the median is taken. Clock: {clock}
- losslang runs in training mode (the step counter advances every call) and builds the output
  mapping with every term each call. Hand-written modules return only the total.
- `c` is `losslang.compile(..., compile=True)`, `d` is `torch.compile(hand_written)`; both compile
  afresh (`torch._dynamo.reset()`) at each size and dtype, and the compile time is excluded.
- Peak memory (CPU): one forward + backward under `torch.profiler.profile(profile_memory=True)`; every
  allocation and free the CPU allocator reports is replayed in time order, and the peak of live bytes
  above the start is reported. (CUDA: `torch.cuda.max_memory_allocated` above the starting allocation.)
- Bandwidth: the bytes a perfect fused kernel must move (every input read once, every gradient
  written once) divided by the median time, against `dst.copy_(src)` of the same number of bytes
  (read + write), timed in the same interleaved loop.
- Elements: every input of a case has `size` elements; the mission's `(n, 3)` vectors have
  `3 * (size // 3)`; segmentation's logits are `(1, 4, size / 4)` with integer labels."""


def case_tables(rows: Sequence[Row], clock: str) -> list[str]:
    """One timing table and one memory/bandwidth table per case."""
    wall = ["a/b wall-clock"] if clock == "cpu" else []
    lines: list[str] = []
    for case in CASES:
        mine = [row for row in rows if row.case == case.name]
        if not mine:
            continue
        extras = [label for label, _ in case.extras]
        lines += [f"### {case.name}: {case.title}", "", "```", case.formula, "```", ""]
        cells = ["device", "size", "dtype", "a µs", "b µs", "c µs", "d µs", "a/b", "c/b", "d/b"]
        lines += _header(*cells, *(f"{label} / b" for label in extras), *wall, "max rel. error")
        lines += [timing_line(row, extras, wall=bool(wall)) for row in mine]
        lines += ["", *_header("device", "size", "dtype", *MEMORY_COLUMNS)]
        lines += [memory_line(row) for row in mine]
        lines.append("")
    return lines


def timing_line(row: Row, extras: Sequence[str], *, wall: bool = False) -> str:
    """Median times and ratios of one row; ``wall``: also the wall-clock ratio a/b."""
    times = [_fmt(_median(row, v) * 1e6, 1) if v in row.seconds else NONE for v in "abcd"]
    ratios = [_fmt(_ratio(row, v)) for v in ("a", "c", "d", *extras)]
    ratios += [_fmt(median_ratio(row.wall["a"], row.wall["b"]))] if wall else []
    error = max(row.errors.values())
    return _line(row.device, _size(row.size), row.dtype, *times, *ratios, f"{error:.1e}")


def memory_line(row: Row) -> str:
    """Peak memory and bandwidth of one row."""
    peak = row.peak
    ratios = [_fmt(peak[v] / peak["b"]) if v in peak and peak["b"] else NONE for v in "acd"]
    rate = {label: row.traffic / _median(row, label) / 1e9 for label in ("a", "b", "copy")}
    mib = [f"{peak[v] / 2**20:.3f}" for v in "ab"]
    rates = [f"{rate[v]:.2f}" for v in ("a", "b", "copy")]
    return _line(row.device, _size(row.size), row.dtype, *mib, *ratios, *rates, f"{rate['a'] / rate['copy']:.2f}")


def targets(results: Results) -> list[str]:
    """Each target of the issue, its measured number and whether it is met."""
    lines = _header("target", "measured", "result")
    lines += _eager_targets(results.rows) + _compile_targets(results.rows)
    lines += _recompile_targets(results) + _compile_time_targets(results.compile_times)
    lines += _memory_targets(results.rows)
    reads = results.host_reads
    measured = f"{reads['metrics']} host read(s) for {reads['terms']} values; {reads['forward']} in the forward"
    ok = reads["metrics"] == 1 and reads["forward"] == 0
    lines.append(_line("`.metrics()` costs one device synchronisation", measured, _verdict(ok)))
    return lines


def _summary(rows: Sequence[Row], label: str, keep: Callable[[Row], bool]) -> tuple[float, str]:
    """The median ratio over the rows ``keep`` selects, and the median of each case."""
    values = _ratios(rows, label, keep)
    cases = [name for name in EAGER_CASES if any(row.case == name and keep(row) for row in rows)]
    per_case = [
        f"{name} {statistics.median(_ratios(rows, label, lambda r, n=name: r.case == n and keep(r))):.3f}"
        for name in cases
    ]
    return statistics.median(values), f"over {len(values)} rows ({', '.join(per_case)})"


def _eager_targets(rows: Sequence[Row]) -> list[str]:
    eager = [row for row in rows if row.case in EAGER_CASES]
    lines = []
    for label, keep, limit in (
        ("losslang eager / hand-written eager ≤ 1.05 at ≥ 1e5 elements", lambda r: r.size >= 10**5, 1.05),
        ("losslang eager / hand-written eager ≤ 1.25 at 1e3 elements", lambda r: r.size == 10**3, 1.25),
    ):
        if any(keep(row) for row in eager):
            median, detail = _summary(eager, "a", keep)
            lines.append(_line(label, f"median {median:.3f} {detail}", _verdict(median <= limit)))
    repeated = _ratios(rows, "a", lambda r: r.case == "repeated")
    if repeated:
        median = statistics.median(repeated)
        measured = f"median {median:.3f} over {len(repeated)} rows, worst {max(repeated):.3f}"
        label = "repeated sub-expressions: losslang eager / naive hand-written eager < 0.8"
        lines.append(_line(label, measured, _verdict(median < 0.8)))
    return lines


def _compile_targets(rows: Sequence[Row]) -> list[str]:
    def keep(row: Row) -> bool:
        return row.size == 10**6 and row.device == "cpu" and "c" in row.seconds

    eager = [row for row in rows if row.case in EAGER_CASES]
    if not any(keep(row) for row in eager):
        return []
    median, detail = _summary(eager, "c", keep)
    label = "losslang compile=True / hand-written eager ≤ 0.7 at 1e6 elements on the CPU"
    return [_line(label, f"median {median:.3f} {detail}", _verdict(median <= 0.7))]


def _recompile_targets(results: Results) -> list[str]:
    timed = [row.recompiles for row in results.rows if row.recompiles is not None]
    lines = []
    if timed:
        label = "compile=True never recompiles across steps with the same shapes"
        measured = f"{sum(timed)} graphs compiled during the timed steps of {len(timed)} rows (c and d)"
        lines.append(_line(label, measured, _verdict(sum(timed) == 0)))
    if results.step_recompiles:
        s = results.step_recompiles
        measured = (
            f"`{STEP_FORMULA}`: {s['first_step']} graph(s) at step 1, {s['later_steps']} over steps 2 to {s['steps']}"
        )
        label = "`step`-dependent schedules do not trigger recompiles"
        lines.append(_line(label, measured, _verdict(s["later_steps"] == 0)))
    return lines


def _compile_time_targets(times: dict[str, float]) -> list[str]:
    first = ""
    if "first_in_process" in times:
        first = (
            f"; the first compile in a fresh process also builds the parser: {times['first_in_process'] * 1e3:.1f} ms"
        )
    lines = []
    for kind, limit in (("cached", 0.005), ("cold", 0.05)):
        measured = f"{times[kind] * 1e3:.2f} ms wall, {times[kind + '_cpu'] * 1e3:.2f} ms CPU"
        label = f"{kind} parse+compile of a 20-term formula < {limit * 1e3:.0f} ms"
        lines.append(_line(label, measured + (first if kind == "cold" else ""), _verdict(times[kind] < limit)))
    return lines


def _memory_targets(rows: Sequence[Row]) -> list[str]:
    ratios = [(row.peak["a"] / row.peak["b"], row) for row in rows if row.peak.get("b")]
    if not ratios:
        return []
    worst, row = max(ratios, key=lambda pair: pair[0])
    over = sorted({r.case for ratio, r in ratios if ratio > 1}) or ["none"]
    median = statistics.median(ratio for ratio, _ in ratios)
    where = f"{row.case}, {_size(row.size)}, {row.dtype}"
    measured = f"median {median:.3f}, worst {worst:.3f} ({where}); above 1: {', '.join(over)}"
    return [_line("peak memory of forward+backward ≤ hand-written eager", measured, _verdict(worst <= 1.0))]


def compile_section(times: dict[str, float], samples: int) -> list[str]:
    """The parse+compile timings and the program they time."""
    if "import" in times:
        fresh = (
            f"- fresh process: `import losslang` {times['import'] * 1e3:.0f} ms, then the first compile "
            f"(which builds the LALR parser from the grammar) {times['first_in_process'] * 1e3:.1f} ms"
        )
    else:
        fresh = "- fresh process: not measured in a smoke run"
    return [
        "## Parse + compile (20 terms, no torch.compile)",
        "",
        "```",
        twenty_terms(),
        "```",
        "",
        f"- cold (a text not seen before: the parse cache misses): {times['cold'] * 1e3:.2f} ms wall, "
        f"{times['cold_cpu'] * 1e3:.2f} ms CPU (medians of {samples})",
        f"- cached (the same text again): {times['cached'] * 1e3:.2f} ms wall, {times['cached_cpu'] * 1e3:.2f} ms CPU",
        fresh,
        "",
    ]


def render(results: Results, config: Config, command: str) -> str:
    """The whole report as Markdown."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    variants = "; ".join(f"({key}) {name}" for key, name in VARIANTS.items())
    lines: list[str] = [
        "# losslang benchmark report",
        "",
        f"Written by `{command}` on {now}{' (smoke run)' if config.quick else ''}. Variants: {variants}.",
        "",
        "## Machine",
        "",
        *machine(),
        "",
        "## Method",
        "",
        METHOD.format(
            block=round(config.block_s * 1000),
            repeats=config.repeats,
            budget=config.budget_s,
            clock=CLOCKS[config.clock],
        ),
        "",
        "## Targets",
        "",
        *targets(results),
        "",
        "## Cases",
        "",
        *case_tables(results.rows, config.clock),
        *compile_section(results.compile_times, config.compile_samples),
        "## Notes",
        "",
        *[f"- {note}" for note in results.notes or ["none"]],
        "",
    ]
    return "\n".join(lines)


def as_dict(results: Results) -> dict[str, Any]:
    """The raw numbers, for anyone who wants to compute something else."""
    return {
        "rows": [vars(row) for row in results.rows],
        "compile_times": results.compile_times,
        "host_reads": results.host_reads,
        "step_recompiles": results.step_recompiles,
    }
