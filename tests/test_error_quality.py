"""One table of bad inputs across every category, each pinned to its exact message and location.

The cases live in tests/fixtures/error_quality.yaml: ``kind`` is ``compile`` (a formula),
``run`` (a formula and a batch; ``grad: true`` makes float inputs require gradients) or ``yaml``
(a config file, reported relative to its folder); ``options`` are keywords for ``losslang.compile``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import losslang
from conftest import FIXTURES

CASES = yaml.safe_load((FIXTURES / "error_quality.yaml").read_text())
CATEGORIES = {"syntax", "names", "arity", "keywords", "inputs", "shapes", "dtypes", "runtime", "config", "plugins"}


def tensors(value: Any, grad: bool) -> Any:
    if isinstance(value, dict):
        return {key: tensors(item, grad) for key, item in value.items()}
    tensor = torch.tensor(value)
    return tensor.requires_grad_() if grad and tensor.is_floating_point() else tensor


def trigger(case: dict[str, Any], folder: Path) -> None:
    if case["kind"] == "compile":
        losslang.compile(case["source"])
    elif case["kind"] == "run":
        loss = losslang.compile(case["source"], **case.get("options", {}))
        loss(tensors(case["batch"], case.get("grad", False)))
    elif case["kind"] == "yaml":
        (folder / "loss.yaml").write_text(case["source"])
        losslang.load(folder / "loss.yaml")
    elif case["kind"] == "plugin":
        (folder / "broken_plugin.py").write_text(case["module"])
        info = folder / "broken_plugin-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[losslang.terms]\n{case['entry_point']}\n")
        losslang.compile(case["source"])


def test_the_table_covers_every_category_with_forty_cases() -> None:
    assert len(CASES) >= 40 and {case["category"] for case in CASES} == CATEGORIES
    assert len({(case["kind"], case["source"], str(case.get("batch"))) for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c['category']}:{c['source'][:40]}" for c in CASES])
def test_exact_message_and_location(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(losslang.LossLangError) as caught:
        trigger(case, tmp_path)
    assert type(caught.value).__name__ == case["error"]
    assert str(caught.value).replace(f"{tmp_path}/", "") == case["message"]
