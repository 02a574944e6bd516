"""Run the benchmark and write ``benchmarks/REPORT.md``.

Usage::

    python -m benchmarks.run            # the full run (about 20 minutes on 2 CPU cores)
    python -m benchmarks.run --quick    # the smoke version: small sizes, no torch.compile

Each case is timed four ways, interleaved in one process: (a) the losslang module, (b) the
hand-written eager module, (c) (a) with ``compile=True`` and (d) (b) under ``torch.compile``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from torch import Tensor

from benchmarks import measure, report
from benchmarks.cases import CASES, Case, losslang_module
from benchmarks.tables import WIDE

LOSSLANG, HAND, LOSSLANG_COMPILED, HAND_COMPILED, COPY = "a", "b", "c", "d", "copy"
DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16}
HALF = (torch.float16, torch.bfloat16)  # rows of these dtypes run every variant under torch.autocast


@dataclass(frozen=True)
class Config:
    """What to run."""

    cases: tuple[Case, ...] = CASES
    sizes: tuple[int, ...] = (10**3, 10**4, 10**5, 10**6, 10**7)
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64)
    devices: tuple[torch.device, ...] = (torch.device("cpu"),)
    repeats: int = 11
    block_s: float = 0.02
    compile_sizes: tuple[int, ...] = (10**4, 10**6)
    compile_samples: int = 20
    budget_s: float = 90.0
    clock: str = "wall"
    heap: str = "default"
    quick: bool = False


@dataclass
class Row:
    """The measurements of one case at one size, dtype and device."""

    case: str
    device: str
    dtype: str
    size: int
    numel: int
    traffic: int
    seconds: dict[str, list[float]]
    wall: dict[str, list[float]]
    peak: dict[str, int]
    errors: dict[str, float]
    recompiles: int | None = None
    compile_s: dict[str, float] = field(default_factory=dict)


@dataclass
class Variant:
    """One way of computing the loss: ``total()`` returns the scalar to differentiate."""

    total: Callable[[], Tensor]
    leaves: list[Tensor]

    def step(self) -> None:
        """One forward and backward, as in a training step."""
        torch.autograd.grad(self.total(), self.leaves)

    def value_and_grads(self) -> list[Tensor]:
        """The total and the gradient of every leaf."""
        total = self.total()
        return [total.detach(), *torch.autograd.grad(total, self.leaves)]


def relative_error(actual: list[Tensor], expected: list[Tensor]) -> float:
    """The largest difference over all tensors, each relative to the largest magnitude of its expected value."""
    worst = 0.0
    for a, e in zip(actual, expected, strict=True):
        scale = float(e.abs().max()) if e.numel() else 1.0
        worst = max(worst, float((a - e).abs().max()) / (scale or 1.0) if e.numel() else 0.0)
    return worst


def _hand_variant(module: Callable[..., Tensor], batch: dict[str, Tensor], leaves: list[Tensor]) -> Variant:
    return Variant(lambda: module(**batch), leaves)


def widened(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """``batch`` with its half-precision tensors cast to float32 (differentiable casts: gradients reach the leaves)."""
    return {name: tensor.float() if tensor.dtype in HALF else tensor for name, tensor in batch.items()}


def under_autocast(total: Callable[[], Tensor], device: torch.device, dtype: torch.dtype) -> Callable[[], Tensor]:
    """``total`` run inside ``torch.autocast(device, dtype)``, as a mixed-precision training step runs its loss."""

    def run() -> Tensor:
        with torch.autocast(device.type, dtype=dtype):
            return total()

    return run


def variants(case: Case, batch: dict[str, Tensor], compiled: bool) -> dict[str, Variant]:
    """The modules to compare, each wrapped as a :class:`Variant`; half-precision batches run under autocast."""
    found = _variants(case, batch, compiled)
    first = next(iter(batch.values()))
    if first.dtype in HALF:
        found = {
            label: Variant(under_autocast(v.total, first.device, first.dtype), v.leaves) for label, v in found.items()
        }
    return found


def _variants(case: Case, batch: dict[str, Tensor], compiled: bool) -> dict[str, Variant]:
    device = next(iter(batch.values())).device
    leaves = [batch[name] for name in case.leaves]
    loss, hand = losslang_module(case).to(device), case.hand().to(device)
    found = {LOSSLANG: Variant(lambda: loss(batch).total, leaves), HAND: _hand_variant(hand, batch, leaves)}
    if any(tensor.dtype in HALF for tensor in batch.values()):  # the same module, computing in float32
        found[WIDE] = Variant(lambda: hand(**widened(batch)), leaves)
    for label, build in case.extras:
        found[label] = _hand_variant(build().to(device), batch, leaves)
    if compiled:
        torch._dynamo.reset()  # each size and dtype compiles afresh, for static shapes
        loss_c = losslang_module(case, compile=True).to(device)
        hand_c = torch.compile(case.hand().to(device))
        found[LOSSLANG_COMPILED] = Variant(lambda: loss_c(batch).total, leaves)
        found[HAND_COMPILED] = _hand_variant(hand_c, batch, leaves)
    return found


def measure_row(case: Case, size: int, dtype: torch.dtype, device: torch.device, config: Config) -> Row:
    """Check that every variant agrees with the hand-written module, then time them and their peak memory."""
    batch = case.inputs(size, dtype, device)
    for name in case.leaves:
        batch[name].requires_grad_()
    compiled = size in config.compile_sizes and not config.quick
    found = variants(case, batch, compiled)
    expected = found[HAND].value_and_grads()
    compile_s, errors = {}, {}
    for label, variant in found.items():
        start = time.perf_counter()
        errors[label] = relative_error(variant.value_and_grads(), expected)
        if label in (LOSSLANG_COMPILED, HAND_COMPILED):
            compile_s[label] = time.perf_counter() - start
    traffic = sum(t.nbytes for t in batch.values()) + sum(batch[name].nbytes for name in case.leaves)
    src = torch.ones(max(traffic // (2 * dtype.itemsize), 1), dtype=dtype, device=device)
    dst = torch.empty_like(src)

    def copy() -> None:
        dst.copy_(src)

    steps = {label: variant.step for label, variant in found.items()} | {COPY: copy}
    before = measure.graphs_compiled()
    sync = measure.synchronizer(device)
    samples = measure.interleaved(
        steps, repeats=config.repeats, block_s=config.block_s, sync=sync, budget_s=config.budget_s
    )
    recompiles = measure.graphs_compiled() - before if compiled else None
    peak = {label: measure.peak_memory(variant.step, device) for label, variant in found.items()}
    return Row(
        case=case.name,
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        size=size,
        numel=max(t.numel() for t in batch.values()),
        traffic=traffic,
        seconds=samples.cpu if config.clock == "cpu" else samples.wall,
        wall=samples.wall,
        peak=peak,
        errors=errors,
        recompiles=recompiles,
        compile_s=compile_s,
    )


def progress(row: Row) -> str:
    """One line per measured row, printed as the run goes."""
    a, b = row.seconds[LOSSLANG], row.seconds[HAND]
    times = f"a {statistics.median(a) * 1e6:11.1f} µs  b {statistics.median(b) * 1e6:11.1f} µs"
    ratios = "  ".join(
        f"{label}/b {measure.median_ratio(row.seconds[label], b):.3f}" for label in "acd" if label in row.seconds
    )
    return f"{row.case:12} {row.device:5} {row.dtype:7} {row.size:>9.0e}  {times}  {ratios}"


def run(config: Config, log: Callable[[str], None] = print) -> report.Results:
    """Measure everything ``config`` asks for."""
    rows = []
    for device in config.devices:
        for case in config.cases:
            for dtype in config.dtypes:
                for size in config.sizes:
                    row = measure_row(case, size, dtype, device, config)
                    log(progress(row))
                    rows.append(row)
    device = config.devices[0]
    probe = next(case for case in CASES if case.name == "pinn")
    reads = measure.host_reads(losslang_module(probe), probe.inputs(1000, torch.float32, device))
    recompiles = measure.step_recompiles(5, device) if not config.quick else None
    times = measure.compile_times(config.compile_samples, fresh=not config.quick)
    times |= measure.scheme_costs(config.repeats, config.block_s)
    return report.Results(rows, times, reads, recompiles)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: sizes 1e3 and 1e4, float32, no torch.compile")
    parser.add_argument("--sizes", help="comma-separated element counts, e.g. 1e3,1e5")
    parser.add_argument(
        "--dtypes", help="comma-separated: float32,float64,float16,bfloat16 (half inputs run under torch.autocast)"
    )
    parser.add_argument("--cases", help=f"comma-separated: {','.join(case.name for case in CASES)}")
    parser.add_argument("--devices", help="comma-separated: cpu,cuda (default: cpu, and cuda when available)")
    parser.add_argument("--repeats", type=int, help="timed samples per variant (default 11; 3 with --quick)")
    parser.add_argument("--block-ms", type=float, help="length of one timed sample (default 20 ms)")
    parser.add_argument(
        "--budget-s", type=float, help="most seconds of timed repeats per row; fewer repeats (at least 5) beyond (90)"
    )
    parser.add_argument("--compile-sizes", help="sizes that also run torch.compile, or 'none' (default 1e4,1e6)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own choice)")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="what the tables report: wall-clock time, or this thread's CPU time (needs --threads 1, CPU only), "
        "which leaves out the time other processes hold the core on a shared machine",
    )
    parser.add_argument(
        "--heap",
        choices=("warm", "default"),
        default="warm",
        help="warm: keep freed memory in the process (glibc's mallopt), so that page faults do not depend on the "
        "order variants run in; default: the C library's own behaviour",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "REPORT.md")
    parser.add_argument("--json", type=Path, help="also write the raw samples here")
    return parser.parse_args(argv)


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(float(item)) for item in text.split(",") if item and item != "none")


def config_of(args: argparse.Namespace) -> Config:
    """Turn the command line into a :class:`Config`."""
    quick = {"sizes": (10**3, 10**4), "dtypes": (torch.float32,), "repeats": 3, "block_s": 0.002, "compile_samples": 3}
    options: dict = {**quick, "quick": True} if args.quick else {}
    if args.sizes:
        options["sizes"] = _numbers(args.sizes)
    if args.dtypes:
        options["dtypes"] = tuple(DTYPES[name] for name in args.dtypes.split(","))
    if args.cases:
        options["cases"] = tuple(case for case in CASES if case.name in args.cases.split(","))
    cuda = (torch.device("cuda"),) if torch.cuda.is_available() else ()
    devices = tuple(map(torch.device, args.devices.split(","))) if args.devices else (torch.device("cpu"), *cuda)
    options["devices"] = devices
    if args.repeats:
        options["repeats"] = args.repeats
    if args.block_ms:
        options["block_s"] = args.block_ms / 1000
    if args.budget_s:
        options["budget_s"] = args.budget_s
    if args.compile_sizes:
        options["compile_sizes"] = _numbers(args.compile_sizes)
    if args.clock == "cpu" and (torch.get_num_threads() != 1 or any(d.type != "cpu" for d in devices)):
        raise SystemExit("--clock cpu measures one thread: use it with --threads 1 and --devices cpu")
    options["clock"] = args.clock
    options["heap"] = args.heap
    return Config(**options)


def main(argv: Sequence[str] | None = None) -> Path:
    """Run the benchmark and write the report; returns its path."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = config_of(args)
    if config.heap == "warm" and not measure.warm_heap():  # no mallopt: say what was measured
        config = dataclasses.replace(config, heap="default")
    command = "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv)
    results = run(config)
    args.out.write_text(report.render(results, config, command.strip()), encoding="utf-8")
    if args.json:
        raw = {"command": command.strip(), "threads": torch.get_num_threads(), **report.as_dict(results)}
        args.json.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
