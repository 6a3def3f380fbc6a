"""Learning-rate schedules for PyTorch optimizers: the same classes as ``lib.numpy_ref.schedules``.

A schedule only reads and writes numbers in ``optimizer.param_groups`` (``lr``, and ``momentum`` or
``betas`` for OneCycleLR); it never touches a tensor. So one framework-free implementation serves
the NumPy optimizers, ``lib.torch_impl.optim`` and ``torch.optim`` alike. This module re-exports
it under the mirrored name, so readers find the schedules next to the PyTorch optimizers.
"""

from lib.numpy_ref.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    SequentialLR,
    StepLR,
)

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "SequentialLR",
]
