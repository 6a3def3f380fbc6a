"""Activation functions as NumPy modules, each with its derivative written by hand.

Elementwise activations expose ``function(x)`` (f) and ``derivative(x)`` (f′) so chapters can
plot both; ``backward(dout) = dout · f′(x)``. At a kink the derivative follows PyTorch: the
branch for ``x > 0`` is taken only for strictly positive x (ReLU′(0) = 0, LeakyReLU′(0) =
negative_slope, ELU′(0) = alpha, PReLU′(0) = weight).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf, expit

from lib.numpy_ref.module import Module, as_float_array, check_real, check_rng, is_size

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "Elementwise",
    "LeakyReLU",
    "Maxout",
    "PReLU",
    "ReLU",
    "SiLU",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "get_activation",
    "sigmoid",
]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^(−x)), by scipy's ``expit`` (never overflows, accurate in both tails)."""
    return expit(x)


class Elementwise(Module):
    """Base of the parameter-free elementwise activations: y = f(x), dx = dout · f′(x)."""

    def function(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, type(self).__name__)
        self._cache = x
        return self.function(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._saved()
        return self._check_dout(dout, x.shape) * self.derivative(x)


class Sigmoid(Elementwise):
    """f(x) = 1/(1 + e^(−x)); f′(x) = f(x)(1 − f(x)) ≤ 1/4."""

    def function(self, x):
        return sigmoid(x)

    def derivative(self, x):
        s = sigmoid(x)
        return s * (1.0 - s)


class Tanh(Elementwise):
    """f(x) = tanh(x); f′(x) = 1 − tanh²(x)."""

    def function(self, x):
        return np.tanh(x)

    def derivative(self, x):
        return 1.0 - np.tanh(x) ** 2


class ReLU(Elementwise):
    """f(x) = max(0, x); f′(x) = 1 if x > 0 else 0 (f′(0) = 0, as in PyTorch)."""

    def function(self, x):
        return np.maximum(x, 0.0)

    def derivative(self, x):
        return (x > 0).astype(x.dtype)


class LeakyReLU(Elementwise):
    """f(x) = x if x > 0 else a·x; f′(x) = 1 if x > 0 else a (a = negative_slope)."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        check_real("negative_slope", negative_slope)
        self.negative_slope = float(negative_slope)

    def function(self, x):
        return np.where(x > 0, x, self.negative_slope * x)

    def derivative(self, x):
        return np.where(x > 0, 1.0, self.negative_slope).astype(x.dtype)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Elementwise):
    """f(x) = x if x > 0 else α(eˣ − 1); f′(x) = 1 if x > 0 else α·eˣ."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        check_real("alpha", alpha)
        self.alpha = float(alpha)

    def function(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0.0)))

    def derivative(self, x):
        return np.where(x > 0, 1.0, self.alpha * np.exp(np.minimum(x, 0.0)))

    def extra_repr(self):
        return f"alpha={self.alpha}"


class GELU(Elementwise):
    """f(x) = x·Φ(x), Φ(x) = (1 + erf(x/√2))/2; f′(x) = Φ(x) + x·φ(x), φ the N(0,1) density.

    ``approximate='tanh'``: f(x) = x/2·(1 + tanh u), u = √(2/π)(x + 0.044715x³);
    f′(x) = (1 + tanh u)/2 + x/2·(1 − tanh² u)·√(2/π)(1 + 3·0.044715x²).
    """

    APPROXIMATIONS = ("none", "tanh")

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in self.APPROXIMATIONS:
            raise ValueError(
                f"GELU approximate must be one of {self.APPROXIMATIONS}, got {approximate!r}"
            )
        self.approximate = approximate

    def function(self, x):
        if self.approximate == "tanh":
            return 0.5 * x * (1.0 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
        return x * 0.5 * (1.0 + erf(x / math.sqrt(2)))

    def derivative(self, x):
        if self.approximate == "tanh":
            c = math.sqrt(2 / math.pi)
            t = np.tanh(c * (x + 0.044715 * x**3))
            return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * c * (1.0 + 3 * 0.044715 * x**2)
        cdf = 0.5 * (1.0 + erf(x / math.sqrt(2)))
        pdf = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
        return cdf + x * pdf

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Elementwise):
    """SiLU / Swish-1: f(x) = x·σ(x); f′(x) = σ(x)(1 + x(1 − σ(x)))."""

    def function(self, x):
        return x * sigmoid(x)

    def derivative(self, x):
        s = sigmoid(x)
        return s * (1.0 + x * (1.0 - s))


def check_softplus(beta, threshold) -> None:
    """Softplus needs β > 0 (it divides by β) and a real threshold."""
    check_real("Softplus beta", beta, "> 0 (f divides by β)", lambda b: b > 0)
    check_real("Softplus threshold", threshold)


class Softplus(Elementwise):
    """f(x) = log(1 + e^(βx))/β, and f(x) = x where βx > threshold; f′(x) = σ(βx) (1 there)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        check_softplus(beta, threshold)
        self.beta, self.threshold = float(beta), float(threshold)

    def function(self, x):
        bx = self.beta * x
        return np.where(bx > self.threshold, x, np.logaddexp(0.0, bx) / self.beta)

    def derivative(self, x):
        bx = self.beta * x
        return np.where(bx > self.threshold, 1.0, sigmoid(bx))

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class PReLU(Module):
    """f(x) = x if x > 0 else a·x with learnable a (``weight``, one per channel of dim 1 or shared).

    ∂f/∂x = 1 if x > 0 else a;  ∂L/∂a = Σ dout · x · [x ≤ 0] (summed over all but the channel).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        if not is_size(num_parameters):
            raise ValueError(f"PReLU num_parameters must be >= 1 (an int), got {num_parameters!r}")
        check_real("PReLU init", init)
        self.num_parameters = int(num_parameters)
        self.add_param("weight", np.full(self.num_parameters, float(init)))

    def _slope_shape(self, x):
        if self.num_parameters == 1:
            return (1,) * x.ndim
        if x.ndim < 2 or x.shape[1] != self.num_parameters:
            raise ValueError(
                f"PReLU(num_parameters={self.num_parameters}) needs input with "
                f"{self.num_parameters} channels in dim 1, got shape {x.shape}"
            )
        return (1, self.num_parameters) + (1,) * (x.ndim - 2)

    def forward(self, x):
        x = as_float_array(x, "PReLU")
        a = self.params["weight"].reshape(self._slope_shape(x))
        self._cache = x
        return np.where(x > 0, x, a * x)

    def backward(self, dout):
        x = self._saved()
        dout = self._check_dout(dout, x.shape)
        a = self.params["weight"].reshape(self._slope_shape(x))
        da = dout * np.where(x > 0, 0.0, x)
        axes = tuple(i for i in range(x.ndim) if not (self.num_parameters > 1 and i == 1))
        self._set_grad("weight", da.sum(axis=axes).reshape(self.num_parameters))
        return dout * np.where(x > 0, 1.0, a)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Maxout(Module):
    """y_j = max_k (W_{jk} x + b_{jk}) over k = 1..pieces (Goodfellow et al., 2013).

    ``weight`` has shape (out_features·pieces, in_features), rows j·pieces … j·pieces+pieces−1
    belonging to unit j; init U(−1/√in, 1/√in) like ``Linear``. The gradient flows only through
    the winning piece of each unit.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, *, rng=None):
        super().__init__()
        check_rng(rng, "Maxout")
        if not all(map(is_size, (in_features, out_features, pieces))):
            raise ValueError(
                f"Maxout sizes must be >= 1 and integers, got in_features={in_features!r}, "
                f"out_features={out_features!r}, pieces={pieces!r}"
            )
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        bound = 1.0 / math.sqrt(in_features)
        self.add_param("weight", rng.uniform(-bound, bound, (out_features * pieces, in_features)))
        self.add_param("bias", rng.uniform(-bound, bound, out_features * pieces))

    def forward(self, x):
        x = as_float_array(x, "Maxout")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"Maxout expects input of shape (N, {self.in_features}), got {x.shape}"
            )
        z = (x @ self.params["weight"].T + self.params["bias"]).reshape(
            -1, self.out_features, self.pieces
        )
        winner = z.argmax(axis=2)
        self._cache = (x, winner)
        return np.take_along_axis(z, winner[..., None], axis=2)[..., 0]

    def backward(self, dout):
        x, winner = self._saved()
        dout = self._check_dout(dout, winner.shape)
        dz = np.zeros((x.shape[0], self.out_features, self.pieces), dtype=dout.dtype)
        np.put_along_axis(dz, winner[..., None], dout[..., None], axis=2)
        dz = dz.reshape(x.shape[0], -1)
        self._set_grad("weight", dz.T @ x)
        self._set_grad("bias", dz.sum(axis=0))
        return dz @ self.params["weight"]

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


def get_activation(name: str, **kwargs) -> Module:
    """A new activation module by name: ``get_activation("leaky_relu", negative_slope=0.1)``."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; allowed: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name](**kwargs)
