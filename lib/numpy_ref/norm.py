"""Normalization layers with hand-written backward passes:
BatchNorm1d/2d, LayerNorm, GroupNorm, InstanceNorm2d.

All of them compute x̂ = (x − μ)/√(σ² + ε) over some axes (biased σ², ε inside the square root,
as in PyTorch) and then y = γ·x̂ + β. They differ only in the axes:
BatchNorm (N, *spatial) per channel, LayerNorm the trailing ``normalized_shape`` dims per sample,
GroupNorm (channels of a group, *spatial) per sample, InstanceNorm2d (H, W) per sample and channel.
"""

from __future__ import annotations

import numpy as np

from lib.numpy_ref.module import Module, as_float_array, is_real, is_size

__all__ = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "InstanceNorm2d", "LayerNorm"]


def _normalize(x, axes, eps):
    """x̂ = (x − μ)/√(σ² + ε) with μ, σ² (biased) over ``axes``; returns x̂, μ, σ², 1/√(σ² + ε)."""
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - mean) * inv_std, mean, var, inv_std


def _normalize_backward(dxhat, xhat, inv_std, axes):
    """Closed form of the backward of ``_normalize``, means over ``axes``:

    dx = (1/√(σ² + ε)) · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)).
    """
    return inv_std * (
        dxhat
        - dxhat.mean(axis=axes, keepdims=True)
        - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)
    )


def _check_eps_momentum(eps, momentum):
    if not is_real(eps) or not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r} (it keeps 1/√(σ² + ε) finite)")
    if momentum is not None and (not is_real(momentum) or not 0.0 <= momentum <= 1.0):
        raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")


def normalized_shape_tuple(normalized_shape) -> tuple[int, ...]:
    """LayerNorm's ``normalized_shape`` (an int, or a tuple/list of ints >= 1) as a tuple."""
    shape = normalized_shape if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)
    if not shape or not all(is_size(s) for s in shape):
        raise ValueError(
            "normalized_shape must be an int or a tuple of ints >= 1 (the trailing dims), "
            f"got {normalized_shape!r}"
        )
    return tuple(int(s) for s in shape)


class _ChannelNorm(Module):
    """Per-channel affine y = γ_c·x̂ + β_c on channel dim 1 (``weight`` = γ, ``bias`` = β)."""

    def __init__(self, num_features: int, eps: float, affine: bool):
        super().__init__()
        if not is_size(num_features):
            raise ValueError(f"num_features must be >= 1 (an int), got {num_features!r}")
        _check_eps_momentum(eps, None)
        self.num_features, self.eps, self.affine = num_features, float(eps), affine
        if affine:
            self.add_param("weight", np.ones(num_features))
            self.add_param("bias", np.zeros(num_features))

    def _check_input(self, x, ndims=None):
        """x as a float array of shape (N, C, *) with C = num_features and ndim in ``ndims``
        (None: any ndim >= 2)."""
        x = as_float_array(x, type(self).__name__)
        if x.ndim < 2 or (ndims is not None and x.ndim not in ndims):
            allowed = "2D or more" if ndims is None else " or ".join(f"{d}D" for d in ndims)
            raise ValueError(
                f"{type(self).__name__} expected {allowed} input, "
                f"got {x.ndim}D input of shape {x.shape}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects {self.num_features} channels "
                f"in dim 1, got input of shape {x.shape}"
            )
        return x

    def _affine(self, xhat):
        if not self.affine:
            return xhat
        shape = (1, -1) + (1,) * (xhat.ndim - 2)
        return self.params["weight"].reshape(shape) * xhat + self.params["bias"].reshape(shape)

    def _affine_backward(self, dout, xhat):
        """dγ = Σ dout·x̂, dβ = Σ dout (over all axes but the channel); returns dx̂ = dout·γ."""
        if not self.affine:
            return dout
        axes = tuple(i for i in range(dout.ndim) if i != 1)
        self._set_grad("weight", (dout * xhat).sum(axis=axes))
        self._set_grad("bias", dout.sum(axis=axes))
        return dout * self.params["weight"].reshape((1, -1) + (1,) * (dout.ndim - 2))

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


class _RunningNorm(_ChannelNorm):
    """Batch statistics in train mode, running statistics in eval mode (BatchNorm, InstanceNorm).

    Train: x̂ uses the biased batch variance; then running_mean ← (1 − m)·running_mean + m·μ and
    running_var ← (1 − m)·running_var + m·σ²·n/(n − 1) (UNBIASED, n values per statistic),
    as in PyTorch (momentum m = 0.1 weights the NEW value, unlike Keras' 0.99/0.9).
    An empty batch gives an empty output and leaves the running statistics unchanged (torch.nn).
    """

    ndims: tuple[int, ...] = ()
    too_few_message = ""

    def __init__(self, num_features, eps, momentum, affine, track_running_stats):
        super().__init__(num_features, eps, affine)
        _check_eps_momentum(eps, momentum)
        if momentum is None:
            raise ValueError(
                "momentum=None (cumulative average) is not supported; use a float in [0, 1]"
            )
        self.momentum, self.track_running_stats = float(momentum), track_running_stats
        if track_running_stats:
            self.buffers["running_mean"] = np.zeros(num_features)
            self.buffers["running_var"] = np.ones(num_features)

    def stat_axes(self, x) -> tuple[int, ...]:
        raise NotImplementedError

    def forward(self, x):
        x = self._check_input(x, self.ndims)
        axes = self.stat_axes(x)
        n = int(np.prod([x.shape[a] for a in axes]))
        use_batch_stats = self.training or not self.track_running_stats
        if x.size == 0:  # an empty batch: nothing to normalize, running statistics unchanged
            self._cache = dict(xhat=x, batch_stats=None)
            return self._affine(x)
        if use_batch_stats:
            if self.training and n == 1:
                raise ValueError(f"{self.too_few_message}, got input size {x.shape}")
            xhat, mean, var, inv_std = _normalize(x, axes, self.eps)
            if self.training and self.track_running_stats:
                m, c = self.momentum, self.num_features
                rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
                rm[...] = (1 - m) * rm + m * mean.reshape(-1, c).mean(axis=0)
                rv[...] = (1 - m) * rv + m * (var * n / (n - 1)).reshape(-1, c).mean(axis=0)
        else:
            shape = (1, -1) + (1,) * (x.ndim - 2)
            mean = self.buffers["running_mean"].reshape(shape)
            var = self.buffers["running_var"].reshape(shape)
            inv_std = 1.0 / np.sqrt(var + self.eps)
            xhat = (x - mean) * inv_std
        self._cache = dict(
            x=x,
            xhat=xhat,
            mean=mean,
            inv_std=inv_std,
            axes=axes,
            batch_stats=use_batch_stats,
        )
        return self._affine(xhat)

    def backward(self, dout):
        """Simplified closed form: dx = (1/√(σ² + ε))(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = γ·dout.

        With running statistics (eval) μ and σ² are constants, so dx = dx̂/√(σ² + ε).
        """
        c = self._saved()
        dout = self._check_dout(dout, c["xhat"].shape)
        dxhat = self._affine_backward(dout, c["xhat"])
        if c["batch_stats"] is None:  # empty batch
            return dxhat
        if not c["batch_stats"]:
            return dxhat * c["inv_std"]
        return _normalize_backward(dxhat, c["xhat"], c["inv_std"], c["axes"])

    def backward_graph(self, dout):
        """The same gradient, staged node by node through the computational graph (as in CS231n):
        μ = mean(x), d = x − μ, v = mean(d²), s = √(v + ε), i = 1/s, x̂ = d·i, y = γx̂ + β.
        """
        c = self._saved()
        dout = self._check_dout(dout, c["xhat"].shape)
        if c["batch_stats"] is None:  # empty batch
            return self._affine_backward(dout, c["xhat"])
        axes = c["axes"]
        n = int(np.prod([c["x"].shape[a] for a in axes]))  # values per statistic
        dxhat = self._affine_backward(dout, c["xhat"])
        d = c["x"] - c["mean"]  # d = x − μ
        inv_std = c["inv_std"]  # i = 1/s
        dd_direct = dxhat * inv_std  # x̂ = d·i → ∂/∂d
        if not c["batch_stats"]:
            return dd_direct  # μ, v are constants in eval mode
        di = (dxhat * d).sum(axis=axes, keepdims=True)  # x̂ = d·i → ∂/∂i
        ds = -di * inv_std**2  # i = 1/s
        dv = ds * 0.5 * inv_std  # s = √(v + ε): ∂s/∂v = 1/(2s)
        dd_sq = 2.0 * d * dv / n  # v = mean(d²)
        dd = dd_direct + dd_sq  # two paths into d
        dmu = -dd.sum(axis=axes, keepdims=True)  # d = x − μ → ∂/∂μ
        return dd + dmu / n  # x → d directly, and x → μ = mean(x)

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_RunningNorm):
    """BatchNorm over input (N, C) or (N, C, L): statistics per channel over N (and L)."""

    ndims = (2, 3)
    too_few_message = "Expected more than 1 value per channel when training"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def stat_axes(self, x):
        return (0,) + tuple(range(2, x.ndim))


class BatchNorm2d(BatchNorm1d):
    """BatchNorm over input (N, C, H, W): statistics per channel over N, H, W."""

    ndims = (4,)


class InstanceNorm2d(_RunningNorm):
    """InstanceNorm over input (N, C, H, W): statistics per sample and channel over H, W.

    Running statistics (only if ``track_running_stats``) average the per-instance μ and unbiased σ².
    """

    ndims = (4,)
    too_few_message = "Expected more than 1 spatial element when training"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
    ):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def stat_axes(self, x):
        return (2, 3)


class GroupNorm(_ChannelNorm):
    """GroupNorm over input (N, C, *): the C channels split into ``num_groups`` groups of C/G;
    statistics per sample and group over (channels of the group, *spatial); γ, β per channel.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True):
        if not (is_size(num_groups) and is_size(num_channels)) or num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels!r}) must be divisible by num_groups "
                f"({num_groups!r}); allowed num_groups: divisors of {num_channels}"
            )
        super().__init__(num_channels, eps, affine)
        self.num_groups = num_groups

    def forward(self, x):
        x = self._check_input(x)
        xg = x.reshape(x.shape[0], self.num_groups, -1)
        xhat_g, _, _, inv_std = _normalize(xg, (2,), self.eps)
        xhat = xhat_g.reshape(x.shape)
        self._cache = (xhat, inv_std)
        return self._affine(xhat)

    def backward(self, dout):
        xhat, inv_std = self._saved()
        dout = self._check_dout(dout, xhat.shape)
        dxhat = self._affine_backward(dout, xhat).reshape(dout.shape[0], self.num_groups, -1)
        dx = _normalize_backward(dxhat, xhat.reshape(dxhat.shape), inv_std, (2,))
        return dx.reshape(dout.shape)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_features}, eps={self.eps}, affine={self.affine}"


class LayerNorm(Module):
    """LayerNorm: statistics per sample over the trailing dims ``normalized_shape``;
    γ (``weight``) and β (``bias``) have shape ``normalized_shape``.
    """

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ):
        super().__init__()
        _check_eps_momentum(eps, None)
        self.normalized_shape = normalized_shape_tuple(normalized_shape)
        self.eps, self.elementwise_affine = float(eps), elementwise_affine
        if elementwise_affine:
            self.add_param("weight", np.ones(self.normalized_shape))
            if bias:
                self.add_param("bias", np.zeros(self.normalized_shape))

    def forward(self, x):
        x = as_float_array(x, "LayerNorm")
        k = len(self.normalized_shape)
        if x.ndim < k or x.shape[x.ndim - k :] != self.normalized_shape:
            trailing = ", ".join(map(str, self.normalized_shape))
            raise ValueError(f"LayerNorm expects input of shape (*, {trailing}), got {x.shape}")
        axes = tuple(range(x.ndim - k, x.ndim))
        xhat, _, _, inv_std = _normalize(x, axes, self.eps)
        self._cache = (xhat, inv_std, axes)
        out = xhat * self.params["weight"] if "weight" in self.params else xhat
        return out + self.params["bias"] if "bias" in self.params else out

    def backward(self, dout):
        xhat, inv_std, axes = self._saved()
        dout = self._check_dout(dout, xhat.shape)
        lead = tuple(range(dout.ndim - len(axes)))
        dxhat = dout
        if "weight" in self.params:
            self._set_grad("weight", (dout * xhat).sum(axis=lead))
            dxhat = dout * self.params["weight"]
        if "bias" in self.params:
            self._set_grad("bias", dout.sum(axis=lead))
        return _normalize_backward(dxhat, xhat, inv_std, axes)

    def extra_repr(self):
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
