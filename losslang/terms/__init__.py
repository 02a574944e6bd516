"""Built-in term functions: pure ``(tensors, *, options) -> Tensor`` maths, no registry code.

``BUILTINS`` lists what :mod:`losslang.registry` registers at import: name, function, kind
(``"loss"`` terms are reported under their own names) and aliases. ``docs/terms.md`` is
generated from the registry by :func:`losslang.docs.term_table`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from losslang.terms import (
    casts,
    classification,
    constructors,
    contrastive,
    derivatives,
    elementwise,
    functions,
    gathering,
    geometry,
    likelihood,
    lovasz,
    ordering,
    products,
    ranking,
    regression,
    segmentation,
    shaping,
    sizes,
)
from losslang.terms.precision import float32_term

_LOSSES: list[tuple[Callable[..., Tensor], tuple[str, ...]]] = [
    (regression.mse, ()),
    (regression.mae, ("l1",)),
    (regression.huber, ()),
    (regression.smooth_l1, ()),
    (regression.rmse, ()),
    (regression.msle, ()),
    (regression.log_cosh, ()),
    (regression.charbonnier, ()),
    (regression.quantile, ("pinball",)),
    (regression.mape, ()),
    (likelihood.poisson_nll, ()),
    (likelihood.gaussian_nll, ()),
    (likelihood.kl_div, ()),
    (classification.cross_entropy, ()),
    (classification.nll, ()),
    (classification.bce, ("binary_cross_entropy",)),
    (classification.bce_with_logits, ("binary_cross_entropy_with_logits",)),
    (classification.focal, ()),
    (classification.ctc, ()),
    (ranking.margin_ranking, ()),
    (ranking.hinge_embedding, ()),
    (ranking.soft_margin, ()),
    (ranking.multilabel_soft_margin, ()),
    (ranking.multilabel_margin, ()),
    (ranking.multi_margin, ()),
    (ranking.cosine_embedding, ()),
    (ranking.triplet_margin, ()),
    (segmentation.dice, ()),
    (segmentation.jaccard, ()),
    (segmentation.tversky, ()),
    (lovasz.lovasz_softmax, ()),
    (lovasz.lovasz_hinge, ()),
    (contrastive.info_nce, ()),
    (geometry.sin_angle, ()),
    (geometry.cos_angle, ()),
    (geometry.msa, ()),
]

_FUNCTIONS: list[Callable[..., Tensor]] = [
    elementwise.abs,
    elementwise.exp,
    elementwise.log,
    elementwise.log1p,
    elementwise.sqrt,
    elementwise.square,
    elementwise.sin,
    elementwise.cos,
    elementwise.tan,
    elementwise.arcsin,
    elementwise.arccos,
    elementwise.arctan,
    elementwise.tanh,
    elementwise.sigmoid,
    elementwise.softplus,
    elementwise.relu,
    elementwise.clamp,
    elementwise.minimum,
    elementwise.maximum,
    elementwise.where,
    elementwise.pi,
    classification.accuracy,
    functions.mean,
    functions.sum,
    functions.max,
    functions.min,
    functions.std,
    functions.var,
    functions.norm,
    functions.softmax,
    functions.log_softmax,
    functions.cosine_similarity,
    functions.dot,
    functions.detach,
    derivatives.grad,
    derivatives.partial,
    derivatives.laplacian,
    derivatives.div,
    sizes.size,
    sizes.numel,
    # The tensor vocabulary of real loss code, as torch names it.
    *(shaping.transpose, shaping.permute, shaping.flatten, shaping.unflatten, shaping.reshape, shaping.movedim),
    *(shaping.squeeze, shaping.unsqueeze, shaping.expand),
    *(products.matmul, products.einsum, products.outer, products.cdist),
    *(gathering.gather, gathering.take_along_dim, gathering.index_select, gathering.scatter, gathering.index_put),
    *(constructors.zeros_like, constructors.ones_like, constructors.full_like, constructors.arange),
    constructors.one_hot,
    *(ordering.sort, ordering.argsort, ordering.argmax, ordering.argmin, ordering.topk),
    *(ordering.cumsum, ordering.cumprod, ordering.logsumexp),
    casts.to,
]
# Functions whose Python name differs from the formula's: `float` and `long` would shadow the builtins.
_RENAMED: list[tuple[str, Callable[..., Tensor]]] = [("float", casts.to_float), ("long", casts.to_long)]

BUILTINS: list[tuple[str, Callable[..., Tensor], str, tuple[str, ...]]] = [
    # Every loss term computes in float32 under autocast and from half-precision inputs (see precision).
    *((fn.__name__, float32_term(fn), "loss", aliases) for fn, aliases in _LOSSES),
    *((fn.__name__, fn, "function", ()) for fn in _FUNCTIONS),
    *((name, fn, "function", ()) for name, fn in _RENAMED),
]

# Functions of numbers alone that the checker evaluates when the loss is compiled: log(2), sqrt(2), pi(), max(1, 2).
FOLDABLE = frozenset(
    {
        *(fn for fn in _FUNCTIONS if fn.__module__ == elementwise.__name__ and fn is not elementwise.where),
        functions.mean,
        functions.sum,
        functions.max,
        functions.min,
    }
)
