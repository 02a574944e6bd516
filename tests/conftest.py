from __future__ import annotations

from pathlib import Path

import pytest
import torch

from losslang.terms import reduction

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(params=["ops", "fused"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a term test both ways: through the term's ops, and through its one-pass Function where it has one.

    Small batches take the ops; ``FUSED_FROM = 0`` sends every batch through the Function.
    """
    if request.param == "fused":
        monkeypatch.setattr(reduction, "FUSED_FROM", 0)
    return str(request.param)
