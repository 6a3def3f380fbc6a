"""The proximal (soft-threshold) step for an L1 penalty, NumPy and PyTorch.

Gradient descent on loss(w) + λ‖w‖₁ with the subgradient λ·sign(w) jumps across 0 and back, so
weights end small but almost never exactly 0. The proximal step splits the update in two:

    v = w − η ∇loss(w)                      (a plain gradient step on the data loss)
    w ← S(v, ηλ),  S(v, t) = sign(v) · max(|v| − t, 0)     (soft-thresholding)

S is the exact minimiser of ½‖w − v‖² + t‖w‖₁: every |v| ≤ t lands exactly on 0 (ISTA; Daubechies,
Defrise & De Mol 2004; Beck & Teboulle 2009).
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["soft_threshold", "proximal_l1_step", "soft_threshold_", "count_zeros"]


def _check_threshold(t):
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or not t >= 0:
        raise ValueError(f"threshold must be a real number >= 0, got {t!r}")


def soft_threshold(v, threshold: float) -> np.ndarray:
    """S(v, t) = sign(v) · max(|v| − t, 0), elementwise (NumPy)."""
    _check_threshold(threshold)
    v = np.asarray(v, dtype=np.float64) if not isinstance(v, np.ndarray) else v
    return np.sign(v) * np.maximum(np.abs(v) - threshold, 0.0)


def proximal_l1_step(w, grad, lr: float, lam: float) -> np.ndarray:
    """One ISTA step: S(w − lr·grad, lr·lam). ``grad`` is the gradient of the data loss only."""
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    _check_threshold(lam)
    w, grad = np.asarray(w), np.asarray(grad)
    if w.shape != grad.shape:
        raise ValueError(f"w and grad must have the same shape, got {w.shape} and {grad.shape}")
    return soft_threshold(w - lr * grad, lr * lam)


def soft_threshold_(tensor, threshold: float):
    """In place on a torch tensor: tensor ← sign(tensor) · max(|tensor| − t, 0). Call it under
    ``torch.no_grad()`` after ``optimizer.step()`` with t = lr·λ to make SGD proximal."""
    import torch

    _check_threshold(threshold)
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"soft_threshold_ needs a torch.Tensor, got {type(tensor).__name__}")
    with torch.no_grad():
        shrunk = (tensor.abs() - threshold).clamp_(min=0)
        tensor.copy_(tensor.sign() * shrunk)
    return tensor


def count_zeros(values) -> int:
    """Number of entries exactly equal to 0 (NumPy array or torch tensor)."""
    return int((np.asarray(values.detach().cpu() if hasattr(values, "detach") else values)
                == 0).sum())
