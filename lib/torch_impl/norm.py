"""Normalization layers built from tensor ops: BatchNorm1d/2d, LayerNorm, GroupNorm, InstanceNorm2d.

All compute y = γ·x̂ + β with x̂ = (x − μ) / √(σ² + ε), μ and the *biased* variance σ² taken over
some axes (``weight`` γ, ``bias`` β). They differ only in the axes:

- BatchNorm: over the batch and spatial axes, per channel (N, H, W for each C);
- LayerNorm: over the trailing ``normalized_shape`` axes, per sample;
- InstanceNorm: over the spatial axes, per sample and channel;
- GroupNorm: over the channels of a group and the spatial axes, per sample and group.

In training all share ``Normalize``, an autograd Function with the closed-form backward of
``lib.numpy_ref.norm`` written with tensor ops: one graph node and a few passes over x instead of
the dozen nodes (and temporaries) autograd would record for the forward's ops. Eval with running
statistics is a plain y = β + (x − μ)·γ/√(σ² + ε). Parameter and buffer names match ``torch.nn`` so
``load_state_dict`` works across both.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from lib.numpy_ref.module import is_real, is_size
from lib.numpy_ref.norm import normalized_shape_tuple
from lib.torch_impl.layers import check_float

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm2d", "Normalize"]


class Normalize(torch.autograd.Function):
    """y = γ·x̂ + β with x̂ = (x − μ)/σ, σ = √(σ² + ε), μ and the biased σ² = mean((x − μ)²) over
    ``dims``, and the closed-form backward (means over ``dims``, as in ``lib.numpy_ref.norm``):

        dβ = Σ dy,  dγ = Σ dy·x̂   (summed to the shapes of β and γ)
        dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / σ   with  dx̂ = γ·dy

    ``Normalize.apply(x, dims, eps, weight, bias)`` returns (y, μ, σ²); ``weight`` and ``bias``
    (or None) broadcast against x; μ and σ² keep the reduced axes (size 1) and carry no gradient
    (they feed the running statistics). Like PyTorch's kernels it saves x, μ and 1/σ, not x̂.
    Few passes over x and one new full-size tensor per direction (y, dx), updated in place: on
    the CPU each pass, and each fresh tensor as large as x, costs time. Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, x, dims, eps, weight, bias):
        mean = x.mean(dim=dims, keepdim=True)
        y = x - mean
        n = math.prod(x.shape[d] for d in dims)  # values per statistic
        var = torch.linalg.vector_norm(y, dim=dims, keepdim=True).square_() / n  # ‖x − μ‖²/n
        inv_std = torch.rsqrt(var + eps)
        y *= inv_std  # x̂
        if weight is not None:
            y *= weight
        if bias is not None:
            y += bias
        ctx.dims = dims
        ctx.save_for_backward(x, mean, inv_std, weight, bias)
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, _dmean, _dvar):
        x, mean, inv_std, weight, bias = ctx.saved_tensors
        dims = ctx.dims
        dweight = dbias = None
        if ctx.needs_input_grad[4]:
            dbias = dy.sum_to_size(bias.shape)
        buf = (x - mean).mul_(inv_std).mul_(dy)  # the one full-size buffer; now dy·x̂
        if ctx.needs_input_grad[3]:
            # a copy: when γ has x's full shape, sum_to_size returns buf itself
            dweight = buf.sum_to_size(weight.shape).clone()
        if weight is not None:
            buf *= weight  # dx̂·x̂ = γ·dy·x̂
        mean_dxhat_xhat = buf.mean(dim=dims, keepdim=True)
        dxhat = buf.copy_(dy) if weight is None else torch.mul(dy, weight, out=buf)
        mean_dxhat = dxhat.mean(dim=dims, keepdim=True)
        # with x̂ = (x − μ)/σ:  dx = dx̂/σ − x·mean(dx̂·x̂)/σ² + (μ·mean(dx̂·x̂)/σ − mean(dx̂))/σ
        b = mean_dxhat_xhat * inv_std**2
        dx = dxhat.mul_(inv_std).addcmul_(x, b, value=-1).add_(mean * b - mean_dxhat * inv_std)
        return dx, None, None, dweight, dbias


def scale_and_shift(d, var, eps, weight=None, bias=None):
    """y = γ·d/√(σ² + ε) + β for centred d = x − μ, computed as β + d·a, a = γ/√(σ² + ε).

    ``var``, ``weight``, ``bias`` broadcast against d; γ = 1 and β = 0 when None.
    """
    a = torch.rsqrt(var + eps)
    if weight is not None:
        a = a * weight
    return d * a if bias is None else torch.addcmul(bias, d, a)


def channel_shape(x: torch.Tensor) -> tuple[int, ...]:
    """Shape (1, C, 1, …) that broadcasts a per-channel vector over x of shape (N, C, *)."""
    return (1, x.shape[1]) + (1,) * (x.dim() - 2)


def check_eps_momentum(eps, momentum=None):
    """ValueError unless eps > 0 and momentum is None or in [0, 1]."""
    if not is_real(eps) or not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r} (it keeps 1/√(σ² + ε) finite)")
    if momentum is not None and (not is_real(momentum) or not 0 <= momentum <= 1):
        raise ValueError(
            f"momentum must be in [0, 1] or None (cumulative average), got {momentum!r}"
        )


class _NormBase(nn.Module):
    """Per-channel affine ``weight``/``bias`` and, optionally, running statistics
    (``running_mean``, ``running_var``, ``num_batches_tracked``) as in ``torch.nn``."""

    def __init__(self, num_features, eps, momentum, affine, track_running_stats, device, dtype):
        super().__init__()
        if not is_size(num_features):
            raise ValueError(f"num_features must be >= 1, got {num_features!r} (an int)")
        check_eps_momentum(eps, momentum)
        kw = {"device": device, "dtype": dtype}
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features, **kw))
            self.bias = nn.Parameter(torch.zeros(num_features, **kw))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **kw))
            self.register_buffer("running_var", torch.ones(num_features, **kw))
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def _check_channels(self, x):
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects {self.num_features} channels "
                f"in dimension 1, got input of shape {tuple(x.shape)}"
            )

    @torch.no_grad()
    def _update_running_stats(self, mean, var, n, m):
        """running ← (1 − m)·running + m·batch, with the *unbiased* variance σ²·n/(n − 1)."""
        self.running_mean.mul_(1 - m).add_(m * mean)
        self.running_var.mul_(1 - m).add_(m * var * n / (n - 1))

    def _per_channel(self, x):
        """(γ, β) reshaped to (1, C, 1, …) to broadcast over x, or (None, None) without affine."""
        if self.weight is None:
            return None, None
        shape = channel_shape(x)
        return self.weight.reshape(shape), self.bias.reshape(shape)

    def _normalize(self, x, dims):
        """``Normalize`` over ``dims`` with per-channel γ, β: returns (y, μ, σ²)."""
        return Normalize.apply(x, dims, self.eps, *self._per_channel(x))

    def _with_running_stats(self, x):
        shape = channel_shape(x)
        return scale_and_shift(
            x - self.running_mean.reshape(shape),
            self.running_var.reshape(shape),
            self.eps,
            *self._per_channel(x),
        )

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    """Batch normalization (Ioffe & Szegedy, 2015), per channel over the batch and spatial axes.

    Training (or ``track_running_stats=False``): normalize with the batch statistics and update
    the running ones. Eval: y = γ·(x − running_mean) / √(running_var + ε) + β.
    """

    input_dims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, x):
        check_float(x, type(self).__name__)
        if x.dim() not in self.input_dims:
            allowed = " or ".join(f"{d}D" for d in self.input_dims)
            raise ValueError(
                f"{type(self).__name__} expects {allowed} input (N, C, …), got {x.dim()}D input"
            )
        self._check_channels(x)
        use_batch_stats = self.training or not self.track_running_stats
        if not use_batch_stats:
            return self._with_running_stats(x)
        n = x.numel() // x.shape[1]  # values per channel
        if self.training and n == 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input of shape "
                f"{tuple(x.shape)} (use a batch of at least 2, or eval mode)"
            )
        y, mean, var = self._normalize(x, (0, *range(2, x.dim())))
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            # momentum=None: cumulative average of all batches so far
            m = 1 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
            if n > 0:  # an empty batch (μ, σ² NaN) leaves them unchanged, as in torch.nn
                self._update_running_stats(mean.flatten(), var.flatten(), n, m)
        return y


class BatchNorm1d(_BatchNorm):
    """BatchNorm over (N, C) or (N, C, L) inputs: statistics per channel over N (and L)."""

    input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """BatchNorm over (N, C, H, W) inputs: statistics per channel over N, H and W."""

    input_dims = (4,)


class InstanceNorm2d(_NormBase):
    """Instance normalization (Ulyanov et al., 2016) of (N, C, H, W): per sample and channel over
    H, W. With ``track_running_stats`` the running statistics average the per-instance ones over
    the batch (unbiased variance), and eval mode uses them. As in ``torch.nn``,
    ``num_batches_tracked`` is not counted, so ``momentum`` must be a number."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device=None,
        dtype=None,
    ):
        if momentum is None:
            raise ValueError("InstanceNorm2d needs momentum in [0, 1]; got None")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, x):
        check_float(x, "InstanceNorm2d")
        if x.dim() != 4:
            raise ValueError(f"InstanceNorm2d expects 4D input (N, C, H, W), got {x.dim()}D input")
        self._check_channels(x)
        if self.track_running_stats and not self.training:
            return self._with_running_stats(x)
        n = x.shape[2] * x.shape[3]
        if self.training and n == 1:
            raise ValueError(
                f"Expected more than 1 spatial element when training, got input of shape "
                f"{tuple(x.shape)}"
            )
        y, mean, var = self._normalize(x, (2, 3))
        if self.training and self.track_running_stats and x.shape[0] > 0:  # not on an empty batch
            stats = mean.mean(dim=(0, 2, 3)), var.mean(dim=(0, 2, 3))
            self._update_running_stats(*stats, n, self.momentum)
        return y


class LayerNorm(nn.Module):
    """Layer normalization (Ba et al., 2016): per sample over the trailing ``normalized_shape``
    axes; y = γ ⊙ x̂ + β with γ, β of shape ``normalized_shape`` (elementwise, not per channel).
    Same computation in training and eval."""

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        check_eps_momentum(eps)
        self.normalized_shape = normalized_shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(self.normalized_shape, **kw))
            if bias:
                self.bias = nn.Parameter(torch.zeros(self.normalized_shape, **kw))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        check_float(x, "LayerNorm")
        k = len(self.normalized_shape)
        if tuple(x.shape[x.dim() - k :]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm(normalized_shape={list(self.normalized_shape)}) expects inputs whose "
                f"last {k} dimensions are {list(self.normalized_shape)}, got shape {tuple(x.shape)}"
            )
        y, _, _ = Normalize.apply(x, tuple(range(-k, 0)), self.eps, self.weight, self.bias)
        return y  # γ, β elementwise

    def extra_repr(self):
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class GroupNorm(nn.Module):
    """Group normalization (Wu & He, 2018): the C channels are split into ``num_groups`` groups
    of C/G consecutive channels; per sample and group over those channels and the spatial axes;
    then a per-channel γ, β. Before the affine step, G = 1 is LayerNorm over (C, H, W) and G = C
    is InstanceNorm."""

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        if not (is_size(num_groups) and is_size(num_channels)) or num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels={num_channels!r} must be divisible by num_groups={num_groups!r} "
                f"(num_groups a positive divisor of num_channels)"
            )
        check_eps_momentum(eps)
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_channels, **kw))
            self.bias = nn.Parameter(torch.zeros(num_channels, **kw))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        check_float(x, "GroupNorm")
        if x.dim() < 2 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm(num_channels={self.num_channels}) expects input (N, C, …) with "
                f"C = {self.num_channels}, got shape {tuple(x.shape)}"
            )
        # view x as (N, G, C/G, rest): statistics over the last two axes, γ and β per channel
        g = self.num_groups
        groups = x.reshape(x.shape[0], g, self.num_channels // g, math.prod(x.shape[2:]))
        weight = bias = None
        if self.affine:
            weight = self.weight.reshape(1, g, -1, 1)
            bias = self.bias.reshape(1, g, -1, 1)
        y, _, _ = Normalize.apply(groups, (2, 3), self.eps, weight, bias)
        return y.reshape(x.shape)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
