"""LossModule under DistributedDataParallel: two gloo processes on CPU, on loopback only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import losslang

ROOT = Path(__file__).parent.parent
WORKER = Path(__file__).parent / "ddp_worker.py"
WORLD = 2

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_ranks(out_dir: Path) -> list[dict]:
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": str(WORLD)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(out_dir)],
            env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(WORLD)
    ]
    try:
        logs = [proc.communicate(timeout=120)[0] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    for rank, (proc, log) in enumerate(zip(procs, logs, strict=True)):
        assert proc.returncode == 0, f"rank {rank} failed:\n{log}"
    return [json.loads((out_dir / f"rank{rank}.json").read_text()) for rank in range(WORLD)]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return run_ranks(tmp_path_factory.mktemp("ddp"))


@pytest.mark.parametrize("setup", ["separate", "wrapped", "next_to"])
def test_ranks_agree_after_training_on_different_data(ranks: list[dict], setup: str) -> None:
    first, second = (rank[setup] for rank in ranks)
    assert first["local"]["total"] != pytest.approx(second["local"]["total"])  # the data differ
    assert first["mean"] == second["mean"]
    assert first["sum"] == second["sum"]
    assert first["model_params"] == pytest.approx(second["model_params"])
    assert first["loss_params"] == pytest.approx(second["loss_params"])
    assert first["step"] == second["step"] == 20
    assert first["collectives"] == 1


@pytest.mark.parametrize("setup", ["separate", "wrapped", "next_to"])
def test_synced_metrics_are_the_mean_or_sum_of_the_ranks(ranks: list[dict], setup: str) -> None:
    local = [rank[setup]["local"] for rank in ranks]
    for name, mean in ranks[0][setup]["mean"].items():
        values = [metrics[name] for metrics in local]
        assert mean == pytest.approx(sum(values) / WORLD)
        assert ranks[0][setup]["sum"][f"sum/{name}"] == pytest.approx(sum(values))


@pytest.mark.parametrize("setup", ["separate", "wrapped"])
def test_learned_weights_are_the_same_on_every_rank(ranks: list[dict], setup: str) -> None:
    first, second = (rank[setup]["local"] for rank in ranks)
    weights = [name for name in first if name.startswith("weight/")]
    assert weights == ["weight/recon", "weight/mse(pred, y2)"]
    assert [first[name] for name in weights] == pytest.approx([second[name] for name in weights])
    assert first["weight/recon"] != pytest.approx(1.0)  # the weights did train
    assert "l1" in first


def test_sync_without_a_process_group_changes_nothing() -> None:
    assert not dist.is_initialized()
    out = losslang.compile("recon = mse(p, y); l1 = mae(p, y); recon")(p=torch.ones(3), y=torch.zeros(3))
    assert out.metrics(sync=True) == out.metrics() == out.metrics(sync=True, op="sum")


def test_a_term_dropped_on_one_rank_leaves_the_weights_identical_on_every_rank(ranks: list[dict]) -> None:
    first, second = (rank["skipping"] for rank in ranks)
    assert second["skipped"][5] == 1.0  # rank 1's NaN target dropped mse(pred, y2) at step 5
    assert sum(first["skipped"]) == sum(second["skipped"][:5] + second["skipped"][6:]) == 0.0
    assert first["scheme_state"] == second["scheme_state"]
    assert first["scheme_state"]["gradnorm_0.steps"] == 20 - 1  # every rank's scheme sat that step out
    weights = [first["local"][name] for name in ("weight/recon", "weight/mse(pred, y2)")]
    assert weights == pytest.approx([second["local"][name] for name in ("weight/recon", "weight/mse(pred, y2)")])
    assert all(value == value for value in weights)  # finite, not NaN
    assert first["model_params"] == pytest.approx(second["model_params"])


@pytest.mark.parametrize("scheme", ["dwa", "softadapt", "relobralo", "lr_annealing", "famo", "upgrad", "pcgrad"])
def test_schemes_with_statistics_keep_the_same_state_on_every_rank(ranks: list[dict], scheme: str) -> None:
    first, second = (rank[scheme] for rank in ranks)
    assert first["local"]["total"] != pytest.approx(second["local"]["total"])  # the data differ
    assert first["scheme_state"] == second["scheme_state"]  # exactly: both computed from the same synced statistics
    assert first["scheme_state"][f"{scheme}_0.steps"] == 20
    weights = ["weight/recon", "weight/mse(pred, y2)"]
    assert [first["local"][name] for name in weights] == [second["local"][name] for name in weights]
    assert first["local"][weights[0]] != first["local"][weights[1]]  # they started equal and moved
    assert first["mean"] == second["mean"] and first["step"] == second["step"] == 20
    assert first["model_params"] == pytest.approx(second["model_params"])


def test_features_mode_averages_the_gramians_and_every_rank_takes_the_same_weights(ranks: list[dict]) -> None:
    first, second = (rank["features"] for rank in ranks)
    assert first["local"]["total"] != pytest.approx(second["local"]["total"])  # the data differ
    assert first["scheme_state"] == second["scheme_state"]
    weights = ["weight/recon", "weight/mse(pred, y2)"]
    assert [first["local"][name] for name in weights] == [second["local"][name] for name in weights]
    assert first["model_params"] == pytest.approx(second["model_params"])
