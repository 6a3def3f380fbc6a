"""The NumPy reference's algorithms written with PyTorch tensor ops (autograd gives the backward).

Same module and class names as ``lib.numpy_ref``: ``activations``, ``conv``, ``layers``, ``norm``,
``losses``, ``init``, ``optim``, ``schedules``. Modules are ``nn.Module`` subclasses with
PyTorch's names, arguments, defaults and parameter/buffer names, built from tensor ops (never by
calling the ``torch.nn`` built-in they are tested against), and run on any device. For a
container use ``torch.nn.Sequential``.
"""

from lib.torch_impl import activations, conv, init, layers, losses, norm, optim, schedules
from lib.torch_impl.activations import (
    ELU,
    GELU,
    LeakyReLU,
    Maxout,
    PReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
    get_activation,
)
from lib.torch_impl.conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d
from lib.torch_impl.layers import Dropout, Flatten, Linear
from lib.torch_impl.losses import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    elastic_net_penalty,
    l1_penalty,
    l2_penalty,
    mse_loss,
)
from lib.torch_impl.norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm
from lib.torch_impl.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    RMSprop,
    clip_grad_norm_,
    clip_grad_value_,
)
from lib.torch_impl.schedules import (
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
    "activations",
    "conv",
    "init",
    "layers",
    "losses",
    "norm",
    "optim",
    "schedules",
    "ELU",
    "GELU",
    "LeakyReLU",
    "Maxout",
    "PReLU",
    "ReLU",
    "SiLU",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "get_activation",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "Conv2d",
    "MaxPool2d",
    "Dropout",
    "Flatten",
    "Linear",
    "BatchNorm1d",
    "BatchNorm2d",
    "GroupNorm",
    "InstanceNorm2d",
    "LayerNorm",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "elastic_net_penalty",
    "l1_penalty",
    "l2_penalty",
    "mse_loss",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "RMSprop",
    "clip_grad_norm_",
    "clip_grad_value_",
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "SequentialLR",
]
