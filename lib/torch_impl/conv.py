"""Conv2d, MaxPool2d, AvgPool2d and AdaptiveAvgPool2d built from tensor ops (autograd gives the
backward), never from ``F.conv2d`` or the pooling functions they are tested against.

Inputs are (N, C, H, W); H_out = ⌊(H + 2p − k)/s⌋ + 1 (W_out likewise).

- ``Conv2d``: im2col with ``F.unfold`` (columns of shape (N, C·kH·kW, H_out·W_out)), then one
  matrix product y = W₂ @ cols + b, W₂ = weight reshaped to (C_out, C·kH·kW).
- ``MaxPool2d`` / ``AvgPool2d``: pad (−∞ / 0), take the windows as a view with
  ``Tensor.unfold`` (shape (N, C, H_out, W_out, kH, kW)) and reduce them.
- ``AdaptiveAvgPool2d``: y = A_H @ x @ A_Wᵀ with the averaging matrices of
  ``lib.numpy_ref.conv.adaptive_avg_matrix``.

Argument checks and the size formulas are shared with ``lib.numpy_ref.conv``. Not supported:
dilation, groups, padding_mode, ceil_mode, unbatched 3-D input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lib.numpy_ref.conv import (
    adaptive_avg_matrix,
    adaptive_output_size,
    check_channels,
    check_pool_padding,
    conv_output_size,
    pair,
)
from lib.torch_impl import init

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "Conv2d", "MaxPool2d"]


def check_input(x: torch.Tensor, who: str, channels: int | None = None) -> torch.Tensor:
    """x as a floating-point tensor of shape (N, C, H, W), with C = ``channels`` when given."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        what = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"{who} expects a floating-point tensor (e.g. float32), got {what}")
    if x.dim() != 4:
        raise ValueError(
            f"{who} expects 4D input (N, C, H, W), got {x.dim()}D input of shape {tuple(x.shape)}"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{who} expects input of shape (N, {channels}, H, W) (in_channels={channels}), "
            f"got {tuple(x.shape)}"
        )
    return x


class Conv2d(nn.Module):
    """y = b + W₂ @ unfold(x): a cross-correlation, as PyTorch's ``nn.Conv2d``; ``weight`` of
    shape (C_out, C_in, kH, kW), ``bias`` of shape (C_out,).

    PyTorch's default init: W, b ~ U(−1/√fan_in, 1/√fan_in), fan_in = C_in·kH·kW
    (``kaiming_uniform_`` with a = √5). ``bias`` is keyword-only (PyTorch's sixth positional
    argument, dilation, is not supported).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        *,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.in_channels, self.out_channels = check_channels(in_channels, out_channels, "Conv2d")
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        self.padding = pair(padding, "padding", "Conv2d", minimum=0)
        kw = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(
            torch.empty(self.out_channels, self.in_channels, *self.kernel_size, **kw)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_channels, **kw))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels * math.prod(self.kernel_size))
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        x = check_input(x, "Conv2d", self.in_channels)
        out_size = conv_output_size(
            x.shape[2:], self.kernel_size, self.stride, self.padding, "Conv2d"
        )
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        w2 = self.weight.reshape(self.out_channels, -1)
        y = w2 @ cols  # (C_out, K) @ (N, K, L) → (N, C_out, L)
        if self.bias is not None:
            y = y + self.bias[:, None]
        return y.reshape(x.shape[0], self.out_channels, *out_size)

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"
        )


class _Pool2d(nn.Module):
    """kernel_size, stride (default: kernel_size) and padding (at most kernel_size // 2)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        who = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", who)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", who)
        self.padding = pair(padding, "padding", who, minimum=0)
        check_pool_padding(self.kernel_size, self.padding, who)

    def windows(self, x, pad_value):
        """The windows of x padded with ``pad_value``, shape (N, C, H_out, W_out, kH, kW)."""
        who = type(self).__name__
        x = check_input(x, who)
        conv_output_size(x.shape[2:], self.kernel_size, self.stride, self.padding, who)
        ph, pw = self.padding
        xp = F.pad(x, (pw, pw, ph, ph), value=pad_value) if ph or pw else x
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return xp.unfold(2, kh, sh).unfold(3, kw, sw)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y = max over each window of x padded with −∞ (padding never wins).

    The gradient goes to the FIRST maximum of a window in row-major order (``argmax``'s choice
    on ties, as PyTorch's kernels); overlapping windows add their gradients on a shared maximum.
    """

    def forward(self, x):
        win = self.windows(x, -math.inf).flatten(-2)  # (N, C, H_out, W_out, kH·kW)
        return win.gather(-1, win.argmax(dim=-1, keepdim=True)).squeeze(-1)


class AvgPool2d(_Pool2d):
    """y = mean of each window of x padded with zeros; ``count_include_pad=True`` (PyTorch's
    default) divides by kH·kW, ``False`` by the number of real input pixels in the window."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        total = self.windows(x, 0.0).sum(dim=(-2, -1))
        if self.count_include_pad:
            return total / math.prod(self.kernel_size)
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        return total / self.windows(ones, 0.0).sum(dim=(-2, -1))  # real pixels per window

    def extra_repr(self):
        return super().extra_repr() + f", count_include_pad={self.count_include_pad}"


class AdaptiveAvgPool2d(nn.Module):
    """Average pooling to a fixed output size: y = A_H @ x @ A_Wᵀ, row i of A_H averaging input
    rows ⌊i·H/H_out⌋ … ⌈(i + 1)·H/H_out⌉ − 1 (PyTorch's adaptive windows). ``output_size=1`` is
    global average pooling; ``None`` in ``output_size`` keeps that input size."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = adaptive_output_size(output_size, "AdaptiveAvgPool2d")

    def forward(self, x):
        x = check_input(x, "AdaptiveAvgPool2d")
        h, w = x.shape[2:]
        if self.output_size == (1, 1):  # global average pooling
            return x.mean(dim=(2, 3), keepdim=True)
        oh, ow = (n if s is None else s for n, s in zip((h, w), self.output_size, strict=True))
        a_h, a_w = (
            torch.as_tensor(adaptive_avg_matrix(n, s), dtype=x.dtype, device=x.device)
            for n, s in ((h, oh), (w, ow))
        )
        return a_h @ x @ a_w.T

    def extra_repr(self):
        return f"output_size={self.output_size}"
