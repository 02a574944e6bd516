"""What the harness measures: interleaved times, peak memory, parse+compile time, recompiles, syncs."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from torch import fx
from torch.profiler import ProfilerActivity, profile

import losslang
from benchmarks.cases import STEP_FORMULA, twenty_terms
from losslang.check import check
from losslang.compiler import build
from losslang.parser import parse
from losslang.registry import REGISTRY

Step = Callable[[], None]
ROOT = Path(__file__).resolve().parent.parent
# Every way a tensor's value reaches Python, i.e. a device synchronisation.
HOST_READS = ("item", "tolist", "__float__", "__int__", "__bool__", "numpy")


M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)


def warm_heap() -> bool:
    """Keep freed memory in this process's heap, so that no variant pays for page faults another caused.

    glibc serves a large block by ``mmap`` and unmaps it when freed, and gives the top of its heap
    back to the system once it passes a threshold that moves with the allocation history; the next
    block of that size then page-faults in afresh. On the CPU, from about 1e5 elements, which
    variant pays depends on what ran before it: the losslang module and its generated function
    measured 1.24 and 1.84 times the hand-written module in one loop (segmentation, 1e5 elements),
    and 1.11 and 1.08 with the heap kept.
    Training runs on the CPU are advised to keep it the same way (jemalloc or tcmalloc told never to
    give memory back). Returns whether it applied: False where the C library has no ``mallopt``.

    Example:
        >>> import subprocess, sys  # in a process of its own: the setting lasts as long as the process
        >>> code = "from benchmarks.measure import warm_heap; print(warm_heap())"
        >>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout.strip()
        'True'
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1)) and bool(mallopt(M_MMAP_MAX, 0))


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for ``device`` to finish its queued work (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _seconds_per_call(step: Step, calls: int, sync: Callable[[], None]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (of this thread) per call, averaged over ``calls`` calls."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside one variant's block would be charged to it alone
    try:
        sync()
        wall, cpu = time.perf_counter(), time.thread_time()
        for _ in range(calls):
            step()
        sync()
        cpu = time.thread_time() - cpu
        return (time.perf_counter() - wall) / calls, cpu / calls
    finally:
        if gc_was_enabled:
            gc.enable()


@dataclass
class Samples:
    """Seconds per call of each step, one sample per repeat, on both clocks.

    ``cpu`` is this thread's CPU time: with one intra-op thread on the CPU it is all the work
    (the CPU autograd engine runs the backward on the calling thread too), and it leaves out the
    time other processes on a shared machine hold the core.
    """

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]


def interleaved(
    steps: Mapping[str, Step],
    *,
    repeats: int,
    block_s: float,
    sync: Callable[[], None],
    budget_s: float = float("inf"),
) -> Samples:
    """Time every step ``repeats`` times, interleaved.

    Every repeat times every step once, in an order rotated by one each repeat, so that drifts
    in machine load and clock speed fall on all steps alike. Each sample averages enough calls
    to last about ``block_s`` seconds. Where one repeat takes so long that ``repeats`` of them
    would exceed ``budget_s``, fewer are taken, but never fewer than 5.
    """
    names = list(steps)
    for name in names:  # warm up: allocator pools, lazy initialisation, autograd caches
        steps[name]()
    once = {name: _seconds_per_call(steps[name], 1, sync)[0] for name in names}
    calls = {name: max(1, round(block_s / once[name])) for name in names}
    per_repeat = sum(calls[name] * once[name] for name in names)
    affordable = budget_s / per_repeat if per_repeat > 0 else repeats
    repeats = max(min(repeats, 5), min(repeats, int(min(affordable, repeats))))
    samples = Samples({name: [] for name in names}, {name: [] for name in names})
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu = _seconds_per_call(steps[name], calls[name], sync)
            samples.wall[name].append(wall)
            samples.cpu[name].append(cpu)
    return samples


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """The median over repeats of the per-repeat ratio."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def peak_memory(step: Step, device: torch.device) -> int:
    """Bytes allocated at the peak of one call of ``step``, above what was allocated before it.

    CUDA: ``torch.cuda.max_memory_allocated``. CPU: every allocation and free that the CPU
    allocator reports to the profiler (``profile_memory=True``), replayed in time order.
    """
    step()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [event for event in prof.profiler.kineto_results.events() if event.name() == "[memory]"]
    live = peak = 0
    for event in sorted(events, key=lambda event: event.start_ns()):
        live += event.nbytes()
        peak = max(peak, live)
    return peak


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Kineto writes a line to the C-level stderr at every profiler start and stop; drop them."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextmanager
def counting_host_reads() -> Iterator[list[str]]:
    """Record the name of every ``Tensor`` method call that copies a value to Python."""
    calls: list[str] = []

    def counter(name: str) -> Callable[..., Any]:
        original = getattr(torch.Tensor, name)

        def counted(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return original(self, *args, **kwargs)

        return counted

    patches = [mock.patch.object(torch.Tensor, name, counter(name)) for name in HOST_READS]
    for patch in patches:
        patch.start()
    try:
        yield calls
    finally:
        for patch in reversed(patches):
            patch.stop()


def host_reads(loss: losslang.LossModule, batch: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """How many values reach Python in one forward, and in one ``.metrics()`` of its output."""
    with counting_host_reads() as forward_calls:
        out = loss(batch)
    with counting_host_reads() as metrics_calls:
        out.metrics()
    return {"forward": len(forward_calls), "metrics": len(metrics_calls), "terms": len(out)}


def compile_times(samples: int, *, fresh: bool = True) -> dict[str, float]:
    """Seconds to parse and compile the 20-term program, without ``torch.compile``.

    ``cold``: a text this process has not seen (the parse cache misses); ``cached``: the same
    text again; ``*_cpu``: the same, in CPU time of this thread (what other processes on a
    shared machine do not inflate), and the stages of :func:`compile_breakdown`.
    ``first_in_process``: the first compile in a fresh interpreter, which also builds the LALR
    parser from the grammar; ``import``: ``import losslang`` there.
    """
    losslang.compile(twenty_terms("warm-up"))
    samples_s: dict[str, list[float]] = {"cold": [], "cached": [], "cold_cpu": [], "cached_cpu": []}
    for sample in range(samples):
        source = twenty_terms(f"sample {sample} {time.time_ns()}")
        for kind in ("cold", "cached"):
            wall, cpu = time.perf_counter(), time.thread_time()
            losslang.compile(source)
            samples_s[f"{kind}_cpu"].append(time.thread_time() - cpu)
            samples_s[kind].append(time.perf_counter() - wall)
    times = {kind: statistics.median(values) for kind, values in samples_s.items()}
    stages = {f"{stage}_cpu": seconds for stage, seconds in compile_breakdown(samples).items()}
    startup = startup_times(7 if fresh else 3)
    return times | stages | compile_scaling() | (_fresh_process() if fresh else {}) | startup


SCALING_TERMS = (10, 100, 1_000, 10_000)


def scaling_formula(count: int) -> str:
    """``dwa(x0, ..., x{count-1})``: ``count`` reported terms and ``count`` reported weights."""
    return "dwa(" + ", ".join(f"x{index}" for index in range(count)) + ")"


def compile_scaling(counts: Sequence[int] = SCALING_TERMS) -> dict[str, float]:
    """CPU seconds of a cold parse+compile of :func:`scaling_formula` for each count, as ``scaling_<count>``."""
    losslang.compile(scaling_formula(3))  # the parser and the first graph are built once per process, not per count
    times = {}
    for count in counts:
        source = scaling_formula(count)
        start = time.thread_time()
        losslang.compile(source)
        times[f"scaling_{count}"] = time.thread_time() - start
    return times


def compile_breakdown(samples: int) -> dict[str, float]:
    """CPU seconds of each stage after parsing of a compile that misses the code cache (20 terms, medians).

    ``check``: names and calls; ``build``: the fx graph and its ``GraphModule``, of which
    ``graph_module`` is ``torch.fx.GraphModule``'s own code generation and ``compile()`` of it.
    """
    program = parse(twenty_terms("breakdown"))
    checked = check(program, REGISTRY)
    graph = build(checked).module.graph
    stages: dict[str, Callable[[], object]] = {
        "check": lambda: check(program, REGISTRY),
        "build": lambda: build(checked),
        "graph_module": lambda: fx.GraphModule(torch.nn.Module(), graph),
    }
    times: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(samples):
        for name, stage in stages.items():
            start = time.thread_time()
            stage()
            times[name].append(time.thread_time() - start)
    return {name: statistics.median(values) for name, values in times.items()}


_FRESH = """
import json, sys, time
start = time.perf_counter()
import losslang
imported = time.perf_counter()
losslang.compile(sys.argv[1])
print(json.dumps({"import": imported - start, "first_in_process": time.perf_counter() - imported}))
"""


def _fresh_process() -> dict[str, float]:
    command = [sys.executable, "-c", _FRESH, twenty_terms("fresh")]
    runs = [json.loads(subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout)]
    runs += [json.loads(subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout)]
    return {key: min(run[key] for run in runs) for key in runs[0]}


GRAMIAN_SCHEMES = ("upgrad", "mgda", "pcgrad", "cagrad", "imtl_g", "dualproj", "aligned_mtl")
SCHEME_NAMES = (
    "uncertainty",
    "gradnorm",
    "lr_annealing",
    "softadapt",
    "relobralo",
    "dwa",
    "rlw",
    "famo",
    "famo, update_weights",
    *GRAMIAN_SCHEMES,
    *(f"{name}, features" for name in GRAMIAN_SCHEMES),
)
SCHEME_TERMS = "mse(out[:, 0], y0), mse(out[:, 1], y1), mae(out[:, 2], y2)"


def scheme_costs(repeats: int, block_s: float) -> dict[str, float]:
    """Median per-step ratio of each weighting scheme to a plain sum of the same three terms.

    A step is what training does: a shared-trunk MLP's forward (trunk 16 -> 256 -> 256 -> 32, tanh;
    three heads 32 -> 1; batch 64), the loss and the backward of both. The gradient-based schemes are
    attached to the MLP; ``, features`` attaches the gradient-conflict schemes with
    ``features="h"``, the trunk's output, instead. ``famo, update_weights`` adds the after-step
    update (a forward pass of model and loss without graph). One thread's wall clock, every
    variant interleaved.
    """
    torch.manual_seed(0)
    trunk = torch.nn.Sequential(
        torch.nn.Linear(16, 256), torch.nn.Tanh(), torch.nn.Linear(256, 256), torch.nn.Tanh(), torch.nn.Linear(256, 32)
    )
    heads = torch.nn.Linear(32, 3)  # three heads of one output each
    model = torch.nn.Sequential(trunk, heads)
    batch = {"x": torch.randn(64, 16), **{f"y{i}": torch.randn(64).abs() + 1 for i in range(3)}}

    def inputs() -> dict[str, torch.Tensor]:
        h = trunk(batch["x"])
        return {**batch, "h": h, "out": heads(h)}

    def build(name: str) -> losslang.LossModule:
        scheme = name.split(",")[0]
        source = SCHEME_TERMS.replace("), ", ") + ") if name == "sum" else f"{scheme}({SCHEME_TERMS})"
        return losslang.compile(source).attach(model, features="h" if name.endswith("features") else None)

    def step(name: str) -> Step:
        loss = build(name)

        def run() -> None:
            loss(inputs()).total.backward()
            if name.endswith("update_weights"):
                with torch.no_grad():
                    loss.update_weights(inputs)

        return run

    samples = interleaved(
        {name: step(name) for name in ("sum", *SCHEME_NAMES)}, repeats=repeats, block_s=block_s, sync=lambda: None
    )
    return {f"scheme/{name}": median_ratio(samples.wall[name], samples.wall["sum"]) for name in SCHEME_NAMES} | {
        "scheme/sum_us": statistics.median(samples.wall["sum"]) * 1e6
    }


STARTUP = {  # what a user waits for before anything runs, each in a fresh interpreter
    "import torch": ["-c", "import torch"],
    "import losslang": ["-c", "import losslang"],
    "import losslang, whole library": ["-c", "import losslang; losslang.LossModule; losslang.load"],
    "losslang --version": ["-m", "losslang", "--version"],
    "losslang --help": ["-m", "losslang", "--help"],
}


def startup_times(repeats: int) -> dict[str, float]:
    """Median wall seconds of each :data:`STARTUP` command, the commands interleaved ``repeats`` times.

    Each runs as it does once installed: with Python's bytecode caches, which one untimed round
    writes (pip compiles torch's when it installs it; a ``PYTHONDONTWRITEBYTECODE`` machine
    would otherwise compile losslang's sources in every timed interpreter, and torch's not).
    """
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    samples: dict[str, list[float]] = {name: [] for name in STARTUP}
    for round_ in range(repeats + 1):
        for name, arguments in STARTUP.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, *arguments], check=True, capture_output=True, cwd=ROOT, env=env)
            if round_:
                samples[name].append(time.perf_counter() - start)
    return {f"startup/{name}": statistics.median(values) for name, values in samples.items()}


def graphs_compiled() -> int:
    """How many graphs TorchDynamo has compiled in this process so far."""
    return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])


def step_recompiles(steps: int, device: torch.device) -> dict[str, int]:
    """Graphs compiled by ``compile=True`` over ``steps`` training steps of a ``step``-dependent formula.

    The shapes stay the same and the step counter advances every call; after the first step
    nothing may compile again.
    """
    torch._dynamo.reset()
    loss = losslang.compile(STEP_FORMULA, compile=True).to(device)
    pred = torch.randn(64, 3, device=device, requires_grad=True)
    batch = {"pred": pred, "y": torch.randn(64, 3, device=device)}
    before = graphs_compiled()
    loss(batch).total.backward()
    first = graphs_compiled()
    for _ in range(steps - 1):
        loss(batch).total.backward()
    later = graphs_compiled() - first
    return {"steps": steps, "first_step": first - before, "later_steps": later, "step": int(loss.step)}
