"""Numerical gradient checks: centred differences against the hand-written backward passes."""

from __future__ import annotations

import copy

import numpy as np

from lib.numpy_ref.module import Module, check_real, check_rng

__all__ = ["check_layer_gradients", "numerical_gradient", "rel_error"]


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / (2h) for a scalar function f() of the array x.

    ``f`` takes no argument and reads ``x``; each entry of x is modified IN PLACE and restored.
    The error is O(h²) for smooth f.
    """
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"numerical_gradient needs a floating-point array, got dtype {x.dtype}")
    check_real("step h", h, "> 0 (it divides the difference)", lambda v: v > 0)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = f()
        x[i] = old - h
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray, tiny: float = 1e-300) -> float:
    """max over elements of |a − b| / max(|a| + |b|, tiny): 0 when equal, 1 when opposite or
    when one side is 0 and the other is not; ``tiny`` only avoids 0/0 where both are 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes {a.shape} and {b.shape} differ")
    if a.size == 0:
        return 0.0
    return float((np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), tiny)).max())


def check_layer_gradients(
    layer: Module, x: np.ndarray, rng: np.random.Generator, h: float = 1e-5
) -> dict[str, float]:
    """Relative errors of a layer's backward against numerical gradients: {"x": …, "weight": …}.

    Uses a RANDOM upstream gradient dout (an all-ones dout hides bugs, e.g. in BatchNorm) and
    the scalar f = Σ forward(x) · dout, whose gradient is exactly what ``backward(dout)`` returns.
    Every evaluation runs on a fresh deep copy of the layer as it was when called, so the
    function is deterministic: Dropout's generator is copied too (the same mask every time) and
    BatchNorm's running statistics are not advanced by the extra forward passes. ``layer``
    itself is left unchanged.
    """
    check_rng(rng, "check_layer_gradients")
    x = np.array(x, dtype=np.float64)
    snapshot = copy.deepcopy(layer)

    def fresh_forward():
        return copy.deepcopy(snapshot).forward(x)

    dout = rng.standard_normal(fresh_forward().shape)
    analytic = copy.deepcopy(snapshot)
    analytic.forward(x)
    dx = analytic.backward(dout)

    def f():
        return float((fresh_forward() * dout).sum())

    errors = {"x": rel_error(dx, numerical_gradient(f, x, h))}
    for name, p in snapshot.params.items():
        errors[name] = rel_error(analytic.grads[name], numerical_gradient(f, p, h))
    return errors
