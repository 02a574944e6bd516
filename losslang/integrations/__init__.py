"""Glue between a compiled loss and training loops: trainers, PyTorch Lightning.

Nothing here imports an optional dependency when ``losslang`` is imported;
:mod:`losslang.integrations.lightning` never imports Lightning at all.
"""

from __future__ import annotations

from losslang.integrations.trainers import TrainerLossFn, as_loss_fn

__all__ = ["TrainerLossFn", "as_loss_fn"]
