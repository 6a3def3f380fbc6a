"""Losses and weight penalties, each returning ``(value, gradient)`` with the gradient by hand."""

from __future__ import annotations

import numpy as np

from lib.numpy_ref.activations import sigmoid
from lib.numpy_ref.module import as_float_array, check_real

__all__ = [
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "elastic_net_penalty",
    "l1_penalty",
    "l2_penalty",
    "log_softmax",
    "mse_loss",
    "softmax",
]


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(x)_i = x_i − logsumexp(x), logsumexp(x) = m + log Σ e^(x_j − m), m = max x."""
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax(x)_i = e^(x_i − m) / Σ_j e^(x_j − m), m = max x (shifting does not change it)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def cross_entropy(logits: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy, mean over the batch: L = −(1/N) Σ_n log softmax(z_n)[y_n].

    logits (N, C) float, target (N,) integer class indices in [0, C).
    dL/dz = (softmax(z) − onehot(y)) / N.
    """
    logits = as_float_array(logits, "cross_entropy logits")
    target = np.asarray(target)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, C), got {logits.shape}")
    n, c = logits.shape
    if n == 0:
        raise ValueError(
            f"cross_entropy needs a batch of at least 1 example (the mean over 0 is NaN), "
            f"got logits of shape {logits.shape}"
        )
    if not np.issubdtype(target.dtype, np.integer):
        raise TypeError(
            f"cross_entropy expects integer class indices as target, got dtype {target.dtype}"
        )
    if target.shape != (n,):
        raise ValueError(
            f"cross_entropy expects target of shape ({n},) for logits {logits.shape}, "
            f"got {target.shape}"
        )
    if target.min() < 0 or target.max() >= c:
        raise ValueError(
            f"cross_entropy target values must be in [0, {c}), "
            f"got range [{target.min()}, {target.max()}]"
        )
    logp = log_softmax(logits)
    rows = np.arange(n)
    loss = -logp[rows, target].mean()
    dlogits = np.exp(logp)
    dlogits[rows, target] -= 1.0
    return float(loss), dlogits / n


def _check_same_shape(pred, target, who):
    pred = as_float_array(pred, f"{who} input")
    target = as_float_array(target, f"{who} target")
    if pred.shape != target.shape:
        raise ValueError(
            f"{who}: input shape {pred.shape} and target shape {target.shape} must be equal"
        )
    if pred.size == 0:
        raise ValueError(f"{who} needs at least 1 element (the mean over 0 is NaN), got shape "
                         f"{pred.shape}")
    return pred, target


def mse_loss(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """L = mean((ŷ − y)²) over all elements; dL/dŷ = 2(ŷ − y)/size."""
    pred, target = _check_same_shape(pred, target, "mse_loss")
    diff = pred - target
    return float((diff**2).mean()), 2.0 * diff / diff.size


def binary_cross_entropy_with_logits(
    logits: np.ndarray, target: np.ndarray
) -> tuple[float, np.ndarray]:
    """L = mean(−y log σ(z) − (1 − y) log(1 − σ(z))), target y in [0, 1], same shape as z.

    Stable form: max(z, 0) − z·y + log(1 + e^(−|z|)). dL/dz = (σ(z) − y)/size.
    """
    logits, target = _check_same_shape(logits, target, "binary_cross_entropy_with_logits")
    if target.min() < 0 or target.max() > 1:
        raise ValueError("binary_cross_entropy_with_logits target values must be in [0, 1]")
    per_element = np.maximum(logits, 0.0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
    return float(per_element.mean()), (sigmoid(logits) - target) / logits.size


def _penalized(params: dict, keys) -> list[str]:
    """Names to penalize: ``keys`` if given (each must exist), else every name ending in "weight".

    Note that normalization layers' γ is also called "weight" (as in PyTorch); pass ``keys`` to
    leave it out.
    """
    if keys is None:
        return [k for k in params if k.endswith("weight")]
    unknown = [k for k in keys if k not in params]
    if unknown:
        raise ValueError(f"unknown parameter names {unknown}; allowed: {list(params)}")
    return list(keys)


def _check_lam(lam):
    check_real("penalty strength lam", lam, ">= 0", lambda v: v >= 0)


def l1_penalty(params: dict, lam: float, keys=None) -> tuple[float, dict]:
    """R = λ Σ|w|; dR/dw = λ·sign(w) (the subgradient 0 at w = 0)."""
    _check_lam(lam)
    names = _penalized(params, keys)
    value = lam * sum(np.abs(params[k]).sum() for k in names)
    return float(value), {k: lam * np.sign(params[k]) for k in names}


def l2_penalty(params: dict, lam: float, keys=None) -> tuple[float, dict]:
    """R = (λ/2) Σ w²; dR/dw = λ·w — the same update as SGD's ``weight_decay=λ``."""
    _check_lam(lam)
    names = _penalized(params, keys)
    value = 0.5 * lam * sum((params[k] ** 2).sum() for k in names)
    return float(value), {k: lam * params[k] for k in names}


def elastic_net_penalty(
    params: dict, lam: float, l1_ratio: float = 0.5, keys=None
) -> tuple[float, dict]:
    """R = λ (r Σ|w| + (1 − r)/2 Σ w²), r = l1_ratio in [0, 1] (scikit-learn's convention);
    dR/dw = λ (r·sign(w) + (1 − r)·w).
    """
    check_real("l1_ratio", l1_ratio, "in [0, 1]", lambda r: 0 <= r <= 1)
    v1, g1 = l1_penalty(params, lam * l1_ratio, keys)
    v2, g2 = l2_penalty(params, lam * (1.0 - l1_ratio), keys)
    return v1 + v2, {k: g1[k] + g2[k] for k in g1}
