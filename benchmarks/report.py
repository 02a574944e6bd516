"""Turn the measurements into ``REPORT.md``: machine, method, targets, and one table per case."""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from benchmarks.cases import CASES, twenty_terms
from benchmarks.measure import SCHEME_NAMES, SCHEME_TERMS, STARTUP, median_ratio
from benchmarks.tables import NONE, WIDE, fmt, header, line, median, ratio, size_label
from benchmarks.targets import targets

if TYPE_CHECKING:
    from benchmarks.run import Config, Row

VARIANTS = {"a": "losslang", "b": "hand-written", "c": "losslang compile=True", "d": "hand-written + torch.compile"}
CLOCKS = {
    "wall": "wall-clock (`time.perf_counter`).",
    "cpu": "CPU time of the benchmarking thread (`time.thread_time`), with one intra-op thread, so it\n"
    "  holds all the work (the CPU autograd engine runs the backward on the calling thread) but not the\n"
    "  time other processes on this shared machine held the core; the wall-clock a/b is shown as well.",
}
HEAPS = {
    "warm": "kept warm (`--heap warm`, glibc's `mallopt`): freed memory stays in the process, as on a CPU\n"
    "  training machine running jemalloc or tcmalloc. With the C library's defaults, large blocks are\n"
    "  unmapped when freed and page-fault back in on the next use, and which variant pays depends on\n"
    "  the order they run in (`benchmarks/measure.py`, `warm_heap`).",
    "default": "the C library's defaults (`--heap default`): from about 1e5 elements on the CPU, page faults\n"
    "  move the ratios by up to a third depending on the order the variants run in.",
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
- Heap: {heap}
- losslang runs in training mode (the step counter advances every call) and builds the output
  mapping with every term each call. Hand-written modules return only the total.
- Half-precision rows (float16, bfloat16) run every variant under `torch.autocast`, as a
  mixed-precision training step runs its loss. There losslang's built-in terms compute in float32
  (DESIGN.md, as torch's own losses do under autocast), while a hand-written module's own `abs`, `-`
  and `mean` compute in half precision (its "max rel. error" against float32 is about 3e-3). These
  rows therefore also time `hand-written, float32 arithmetic`: the same module on its inputs cast to
  float32 inside the step. The targets judge a half-precision row against it, and list the ratio to
  `b` separately.
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
        extras = [label for label, _ in case.extras] + ([WIDE] if any(WIDE in row.seconds for row in mine) else [])
        lines += [f"### {case.name}: {case.title}", "", "```", case.formula, "```", ""]
        lines += [case.note, ""] if case.note else []
        cells = ["device", "size", "dtype", "a µs", "b µs", "c µs", "d µs", "a/b", "c/b", "d/b"]
        cells += [f"{label} / b" for label in extras] + ([f"a / {WIDE}"] if WIDE in extras else [])
        lines += header(*cells, *wall, "max rel. error")
        lines += [timing_line(row, extras, wall=bool(wall)) for row in mine]
        lines += ["", *header("device", "size", "dtype", *MEMORY_COLUMNS)]
        lines += [memory_line(row) for row in mine]
        lines.append("")
    return lines


def timing_line(row: Row, extras: Sequence[str], *, wall: bool = False) -> str:
    """Median times and ratios of one row; ``wall``: also the wall-clock ratio a/b."""
    times = [fmt(median(row, v) * 1e6, 1) if v in row.seconds else NONE for v in "abcd"]
    ratios = [fmt(ratio(row, v)) for v in ("a", "c", "d", *extras)]
    ratios += [fmt(ratio(row, "a", WIDE))] if WIDE in extras else []
    ratios += [fmt(median_ratio(row.wall["a"], row.wall["b"]))] if wall else []
    error = max(row.errors.values())
    return line(row.device, size_label(row.size), row.dtype, *times, *ratios, f"{error:.1e}")


def memory_line(row: Row) -> str:
    """Peak memory and bandwidth of one row."""
    peak = row.peak
    ratios = [fmt(peak[v] / peak["b"]) if v in peak and peak["b"] else NONE for v in "acd"]
    rate = {label: row.traffic / median(row, label) / 1e9 for label in ("a", "b", "copy")}
    mib = [f"{peak[v] / 2**20:.3f}" for v in "ab"]
    rates = [f"{rate[v]:.2f}" for v in ("a", "b", "copy")]
    return line(row.device, size_label(row.size), row.dtype, *mib, *ratios, *rates, f"{rate['a'] / rate['copy']:.2f}")


def torch_compile_section(rows: Sequence[Row]) -> list[str]:
    """How long ``torch.compile`` took (first forward + backward) and whether anything recompiled."""
    compiled = [row for row in rows if row.compile_s]
    if not compiled:
        return []
    lines = ["## torch.compile", "", *header("case", "size", "dtype", "c: compile s", "d: compile s", "recompiles")]
    for row in compiled:
        seconds = [f"{row.compile_s[v]:.1f}" for v in "cd"]
        lines.append(line(row.case, size_label(row.size), row.dtype, *seconds, row.recompiles))
    return [*lines, ""]


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
        "- a cached compile reuses the checked program and its generated `GraphModule` (`losslang.codecache`: "
        "losses of one text share the graph while it holds no state)",
        f"- where a cold compile spends its CPU time after parsing: `check` {times['check_cpu'] * 1e3:.2f} ms, `build` "
        f"(the fx graph and its `GraphModule`) {times['build_cpu'] * 1e3:.2f} ms, of which `torch.fx.GraphModule(...)` "
        f"alone (fx's code generation and Python's `compile()` of it) {times['graph_module_cpu'] * 1e3:.2f} ms",
        fresh,
        "",
        "### Scaling with the number of terms",
        "",
        "`dwa(x0, x1, ..., xN)`, which reports N terms and N weights; CPU time of one cold compile:",
        "",
        *header("terms", "compile (ms)", "per term (µs)"),
        *(
            line(
                f"{count:,}", f"{times[f'scaling_{count}'] * 1e3:.1f}", f"{times[f'scaling_{count}'] / count * 1e6:.0f}"
            )
            for count in sorted(int(key.removeprefix("scaling_")) for key in times if key.startswith("scaling_"))
        ),
        "",
    ]


def scheme_section(times: dict[str, float]) -> list[str]:
    """The per-step cost of each weighting scheme against a plain sum of the same terms."""
    if "scheme/sum_us" not in times:
        return []
    lines = [
        "## Weighting schemes",
        "",
        "One training step of a shared-trunk MLP (trunk 16 -> 256 -> 256 -> 32, tanh; three heads 32 -> 1; "
        f"batch 64) with `scheme({SCHEME_TERMS})`, against the plain sum of the same three terms "
        f"({times['scheme/sum_us']:.0f} µs a step): forward and backward of model and loss. The gradient-based "
        "schemes are attached to the MLP: each takes every term's gradient of all its parameters; `, features` takes "
        'it of the trunk\'s output `h` instead (`attach(model, features="h")`). `famo, update_weights` adds its '
        "after-step update, one more forward pass without graph.",
        "",
        *header("scheme", "step / plain sum"),
        *(line(f"`{name}`", fmt(times[f"scheme/{name}"])) for name in SCHEME_NAMES),
        "",
    ]
    return lines


def startup_section(times: dict[str, float]) -> list[str]:
    """Start-up times against ``import torch``, measured in the same run."""
    if "startup/import torch" not in times:
        return []
    torch_s = times["startup/import torch"]
    rows = [
        line(f"`{name}`", f"{times[f'startup/{name}']:.3f}", fmt(times[f"startup/{name}"] / torch_s))
        for name in STARTUP
    ]
    return [
        "## Start-up",
        "",
        "Fresh interpreters with Python's bytecode caches written (as after installing), interleaved, medians:",
        "",
        *header("command", "s", "/ import torch"),
        *rows,
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
            heap=HEAPS[config.heap],
        ),
        "",
        "## Targets",
        "",
        *targets(results),
        "",
        "## Cases",
        "",
        *case_tables(results.rows, config.clock),
        *torch_compile_section(results.rows),
        *compile_section(results.compile_times, config.compile_samples),
        *startup_section(results.compile_times),
        *scheme_section(results.compile_times),
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
