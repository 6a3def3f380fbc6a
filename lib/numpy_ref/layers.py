"""Linear, Dropout and Flatten as NumPy modules with hand-written backward passes."""

from __future__ import annotations

import math
import numbers

import numpy as np

from lib.numpy_ref.module import Module, as_float_array, check_rng, is_size

__all__ = ["Dropout", "Flatten", "Linear"]


class Linear(Module):
    """y = x Wᵀ + b with W of shape (out_features, in_features); x of shape (*, in_features).

    Backward: dx = dout W, dW = doutᵀ x, db = Σ_batch dout. Init as PyTorch's ``nn.Linear``:
    W, b ~ U(−1/√in, 1/√in) (kaiming_uniform with a = √5).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, *, rng=None, dtype=np.float64
    ):
        super().__init__()
        check_rng(rng, "Linear")
        if not (is_size(in_features) and is_size(out_features)):
            raise ValueError(
                f"Linear sizes must be >= 1 and integers, got in_features={in_features!r}, "
                f"out_features={out_features!r}"
            )
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.add_param(
            "weight", rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype)
        )
        if bias:
            self.add_param("bias", rng.uniform(-bound, bound, out_features).astype(dtype))

    def forward(self, x):
        x = as_float_array(x, "Linear")
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear(in_features={self.in_features}) expects input of shape "
                f"(*, {self.in_features}), got {x.shape}"
            )
        self._cache = x
        out = x @ self.params["weight"].T
        return out + self.params["bias"] if "bias" in self.params else out

    def backward(self, dout):
        x = self._saved()
        dout = self._check_dout(dout, x.shape[:-1] + (self.out_features,))
        x2, dout2 = x.reshape(-1, self.in_features), dout.reshape(-1, self.out_features)
        self._set_grad("weight", dout2.T @ x2)
        if "bias" in self.params:
            self._set_grad("bias", dout2.sum(axis=0))
        return dout @ self.params["weight"]

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={'bias' in self.params}"
        )


class Dropout(Module):
    """Inverted dropout, p = DROP probability. Train: y = x·m/(1 − p), m ~ Bernoulli(1 − p);
    eval: y = x.

    E[y] = x in train mode, so nothing is rescaled at test time. Backward: dx = dout·m/(1 − p).
    """

    def __init__(self, p: float = 0.5, *, rng=None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p < 1.0:
            raise ValueError(
                f"Dropout probability p must be in [0, 1) (p is the drop probability), got {p!r}"
            )
        self.p = float(p)
        self.rng = check_rng(rng, "Dropout")

    def forward(self, x):
        x = as_float_array(x, "Dropout")
        if not self.training or self.p == 0.0:
            self._cache = (np.ones((), dtype=x.dtype), x.shape)  # identity: dout passes through
            return x
        scaled_mask = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)
        self._cache = (scaled_mask, x.shape)
        return x * scaled_mask

    def backward(self, dout):
        scaled_mask, shape = self._saved()
        return self._check_dout(dout, shape) * scaled_mask

    def extra_repr(self):
        return f"p={self.p}"


def check_dims(start_dim, end_dim) -> None:
    """Flatten's dims must be integers (negative ones count from the end)."""
    for name, d in (("start_dim", start_dim), ("end_dim", end_dim)):
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise ValueError(f"Flatten {name} must be an integer (e.g. 1 or -1), got {d!r}")


class Flatten(Module):
    """Merge dims start_dim … end_dim into one (PyTorch ``nn.Flatten``); backward reshapes back."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        check_dims(start_dim, end_dim)
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        x = np.asarray(x)
        for d in (self.start_dim, self.end_dim):
            if not -x.ndim <= d < x.ndim:
                raise ValueError(
                    f"Flatten: dim {d} out of range for input with {x.ndim} dims "
                    f"(allowed {-x.ndim} … {x.ndim - 1})"
                )
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        if start > end:
            raise ValueError(
                f"Flatten: start_dim={self.start_dim} comes after end_dim={self.end_dim} for input "
                f"with {x.ndim} dims"
            )
        out = x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1 :])
        self._cache = (x.shape, out.shape)
        return out

    def backward(self, dout):
        in_shape, out_shape = self._saved()
        return self._check_dout(dout, out_shape).reshape(in_shape)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
