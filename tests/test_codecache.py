from __future__ import annotations

import torch

import losslang
from losslang.codecache import CAPACITY, generate
from losslang.registry import REGISTRY


def test_losses_of_one_text_share_the_stateless_graph_and_keep_their_own_state() -> None:
    first, second = losslang.compile("mse(p, y) * (1 + step)"), losslang.compile("mse(p, y) * (1 + step)")
    assert first.body is second.body
    first.train()
    first(p=torch.ones(2), y=torch.zeros(2))
    assert int(first.step) == 1 and int(second.step) == 0


def test_a_graph_with_state_is_built_for_each_loss() -> None:
    first, second = (
        losslang.compile("uncertainty(mse(p, y), mae(p, y))"),
        losslang.compile("uncertainty(mse(p, y), mae(p, y))"),
    )
    assert first.body is not second.body
    assert {id(p) for p in first.parameters()}.isdisjoint(id(p) for p in second.parameters())


def test_a_function_registered_again_under_a_used_name_rebuilds() -> None:
    before = losslang.compile("l1(p, y)")

    @losslang.register("l1", override=True)
    def doubled(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 2 * (pred - target).abs().mean()

    after = losslang.compile("l1(p, y)")
    assert after.body is not before.body
    assert float(after(p=torch.ones(2), y=torch.zeros(2)).total) == 2.0
    assert float(before(p=torch.ones(2), y=torch.zeros(2)).total) == 1.0


def test_terms_for_one_loss_are_part_of_the_key() -> None:
    def triple(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 3 * (pred - target).abs().mean()

    plain = losslang.compile("mse(p, y)")
    custom = losslang.compile("mse(p, y)", terms={"mse": triple})
    assert custom.body is not plain.body
    assert float(custom(p=torch.ones(2), y=torch.zeros(2)).total) == 3.0
    assert losslang.compile("mse(p, y)", terms={"mse": triple}).body is custom.body


def test_the_cache_keeps_at_most_its_capacity() -> None:
    from losslang import codecache

    for index in range(CAPACITY + 10):
        generate(f"mse(p, y) * {index}", REGISTRY)
    assert len(codecache._GENERATED) == CAPACITY
