"""info_nce: RElbers/info-nce-pytorch's InfoNCE and CLIP's symmetric loss (the rows in term_cases), and its mask."""

from __future__ import annotations

import torch
from term_cases import clip_loss, relbers_info_nce

import losslang


def test_info_nce_is_the_reference_one_way_and_symmetric() -> None:
    q, k = torch.randn(6, 8, dtype=torch.float64), torch.randn(6, 8, dtype=torch.float64)
    one_way = losslang.compile("info_nce(q, k)")(q=q, k=k).total
    torch.testing.assert_close(one_way, relbers_info_nce(q, k, 0.1).mean())
    both = losslang.compile("info_nce(q, k, symmetric=true, temperature=0.07)")(q=q, k=k).total
    torch.testing.assert_close(both, clip_loss(q, k, 0.07).mean())


def test_a_masked_pair_leaves_the_batch_entirely() -> None:
    q, k = torch.randn(6, 8, dtype=torch.float64), torch.randn(6, 8, dtype=torch.float64)
    keep = torch.tensor([True, False, True, True, False, True])
    masked = losslang.compile("info_nce(q, k, mask=m, symmetric=true)")(q=q, k=k, m=keep).total
    torch.testing.assert_close(masked, clip_loss(q[keep], k[keep], 0.1).mean())  # as if the pairs were not there
