from __future__ import annotations

import pytest
import torch

from losslang.datasets import DATASETS, classification, linear_multilabel, regression_angle


def test_linear_multilabel_is_the_mindspore_tutorial() -> None:
    data = linear_multilabel(20_000)
    x = data["x"]
    assert x.shape == data["label1"].shape == data["label2"].shape == (20_000, 1)
    assert -10 <= x.min() < -9.9 and 9.9 < x.max() < 10  # x ~ U(-10, 10)
    noise1, noise2 = data["label1"] - (2 * x + 3), data["label2"] - (2 * x + 3)
    assert noise1.mean().item() == pytest.approx(0.0, abs=0.03) and noise1.std().item() == pytest.approx(1.0, abs=0.03)
    assert noise2.mean().item() == pytest.approx(-1.0, abs=0.03) and noise2.std().item() == pytest.approx(1.0, abs=0.03)
    assert torch.corrcoef(torch.cat([noise1, noise2], 1).T)[0, 1].abs() < 0.03  # two independent draws
    assert torch.corrcoef(torch.cat([noise1, x], 1).T)[0, 1].abs() < 0.03


def test_linear_multilabel_defaults_to_the_tutorial_size() -> None:
    assert linear_multilabel()["x"].shape == (160, 1)


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_dataset_is_reproducible_from_its_seed(name: str) -> None:
    first, again, other = DATASETS[name](seed=1), DATASETS[name](seed=1), DATASETS[name](seed=2)
    assert list(first) == list(again) and all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["x"], other["x"])
    assert len({len(values) for values in first.values()}) == 1  # batched along the first dimension


def test_classification_labels_and_radius() -> None:
    data = classification(600, features=2, classes=4)
    assert set(data["label"].tolist()) == {0, 1, 2, 3}
    torch.testing.assert_close(data["radius"], data["x"].norm(dim=1))
    centres = torch.stack([data["x"][data["label"] == k].mean(0) for k in range(4)])
    assert torch.cdist(centres, centres).add(torch.eye(4) * 1e9).min() > 1  # the classes are separable blobs


def test_regression_angle_targets_are_linear_3_vectors() -> None:
    data = regression_angle(64, features=4)
    solution = torch.linalg.lstsq(data["x"], data["target"]).solution
    torch.testing.assert_close(data["x"] @ solution, data["target"], atol=1e-4, rtol=1e-4)
    assert data["target"].shape == (64, 3)
