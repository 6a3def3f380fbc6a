"""Activation functions as ``nn.Module``s built from tensor ops (autograd provides f′).

Names, arguments and defaults follow ``torch.nn``; each is checked against the built-in in
``tests/test_parity.py``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lib.numpy_ref.activations import check_softplus
from lib.numpy_ref.module import check_real, is_size
from lib.torch_impl.layers import Linear

__all__ = [
    "ACTIVATIONS",
    "get_activation",
    "sigmoid",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "GELU",
    "SiLU",
    "Softplus",
    "Maxout",
]


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """σ(x) = 1 / (1 + e^{−x}), computed as e^{x} / (1 + e^{x}) for x < 0 so that exp never
    overflows (the naive form gives a NaN gradient at x ≲ −88 in float32)."""
    e = torch.exp(torch.where(x >= 0, -x, x))  # e^{−|x|}, with the gradient of the branch taken
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(nn.Module):
    """σ(x) = 1 / (1 + e^{−x});  σ′ = σ(1 − σ) ≤ 1/4."""

    def forward(self, x):
        return sigmoid(x)


class Tanh(nn.Module):
    """tanh(x) = (e^{x} − e^{−x}) / (e^{x} + e^{−x}) = 2σ(2x) − 1;  tanh′ = 1 − tanh²."""

    def forward(self, x):
        return torch.tanh(x)


class ReLU(nn.Module):
    """ReLU(x) = max(0, x);  ReLU′(0) = 0, as in PyTorch."""

    def forward(self, x):
        return torch.where(x > 0, x, 0.0)


class LeakyReLU(nn.Module):
    """LeakyReLU(x) = x if x > 0 else negative_slope·x."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        check_real("negative_slope", negative_slope)
        self.negative_slope = negative_slope

    def forward(self, x):
        return torch.where(x > 0, x, self.negative_slope * x)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class PReLU(nn.Module):
    """PReLU(x) = x if x > 0 else a·x, with a learned slope ``weight`` (one, or one per channel of
    dimension 1), initialised to ``init`` (He et al., 2015)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        if not is_size(num_parameters):
            raise ValueError(f"num_parameters must be a positive integer, got {num_parameters!r}")
        check_real("PReLU init", init)
        self.num_parameters = num_parameters
        self.weight = nn.Parameter(torch.full((num_parameters,), init, device=device, dtype=dtype))

    def forward(self, x):
        a = self.weight
        if self.num_parameters > 1:
            if x.dim() < 2 or x.shape[1] != self.num_parameters:
                raise ValueError(
                    f"PReLU with num_parameters={self.num_parameters} needs an input with that "
                    f"many channels in dimension 1, got shape {tuple(x.shape)}"
                )
            a = a.reshape(1, -1, *([1] * (x.dim() - 2)))
        return torch.where(x > 0, x, a * x)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class ELU(nn.Module):
    """ELU(x) = x if x > 0 else α(e^{x} − 1) (Clevert et al., 2016)."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        check_real("alpha", alpha)
        self.alpha = alpha

    def forward(self, x):
        # exp only sees min(x, 0), so the branch not taken cannot overflow (0 · inf = NaN in
        # backward); where, not clamp, whose gradient at the boundary x = 0 is 0
        negative = torch.where(x > 0, 0.0, x)
        return torch.where(x > 0, x, self.alpha * torch.expm1(negative))

    def extra_repr(self):
        return f"alpha={self.alpha}"


class GELU(nn.Module):
    """GELU(x) = x·Φ(x) = x/2 · (1 + erf(x/√2)) (Hendrycks & Gimpel, 2016);
    approximate='tanh': x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³)))."""

    APPROXIMATIONS = ("none", "tanh")

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in self.APPROXIMATIONS:
            raise ValueError(
                f"unknown approximate {approximate!r}; allowed: {', '.join(self.APPROXIMATIONS)}"
            )
        self.approximate = approximate

    def forward(self, x):
        if self.approximate == "tanh":
            return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(nn.Module):
    """SiLU(x) = x·σ(x) (also called Swish with β = 1)."""

    def forward(self, x):
        return x * sigmoid(x)


class Softplus(nn.Module):
    """Softplus(x) = log(1 + e^{βx}) / β, and x where βx > threshold (for numerical stability)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        check_softplus(beta, threshold)
        self.beta = beta
        self.threshold = threshold

    def forward(self, x):
        bx = self.beta * x
        linear = bx > self.threshold
        # exp never sees the linear region (no overflow); gradient σ(βx) kept at βx = threshold
        soft = torch.log1p(torch.exp(torch.where(linear, 0.0, bx))) / self.beta
        return torch.where(linear, x, soft)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Maxout(Linear):
    """Maxout (Goodfellow et al., 2013): y_j = max_k (x·W_{jk}ᵀ + b_{jk}) over k = 1…pieces.

    A ``Linear(in_features, out_features·pieces)`` (same ``weight``/``bias`` and init) whose
    outputs are read as (out_features, pieces): rows j·pieces … j·pieces + pieces − 1 of
    ``weight`` belong to unit j. The gradient flows only through each unit's winning piece.
    """

    def __init__(
        self, in_features: int, out_features: int, pieces: int = 2, device=None, dtype=None
    ):
        if not all(map(is_size, (in_features, out_features, pieces))):
            raise ValueError(
                f"Maxout sizes must be >= 1 and integers, got in_features={in_features!r}, "
                f"out_features={out_features!r}, pieces={pieces!r}"
            )
        super().__init__(in_features, out_features * pieces, device=device, dtype=dtype)
        self.out_features = out_features
        self.pieces = pieces

    def forward(self, x):
        z = super().forward(x)
        return z.reshape(*z.shape[:-1], self.out_features, self.pieces).amax(dim=-1)

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"pieces={self.pieces}"
        )


ACTIVATIONS = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "prelu": PReLU,
    "elu": ELU,
    "gelu": GELU,
    "silu": SiLU,
    "softplus": Softplus,
}


def get_activation(name: str, **kwargs) -> nn.Module:
    """A new activation by name: ``get_activation("leaky_relu", negative_slope=0.1)``."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; allowed: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name](**kwargs)
