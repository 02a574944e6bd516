"""One rank of the 2-process DDP test in test_distributed.py, which runs it as a script.

Each rank trains on its own data for ``STEPS`` steps in each of ``SETUPS`` and writes what it saw to
``<out_dir>/rank<RANK>.json``: local and synced metrics, the loss's parameters and the model's.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import losslang

STEPS = 20
WEIGHTED = "recon = mse(pred, y1); l1 = mae(pred, y2); uncertainty(recon, mse(pred, y2))"
PLAIN = "recon = mse(pred, y1); l1 = mae(pred, y2); recon + 0.5*mse(pred, y2)"
# Rank 1 feeds it a NaN at step 5. GradNorm weights this step's total with the weights from
# before its update, so only the ranks agreeing to skip keeps the NaN out of rank 0's state.
SKIPPING = "recon = mse(pred, y1); gradnorm(recon, mse(pred, y2))"
# The schemes that keep statistics rather than parameters: each rank sees other losses and
# gradients, so only averaging the statistics over ranks keeps their weights the same.
SCHEMES = ("dwa", "softadapt", "relobralo", "lr_annealing", "rlw", "famo", "upgrad", "pcgrad")
GRADIENTS = ("skipping", "lr_annealing", "upgrad", "pcgrad")  # the setups whose schemes read parameter gradients
SOURCES = {
    "next_to": PLAIN,
    "skipping": SKIPPING,
    **{scheme: f"recon = mse(pred, y1); l1 = mae(pred, y2); {scheme}(recon, mse(pred, y2))" for scheme in SCHEMES},
}
SETUPS = ("separate", "wrapped", "next_to", "skipping", *SCHEMES, "features")


class Trunk(nn.Module):
    """A shared trunk and a head: the features setup differentiates by the trunk's output."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk, self.head = nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(self.trunk(x))
        return h, self.head(h)


def train_features(rank: int) -> dict[str, object]:
    """upgrad with attach(model, features="h"): each rank's Gramian of its own representation, averaged."""
    torch.manual_seed(0)
    model = Trunk()
    loss = losslang.compile(SOURCES["upgrad"]).attach(model, features="h")
    ddp_model = DistributedDataParallel(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(STEPS):
        x, y1, y2 = rank_data(rank)
        h, pred = ddp_model(x)
        out = loss(h=h, pred=pred, y1=y1, y2=y2)
        optimizer.zero_grad()
        out.total.backward()
        optimizer.step()
    return report(out, model, loss)


class Wrapper(nn.Module):
    """The model and its loss in one module, wrapped in DDP once."""

    def __init__(self, model: nn.Module, loss: nn.Module) -> None:
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, x: torch.Tensor, y1: torch.Tensor, y2: torch.Tensor) -> losslang.LossOutput:
        return self.loss(pred=self.model(x), y1=y1, y2=y2)


def rank_data(rank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(100 + rank)  # different data on every rank
    x = torch.randn(16, 3, generator=generator)
    return x, x[:, :2] * (1 + rank), torch.randn(16, 2, generator=generator)


def train(setup: str, rank: int) -> dict[str, object]:
    if setup == "features":
        return train_features(rank)
    torch.manual_seed(0)
    source = SOURCES.get(setup, WEIGHTED)
    model, loss = nn.Linear(3, 2), losslang.compile(source, nan_policy="skip" if setup == "skipping" else "propagate")
    if setup in GRADIENTS:
        loss.attach(model)  # gradnorm, lr_annealing, upgrad and pcgrad read the gradients of the shared parameters
    if setup == "wrapped":
        step = DistributedDataParallel(Wrapper(model, loss))
        params = list(step.parameters())
    else:
        ddp_model = DistributedDataParallel(model)
        # A loss without parameters needs no DDP (DDP refuses it); one with learned weights does.
        ddp_loss = DistributedDataParallel(loss) if setup == "separate" else loss
        params = [*ddp_model.parameters(), *loss.parameters()]

        def step(x: torch.Tensor, y1: torch.Tensor, y2: torch.Tensor) -> losslang.LossOutput:
            return ddp_loss(pred=ddp_model(x), y1=y1, y2=y2)

    optimizer = torch.optim.Adam(params, lr=0.05)
    skipped = []
    for index in range(STEPS):
        x, y1, y2 = rank_data(rank)
        if setup == "skipping" and rank == 1 and index == 5:
            y2 = torch.where(torch.arange(16).unsqueeze(1) == 0, float("nan"), y2)
        out = step(x, y1, y2)
        skipped.append(sum(value for name, value in out.metrics().items() if name.startswith("skipped/")))
        optimizer.zero_grad()
        out.total.backward()
        optimizer.step()
    return {**report(out, model, loss), "skipped": skipped}


def report(out: losslang.LossOutput, model: nn.Module, loss: losslang.LossModule) -> dict[str, object]:
    calls = []
    all_reduce = dist.all_reduce

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return all_reduce(*args, **kwargs)

    dist.all_reduce = counting
    synced = out.metrics(sync=True)
    collectives = len(calls)
    dist.all_reduce = all_reduce
    return {
        "local": out.metrics(),
        "mean": synced,
        "sum": out.metrics(prefix="sum/", sync=True, op="sum"),
        "collectives": collectives,
        "loss_params": flat(loss),
        "model_params": flat(model),
        "step": int(loss.step),
        "scheme_state": {name: buffer.tolist() for name, buffer in loss.body.named_buffers()},
    }


def flat(module: nn.Module) -> list[float]:
    return torch.cat([p.detach().flatten() for p in module.parameters()] or [torch.zeros(0)]).tolist()


def main(out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="env://", timeout=timedelta(seconds=60))
    rank = dist.get_rank()
    try:
        results = {setup: train(setup, rank) for setup in SETUPS}
        dist.barrier()  # both ranks done before either tears gloo down: a rank that leaves first can abort the other
    finally:
        dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.getcwd())
    # Leave without the interpreter's teardown: about one run in forty, a thread torch's distributed
    # runtime leaves behind aborts the process there ("terminate called without an active exception",
    # no Python frame), after every result is written and the process group is destroyed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
