"""Basic layers built from tensor ops: ``Linear``, ``Dropout``, ``Flatten``.

For a container use ``torch.nn.Sequential`` itself: it only calls its children in order, so a
from-scratch copy would teach nothing.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lib.numpy_ref.layers import check_dims
from lib.numpy_ref.module import is_real, is_size
from lib.torch_impl import init

__all__ = ["Linear", "Dropout", "Flatten"]


def check_float(x, who: str) -> None:
    """TypeError unless ``x`` is a floating-point tensor (an integer tensor cannot be trained)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        got = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"{who} expects a floating-point tensor (e.g. float32), got {got}")


class Linear(nn.Module):
    """y = x Wᵀ + b, with ``weight`` W of shape (out_features, in_features).

    PyTorch's default init: W ~ U(−1/√in, 1/√in) (``kaiming_uniform_`` with a = √5) and
    b ~ U(−1/√in, 1/√in).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__()
        if not (is_size(in_features) and is_size(out_features)):
            raise ValueError(
                f"{type(self).__name__} sizes must be >= 1 and integers, got "
                f"in_features={in_features!r}, out_features={out_features!r}"
            )
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(
            torch.empty(out_features, in_features, device=device, dtype=dtype)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        check_float(x, type(self).__name__)
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__} expects inputs whose last dimension is "
                f"in_features={self.in_features}, "
                f"got shape {tuple(x.shape)}"
            )
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Dropout(nn.Module):
    """Inverted dropout: in training y = x·m / (1 − p), m ~ Bernoulli(1 − p) per element, so
    E[y] = x; in eval y = x. ``p`` is the probability of *dropping* a unit."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not is_real(p) or not 0 <= p < 1:
            raise ValueError(f"dropout probability p must be in [0, 1), got {p!r}")
        self.p = p

    def forward(self, x):
        check_float(x, "Dropout")
        if not self.training or self.p == 0:
            return x
        keep = torch.rand_like(x) >= self.p  # P(keep) = 1 − p
        return x * keep / (1 - self.p)

    def extra_repr(self):
        return f"p={self.p}"


class Flatten(nn.Module):
    """Merge dimensions start_dim … end_dim into one: (N, C, H, W) → (N, C·H·W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        check_dims(start_dim, end_dim)
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x):
        n = x.dim()
        if not (-n <= self.start_dim < n and -n <= self.end_dim < n):
            raise ValueError(
                f"Flatten: start_dim={self.start_dim} and end_dim={self.end_dim} must be in "
                f"[{-n}, {n - 1}] for a {n}-D input"
            )
        start, end = self.start_dim % n, self.end_dim % n
        if start > end:
            raise ValueError(
                f"Flatten needs start_dim <= end_dim, got start_dim={self.start_dim}, "
                f"end_dim={self.end_dim} on a {n}-D input"
            )
        merged = math.prod(x.shape[start : end + 1])
        return x.reshape(*x.shape[:start], merged, *x.shape[end + 1 :])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
