"""Weight initialization, filled in place (``torch.nn.init``'s names, arguments and defaults).

Every function draws with ``tensor.uniform_`` / ``tensor.normal_`` and an optional
``torch.Generator``, the same calls ``torch.nn.init`` makes, so with the same seed the numbers
are identical to the built-in's.
"""

from __future__ import annotations

import math

import torch

# the pure-Python formulas are shared with the NumPy reference
from lib.numpy_ref.init import MODES, calculate_gain, check_fan, fans
from lib.numpy_ref.module import check_real

__all__ = [
    "fans",
    "calculate_gain",
    "zeros_",
    "constant_",
    "normal_",
    "uniform_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "lecun_normal_",
]


def _fan(tensor: torch.Tensor, mode: str, who: str) -> int:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    fan_in, fan_out = fans(tensor.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    check_fan(fan, mode, tensor.shape, who)
    return fan


@torch.no_grad()
def zeros_(tensor: torch.Tensor) -> torch.Tensor:
    """w = 0."""
    return tensor.zero_()


@torch.no_grad()
def constant_(tensor: torch.Tensor, val: float) -> torch.Tensor:
    """w = val."""
    check_real("val", val)
    return tensor.fill_(val)


@torch.no_grad()
def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """w ~ U(a, b)."""
    check_real("a", a)
    check_real("b", b)
    return tensor.uniform_(a, b, generator=generator)


@torch.no_grad()
def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """w ~ N(mean, std²)."""
    check_real("mean", mean)
    check_real("std", std, ">= 0", lambda s: s >= 0)
    return tensor.normal_(mean, std, generator=generator)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot & Bengio (2010): w ~ U(−a, a), a = gain·√(6 / (fan_in + fan_out)),
    i.e. Var(w) = gain²·2 / (fan_in + fan_out)."""
    check_real("gain", gain)
    fan_in, fan_out = fans(tensor.shape)
    check_fan(fan_in + fan_out, "fan_in + fan_out", tensor.shape, "xavier_uniform_")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, generator=generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot & Bengio (2010): w ~ N(0, std²), std = gain·√(2 / (fan_in + fan_out))."""
    check_real("gain", gain)
    fan_in, fan_out = fans(tensor.shape)
    check_fan(fan_in + fan_out, "fan_in + fan_out", tensor.shape, "xavier_normal_")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator=generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He et al. (2015): w ~ U(−b, b), b = √3 · gain / √fan,
    gain = calculate_gain(nonlinearity, a)."""
    fan = _fan(tensor, mode, "kaiming_uniform_")
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, generator=generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He et al. (2015): w ~ N(0, std²), std = gain / √fan,
    gain = calculate_gain(nonlinearity, a)."""
    fan = _fan(tensor, mode, "kaiming_normal_")
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator=generator)


def lecun_normal_(tensor, generator=None):
    """LeCun et al. (1998): w ~ N(0, 1 / fan_in) (untruncated; = kaiming_normal_ with 'linear')."""
    return kaiming_normal_(tensor, mode="fan_in", nonlinearity="linear", generator=generator)


@torch.no_grad()
def orthogonal_(tensor, gain=1.0, generator=None):
    """Saxe et al. (2014): w = gain·Q, Q from the QR decomposition of a N(0, 1) matrix of shape
    (rows, numel / rows), signs fixed by diag(R) so Q is uniformly (Haar) distributed."""
    check_real("gain", gain)
    if tensor.dim() < 2:
        raise ValueError(
            "orthogonal_ needs a tensor with at least 2 dimensions, "
            f"got shape {tuple(tensor.shape)}"
        )
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = tensor.new_empty((rows, cols)).normal_(0, 1, generator=generator)
    if rows < cols:
        flat = flat.T
    q, r = torch.linalg.qr(flat)
    q = q * torch.diagonal(r).sign()
    if rows < cols:
        q = q.T
    return tensor.copy_(q.reshape(tensor.shape)).mul_(gain)
