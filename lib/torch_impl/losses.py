"""Losses and weight penalties on tensors (autograd provides the gradients).

Same formulas and conventions as ``lib.numpy_ref.losses`` (mean over the batch; the penalties
act on parameters whose name ends in "weight" unless ``keys`` says otherwise), but each returns
a scalar tensor instead of ``(value, gradient)``.
"""

from __future__ import annotations

import torch
from torch import nn

from lib.numpy_ref.module import check_real
from lib.torch_impl.layers import check_float

__all__ = [
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "elastic_net_penalty",
    "l1_penalty",
    "l2_penalty",
    "log_softmax",
    "mse_loss",
]


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log softmax(x)_i = x_i − m − log Σ_j e^{x_j − m}, m = max x (the shift cancels exactly)."""
    m = x.amax(dim=dim, keepdim=True).detach()
    return x - m - torch.log(torch.exp(x - m).sum(dim=dim, keepdim=True))


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy, mean over the batch: L = −(1/N) Σ_n log softmax(z_n)[y_n].

    logits (N, C) float, target (N,) integer class indices in [0, C).
    """
    check_float(logits, "cross_entropy logits")
    if logits.dim() != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, C), got {tuple(logits.shape)}")
    n, c = logits.shape
    if n == 0:
        raise ValueError(
            f"cross_entropy needs a batch of at least 1 example (the mean over 0 is NaN), "
            f"got logits of shape {tuple(logits.shape)}"
        )
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"cross_entropy expects target as a tensor, got {type(target).__name__}")
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise TypeError(
            f"cross_entropy expects integer class indices as target, got dtype {target.dtype}"
        )
    if tuple(target.shape) != (n,):
        raise ValueError(
            f"cross_entropy expects target of shape ({n},) for logits {tuple(logits.shape)}, "
            f"got {tuple(target.shape)}"
        )
    if target.min() < 0 or target.max() >= c:
        raise ValueError(
            f"cross_entropy target values must be in [0, {c}), "
            f"got range [{target.min().item()}, {target.max().item()}]"
        )
    logp = log_softmax(logits, dim=1)
    return -logp.gather(1, target.reshape(n, 1)).mean()


def _check_same_shape(pred, target, who):
    check_float(pred, f"{who} input")
    check_float(target, f"{who} target")
    if pred.shape != target.shape:
        raise ValueError(
            f"{who}: input shape {tuple(pred.shape)} and target shape {tuple(target.shape)} "
            f"must be equal"
        )
    if pred.numel() == 0:
        raise ValueError(f"{who} needs at least 1 element (the mean over 0 is NaN), got shape "
                         f"{tuple(pred.shape)}")


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L = mean((ŷ − y)²) over all elements."""
    _check_same_shape(pred, target, "mse_loss")
    return ((pred - target) ** 2).mean()


def binary_cross_entropy_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L = mean(−y log σ(z) − (1 − y) log(1 − σ(z))), target y in [0, 1], same shape as z.

    Stable form: max(z, 0) − z·y + log(1 + e^{−|z|}); dL/dz = σ(z) − y (per element).
    """
    _check_same_shape(logits, target, "binary_cross_entropy_with_logits")
    if target.min() < 0 or target.max() > 1:
        raise ValueError("binary_cross_entropy_with_logits target values must be in [0, 1]")
    # both kinks (max and |z|) take the z >= 0 branch, so autograd gives σ(0) − y at z = 0
    positive = logits >= 0
    relu = torch.where(positive, logits, 0.0)
    minus_abs = torch.where(positive, -logits, logits)
    return (relu - logits * target + torch.log1p(torch.exp(minus_abs))).mean()


def _penalized(params, keys) -> dict[str, torch.Tensor]:
    """The tensors to penalize from a dict of named tensors (or an ``nn.Module``): those named in
    ``keys`` if given, else every one whose name ends in "weight" (norm layers' γ included)."""
    if isinstance(params, nn.Module):
        params = dict(params.named_parameters())
    if keys is None:
        return {k: v for k, v in params.items() if k.endswith("weight")}
    unknown = [k for k in keys if k not in params]
    if unknown:
        raise ValueError(f"unknown parameter names {unknown}; allowed: {list(params)}")
    return {k: params[k] for k in keys}


def _check_lam(lam):
    check_real("penalty strength lam", lam, ">= 0", lambda v: v >= 0)


def l1_penalty(params, lam: float, keys=None) -> torch.Tensor:
    """R = λ Σ|w| (autograd: λ·sign(w), 0 at w = 0)."""
    _check_lam(lam)
    return lam * sum(w.abs().sum() for w in _penalized(params, keys).values())


def l2_penalty(params, lam: float, keys=None) -> torch.Tensor:
    """R = (λ/2) Σ w²; dR/dw = λ·w, the same update as SGD's ``weight_decay=λ``."""
    _check_lam(lam)
    return 0.5 * lam * sum((w**2).sum() for w in _penalized(params, keys).values())


def elastic_net_penalty(params, lam: float, l1_ratio: float = 0.5, keys=None) -> torch.Tensor:
    """R = λ (r Σ|w| + (1 − r)/2 Σ w²), r = l1_ratio in [0, 1] (scikit-learn's convention)."""
    check_real("l1_ratio", l1_ratio, "in [0, 1]", lambda r: 0 <= r <= 1)
    return l1_penalty(params, lam * l1_ratio, keys) + l2_penalty(params, lam * (1 - l1_ratio), keys)
