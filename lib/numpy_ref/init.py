"""Weight initializations as in ``torch.nn.init``, returning NEW float64 arrays of a given shape.

Shapes follow PyTorch: (out, in) for a linear layer, (out, in, kh, kw) for a convolution;
fan_in = in·kh·kw, fan_out = out·kh·kw.
"""

from __future__ import annotations

import math

import numpy as np

from lib.numpy_ref.module import check_real, check_rng

__all__ = [
    "MODES",
    "NONLINEARITIES",
    "calculate_gain",
    "check_fan",
    "constant",
    "fans",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "normal",
    "orthogonal",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

_LINEAR_GAINS = (
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)
NONLINEARITIES = _LINEAR_GAINS + ("tanh", "relu", "leaky_relu", "selu")
MODES = ("fan_in", "fan_out")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Recommended gain (PyTorch's table): linear/conv/sigmoid 1, tanh 5/3, relu √2,
    leaky_relu √(2/(1 + a²)) with a = ``param`` (default 0.01), selu 3/4.
    """
    if nonlinearity in _LINEAR_GAINS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else param
        if isinstance(a, bool) or not isinstance(a, (int, float)):
            raise ValueError(f"negative_slope {a!r} is not a valid number")
        return math.sqrt(2.0 / (1 + a**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}; allowed: {list(NONLINEARITIES)}")


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) = (shape[1]·r, shape[0]·r), r = product of shape[2:] (receptive field)."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out need a shape with at least 2 dimensions (out, in, ...), "
            f"got {shape}"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def check_fan(fan: int, name: str, shape, who: str) -> None:
    """ValueError if ``fan`` (``name``, e.g. "fan_in") is 0: the std would divide by 0."""
    if fan == 0:
        raise ValueError(
            f"{who}: {name} is 0 for shape {tuple(shape)}, and the std divides by it; "
            "every dimension of the shape must be >= 1"
        )


def _fan(shape, mode, who):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    fan_in, fan_out = fans(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    check_fan(fan, mode, shape, who)
    return fan


def zeros(shape) -> np.ndarray:
    """All zeros (the symmetric init that cannot train a hidden layer)."""
    return np.zeros(shape)


def constant(shape, val: float) -> np.ndarray:
    """W = val everywhere (as symmetric as zeros: every unit of a layer stays identical)."""
    check_real("val", val)
    return np.full(shape, float(val))


def normal(shape, mean: float = 0.0, std: float = 1.0, *, rng=None) -> np.ndarray:
    """W ~ N(mean, std²)."""
    check_real("mean", mean)
    check_real("std", std, ">= 0", lambda s: s >= 0)
    return check_rng(rng, "normal").normal(mean, std, shape)


def uniform(shape, a: float = 0.0, b: float = 1.0, *, rng=None) -> np.ndarray:
    """W ~ U(a, b)."""
    check_real("a", a)
    check_real("b", b)
    return check_rng(rng, "uniform").uniform(a, b, shape)


def xavier_uniform(shape, gain: float = 1.0, *, rng=None) -> np.ndarray:
    """Glorot & Bengio (2010): W ~ U(−b, b), b = gain·√(6/(fan_in + fan_out)),
    so Var W = gain²·2/(fan_in + fan_out)."""
    check_real("gain", gain)
    fan_in, fan_out = fans(shape)
    check_fan(fan_in + fan_out, "fan_in + fan_out", shape, "xavier_uniform")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return check_rng(rng, "xavier_uniform").uniform(-bound, bound, shape)


def xavier_normal(shape, gain: float = 1.0, *, rng=None) -> np.ndarray:
    """W ~ N(0, σ²), σ = gain·√(2/(fan_in + fan_out))."""
    check_real("gain", gain)
    fan_in, fan_out = fans(shape)
    check_fan(fan_in + fan_out, "fan_in + fan_out", shape, "xavier_normal")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return check_rng(rng, "xavier_normal").normal(0.0, std, shape)


def kaiming_uniform(
    shape, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", *, rng=None
) -> np.ndarray:
    """He et al. (2015): W ~ U(−b, b), b = √3·gain/√fan (std gain/√fan),
    gain = calculate_gain(nonlinearity, a).

    PyTorch's defaults (leaky_relu with a = 0) give gain √2, i.e. the ReLU case.
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode, "kaiming_uniform"))
    return check_rng(rng, "kaiming_uniform").uniform(
        -math.sqrt(3.0) * std, math.sqrt(3.0) * std, shape
    )


def kaiming_normal(
    shape, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", *, rng=None
) -> np.ndarray:
    """He et al. (2015): W ~ N(0, σ²), σ = gain/√fan (√(2/fan_in) for ReLU)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode, "kaiming_normal"))
    return check_rng(rng, "kaiming_normal").normal(0.0, std, shape)


def lecun_normal(shape, *, rng=None) -> np.ndarray:
    """LeCun et al. (1998): W ~ N(0, σ²), σ = 1/√fan_in."""
    fan_in = _fan(shape, "fan_in", "lecun_normal")
    return check_rng(rng, "lecun_normal").normal(0.0, 1.0 / math.sqrt(fan_in), shape)


def orthogonal(shape, gain: float = 1.0, *, rng=None) -> np.ndarray:
    """Saxe et al. (2014): W reshaped to (rows, cols) = (shape[0], rest) has orthonormal rows
    (rows ≤ cols) or columns (rows > cols), times ``gain``: W Wᵀ = gain²·I when rows ≤ cols.

    As PyTorch: Q from the QR of a N(0, 1) matrix, with the columns' signs fixed by sign(diag R)
    so that Q is uniformly (Haar) distributed.
    """
    shape = tuple(shape)
    check_real("gain", gain)
    if len(shape) < 2:
        raise ValueError(f"orthogonal init needs a shape with at least 2 dimensions, got {shape}")
    rows, cols = shape[0], math.prod(shape[1:])
    flat = check_rng(rng, "orthogonal").normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)
