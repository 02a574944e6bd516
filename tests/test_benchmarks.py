"""The benchmark harness: its smoke version runs, every variant computes the same loss, and the report is complete.

No timing is asserted: CI machines are too noisy for that.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import losslang
from benchmarks import measure, run, tables, targets
from benchmarks.cases import CASES, STEP_FORMULA, losslang_module, twenty_terms
from losslang.terms import regression

CPU = torch.device("cpu")


def leaves_of(case, batch):
    for name in case.leaves:
        batch[name].requires_grad_()
    return [batch[name] for name in case.leaves]


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("bench") / "REPORT.md"
    # --heap default: the warm heap would last for the rest of the test process
    argv = ["--quick", "--sizes", "1e3", "--repeats", "1", "--block-ms", "0.5", "--heap", "default", "--out", str(out)]
    path = run.main(argv)
    assert path == out
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_variant_matches_the_hand_written_loss(case, dtype: torch.dtype) -> None:
    batch = case.inputs(300, dtype, CPU)
    leaves_of(case, batch)
    found = run.variants(case, batch, compiled=False)
    expected = found[run.HAND].value_and_grads()
    assert len(expected) == 1 + len(case.leaves)
    for label, variant in found.items():
        tolerance = 1e-5 if dtype == torch.float32 else 1e-10
        assert run.relative_error(variant.value_and_grads(), expected) < tolerance, label


def test_repeated_case_computes_each_repeated_term_once() -> None:
    case = next(case for case in CASES if case.name == "repeated")
    graph = losslang_module(case).body.graph
    targets = [getattr(node.target, "__wrapped__", None) for node in graph.nodes if node.op == "call_function"]
    assert case.formula.count("mse(pred, y)") == 3 and case.formula.count("mae(pred, y)") == 3
    assert targets.count(regression.mse) == 1 and targets.count(regression.mae) == 1


def test_case_inputs_have_the_requested_size() -> None:
    for case in CASES:
        batch = case.inputs(1200, torch.float64, CPU)
        assert max(t.numel() for t in batch.values()) == 1200, case.name
        assert all(name in batch for name in case.leaves)
        assert set(losslang_module(case).inputs) <= set(batch)


def test_twenty_term_program_has_twenty_terms() -> None:
    loss = losslang.compile(twenty_terms("test"))
    assert len(loss.term_names) == 20
    assert twenty_terms("a") != twenty_terms("b")


def test_smoke_report_has_every_section(smoke_report: str) -> None:
    for heading in ("## Machine", "## Method", "## Targets", "## Cases", "## Parse + compile"):
        assert heading in smoke_report
    for case in CASES:
        assert f"### {case.name}: " in smoke_report
        assert case.formula.splitlines()[0] in smoke_report
    assert "(smoke run)" in smoke_report
    scaling = smoke_report.split("### Scaling with the number of terms")[1]
    for count in measure.SCALING_TERMS:
        assert f"\n| {count:,} |" in scaling


def test_smoke_report_states_each_target(smoke_report: str) -> None:
    targets = smoke_report.split("## Targets")[1].split("## Cases")[0]
    for target in (
        *("≤ 1.25 at 1e3", "< 0.8", "cached parse+compile", "cold parse+compile", "peak memory", "metrics"),
        "grows linearly with the terms",
    ):
        line = next(line for line in targets.splitlines() if target in line)
        assert "**met**" in line or "**not met**" in line


def test_metrics_cost_one_host_read_and_forward_none() -> None:
    case = next(case for case in CASES if case.name == "pinn")
    reads = measure.host_reads(losslang_module(case), case.inputs(100, torch.float32, CPU))
    assert reads == {"forward": 0, "metrics": 1, "terms": 11}


def test_interleaved_rotates_the_order_and_takes_one_sample_per_repeat() -> None:
    order: list[str] = []
    steps = {name: (lambda name=name: order.append(name)) for name in "xyz"}
    samples = measure.interleaved(steps, repeats=3, block_s=0.0, sync=lambda: None)
    for clock in (samples.wall, samples.cpu):
        assert {name: len(values) for name, values in clock.items()} == {"x": 3, "y": 3, "z": 3}
    assert order[:6] == ["x", "y", "z", "x", "y", "z"]  # warm-up, then one call each to calibrate
    timed = order[6:]
    assert timed == ["x", "y", "z", "y", "z", "x", "z", "x", "y"]
    assert measure.median_ratio([2.0, 4.0, 9.0], [1.0, 1.0, 3.0]) == 3.0


def test_peak_memory_sees_a_temporary_allocation() -> None:
    def step() -> None:
        torch.ones(1 << 18, dtype=torch.float32).sum()  # a 1 MiB temporary

    assert measure.peak_memory(step, CPU) >= 1 << 20


@pytest.mark.slow
def test_compiled_variants_match_and_do_not_recompile() -> None:
    case = next(case for case in CASES if case.name == "mission")
    config = run.Config(cases=(case,), sizes=(999,), repeats=2, block_s=0.0, compile_sizes=(999,))
    row = run.measure_row(case, 999, torch.float32, CPU, config)
    assert {"a", "b", "c", "d"} <= set(row.seconds)
    assert max(row.errors.values()) < 1e-5
    assert row.recompiles == 0


@pytest.mark.slow
@pytest.mark.parametrize("source", [STEP_FORMULA, CASES[0].formula], ids=["step-dependent", "mission"])
def test_compile_true_does_not_recompile_across_steps(source: str) -> None:
    torch._dynamo.reset()
    loss = losslang.compile(source, compile=True)
    pred = torch.randn(32, 3, requires_grad=True)
    batch = {name: torch.randn(32, 3) for name in ("y", "y1", "y2")} | {"pred": pred}
    loss(batch).total.backward()
    graphs = measure.graphs_compiled()
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(4):
            loss(batch).total.backward()
    assert measure.graphs_compiled() == graphs
    assert int(loss.step) == 5


@pytest.mark.slow
def test_step_recompile_probe() -> None:
    assert measure.step_recompiles(5, CPU) == {"steps": 5, "first_step": 1, "later_steps": 0, "step": 5}


HEAP_PROBE = """
import resource, sys, torch
from benchmarks.measure import warm_heap
if sys.argv[1] == "warm":
    assert warm_heap()
def cycle():  # 40 MiB, past glibc's largest mmap threshold: by default mapped afresh and unmapped each time
    a = torch.empty(10 << 20).fill_(1); b = torch.empty(3 << 20).fill_(1); del a, b
for _ in range(3):  # the heap grows to what a cycle takes
    cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    cycle()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt")
def test_a_warm_heap_takes_no_page_fault_where_the_default_one_does() -> None:
    """What ``--heap warm`` is for: the same allocations page-fault afresh each time under glibc's defaults.

    Once the heap has grown to what a cycle takes, a warm heap serves it from pages it already has,
    whatever the process allocated before (the imports differ with and without bytecode caches).
    """

    def faults(heap: str) -> int:
        command = [sys.executable, "-c", HEAP_PROBE, heap]
        return int(subprocess.run(command, check=True, capture_output=True, text=True, cwd=measure.ROOT).stdout)

    # By default every cycle maps its 40 MiB afresh (over 100,000 faults in ten cycles); a warm
    # heap keeps its pages, but where the allocator takes a block at a fresh place it faults once.
    assert 4 * faults("warm") < faults("default")


def test_the_report_says_how_the_heap_was_kept(smoke_report: str) -> None:
    assert "- Heap: the C library's defaults (`--heap default`)" in smoke_report
    assert run.config_of(run.parse_args([])).heap == "warm"  # the default, applied by main()


def test_report_path_defaults_to_the_benchmarks_folder() -> None:
    assert run.parse_args([]).out == Path(run.__file__).resolve().parent / "REPORT.md"


def test_interleaved_takes_fewer_repeats_when_over_budget_but_at_least_five() -> None:
    steps = {"slow": lambda: time.sleep(0.01)}
    samples = measure.interleaved(steps, repeats=20, block_s=0.0, sync=lambda: None, budget_s=0.02)
    assert len(samples.wall["slow"]) == 5


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_half_precision_rows_also_time_the_hand_written_module_in_float32(case) -> None:
    """The reference a half-precision row is judged against: the same module, its inputs widened to float32."""
    batch = case.inputs(300, torch.bfloat16, CPU)
    leaves = leaves_of(case, batch)
    found = run.variants(case, batch, compiled=False)
    wide = found[tables.WIDE].value_and_grads()
    assert wide[0].dtype == torch.float32 and all(grad.dtype == torch.bfloat16 for grad in wide[1:])
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as the row runs: a matmul keeps autocast's bfloat16
        expected = case.hand()(**{k: v.float() if v.is_floating_point() else v for k, v in batch.items()})
    torch.testing.assert_close(wide[0], expected.detach())
    assert len(wide) == 1 + len(leaves)
    assert tables.WIDE not in run.variants(case, case.inputs(300, torch.float32, CPU), compiled=False)


def _row(dtype: str, a: float, b: float, wide: float | None = None) -> run.Row:
    seconds = {"a": [a] * 3, "b": [b] * 3} | ({tables.WIDE: [wide] * 3} if wide else {})
    peak = {"a": 1, "b": 1} | ({tables.WIDE: 1} if wide else {})
    return run.Row("multilabel", "cpu", dtype, 10**6, 10**6, 1, seconds, seconds, peak, {"a": 0.0})


def test_each_row_is_judged_against_the_hand_written_module_in_the_same_arithmetic() -> None:
    rows = [_row("float32", 1.0, 1.0), _row("bfloat16", 2.0, 1.0, wide=2.0)]
    first = targets._eager_targets(rows)[0]
    assert "2 of 2 rows met" in first and "**met**" in first  # bfloat16: a / WIDE = 1.0
    literal = next(line for line in targets._eager_targets(rows) if "computing in half precision" in line)
    assert "multilabel cpu bfloat16 1e6 2.000" in literal and "**not met**" in literal  # a / b, named
    slow = [_row("float32", 1.2, 1.0), _row("bfloat16", 2.0, 1.0, wide=2.0)]
    assert "missed by: multilabel cpu float32 1e6 1.200" in targets._eager_targets(slow)[0]
