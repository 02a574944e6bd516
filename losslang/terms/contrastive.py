"""InfoNCE with in-batch negatives (van den Oord et al. 2018; SimCLR, MoCo), and CLIP's symmetric form.

Row ``i`` of ``query`` and of ``key`` are a positive pair; every other key in the batch is a
negative. The loss of sample ``i`` is the cross-entropy of its similarities to all keys, divided
by ``temperature``, against its own key, as RElbers/info-nce-pytorch's ``info_nce`` computes it
(features L2-normalised first, as theirs and CLIP's are). ``symmetric=true`` averages it with the
same from the keys' side: CLIP's loss (Radford et al. 2021, the paper's Figure 3 pseudo-code),
``(cross_entropy(logits, labels) + cross_entropy(logits.T, labels)) / 2``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from losslang.bounds import Positive
from losslang.errors import LossShapeError
from losslang.terms.reduction import Reduction, masked_inputs, reduce


def info_nce(
    query: Tensor,
    key: Tensor,
    *,
    temperature: Positive = 0.1,
    symmetric: bool = False,
    normalize: bool = True,
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """InfoNCE of paired embeddings ``(N, D)``: each query against its own key, the other keys its negatives.

    ``weight`` weights a sample's loss; ``mask`` leaves a pair out of the batch entirely: its loss
    and its place among the others' negatives.

    Example:
        >>> import torch
        >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> info_nce(q, q, temperature=1.0)  # log(1 + e^-1): each key is nearest its own query
        tensor(0.3133)
    """
    if query.dim() != 2 or query.shape != key.shape:
        raise LossShapeError(
            f"info_nce(): query and key must be paired embeddings of the same shape (N, D), not "
            f"{tuple(query.shape)} and {tuple(key.shape)}"
        )
    query, key = masked_inputs(mask, query, key)
    if normalize:
        query, key = F.normalize(query, dim=-1), F.normalize(key, dim=-1)
    logits = query @ key.T / temperature
    if mask is not None:  # a masked pair is out of the batch: no one's negative either
        logits = logits.masked_fill(
            ~(mask[:, None] & mask[None, :]) & ~torch.eye(len(mask), dtype=torch.bool, device=mask.device), -torch.inf
        )
    labels = torch.arange(len(query), device=query.device)
    loss = F.cross_entropy(logits, labels, reduction="none")
    if symmetric:
        loss = (loss + F.cross_entropy(logits.T, labels, reduction="none")) / 2
    return reduce(loss, reduction, weight, mask)
