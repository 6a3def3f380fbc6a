"""Conv2d, MaxPool2d, AvgPool2d and AdaptiveAvgPool2d as NumPy modules with hand-written backward.

Inputs are (N, C, H, W). With kernel (kH, kW), stride (sH, sW) and zero padding (pH, pW) the
output has H_out = ⌊(H + 2pH − kH)/sH⌋ + 1 rows (W_out likewise).

im2col turns a convolution into one matrix product: ``im2col`` copies, for each kernel offset
(i, j), the strided slice x_pad[:, :, i + sH·h, j + sW·w] of the padded input, giving columns of
shape (N, C·kH·kW, H_out·W_out) (``torch.nn.functional.unfold``'s layout). Then
y = W₂ @ cols + b with W₂ = weight reshaped to (C_out, C·kH·kW). Its backward ``col2im`` adds
each offset's slice back (an input pixel seen by several windows collects all their gradients).
The pooling layers reduce the same columns over the kernel axes instead.

Supported: integer or pair kernel_size / stride / padding (zeros for Conv2d and AvgPool2d,
−∞ for MaxPool2d). Not supported: dilation, groups, padding_mode, ceil_mode, unbatched 3-D input.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from lib.numpy_ref.module import Module, as_float_array, check_rng

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "Conv2d",
    "MaxPool2d",
    "adaptive_avg_matrix",
    "adaptive_output_size",
    "check_channels",
    "check_pool_padding",
    "col2im",
    "conv_output_size",
    "im2col",
    "pair",
]


def pair(value, name: str, who: str, minimum: int = 1) -> tuple[int, int]:
    """``value`` (an int, or a pair of ints for (height, width)) as a pair of ints >= ``minimum``;
    ValueError naming ``who`` and ``name`` otherwise."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum for v in values
    ):
        raise ValueError(
            f"{who}: {name} must be an integer >= {minimum} or a pair (height, width) of them, "
            f"got {value!r}"
        )
    return int(values[0]), int(values[1])


def check_channels(in_channels, out_channels, who: str) -> tuple[int, int]:
    """(in_channels, out_channels) as ints; ValueError unless both are integers >= 1."""
    if not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
        for v in (in_channels, out_channels)
    ):
        raise ValueError(
            f"{who}: in_channels and out_channels must be integers >= 1, "
            f"got in_channels={in_channels!r}, out_channels={out_channels!r}"
        )
    return int(in_channels), int(out_channels)


def adaptive_output_size(output_size, who: str) -> tuple[int | None, int | None]:
    """``output_size`` (an int >= 1 or None, or a pair of them) as a pair."""
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    ok = len(sizes) == 2 and all(
        s is None or (isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1)
        for s in sizes
    )
    if not ok:
        raise ValueError(
            f"{who}: output_size must be an integer >= 1, None, or a pair (height, width) of "
            f"them, got {output_size!r}"
        )
    return tuple(None if s is None else int(s) for s in sizes)


def conv_output_size(size, kernel_size, stride, padding, who: str) -> tuple[int, int]:
    """(H_out, W_out) with H_out = ⌊(H + 2p − k)/s⌋ + 1; ValueError if the kernel is larger than
    the padded input."""
    padded = tuple(n + 2 * p for n, p in zip(size, padding, strict=True))
    if any(k > n for k, n in zip(kernel_size, padded, strict=True)):
        raise ValueError(
            f"{who}: kernel_size {tuple(kernel_size)} is larger than the padded input "
            f"{padded} (input {tuple(size)}, padding {tuple(padding)}); the kernel must fit"
        )
    return tuple((n - k) // s + 1 for n, k, s in zip(padded, kernel_size, stride, strict=True))


def check_pool_padding(kernel_size, padding, who: str) -> None:
    """PyTorch's rule for pooling: padding <= kernel_size // 2 in each dimension."""
    if any(p > k // 2 for k, p in zip(kernel_size, padding, strict=True)):
        raise ValueError(
            f"{who}: padding {padding} must be at most half the kernel_size {kernel_size} "
            f"(allowed: 0 … kernel_size // 2 in each dimension)"
        )


def check_input(x, who: str, channels: int | None = None) -> np.ndarray:
    """x as a float array of shape (N, C, H, W), with C = ``channels`` when given."""
    x = as_float_array(x, who)
    if x.ndim != 4:
        raise ValueError(
            f"{who} expects 4D input (N, C, H, W), got {x.ndim}D input of shape {x.shape}"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{who} expects input of shape (N, {channels}, H, W) (in_channels={channels}), "
            f"got {x.shape}"
        )
    return x


def check_dout(dout, out_shape, who: str) -> np.ndarray:
    dout = as_float_array(dout, f"{who}.backward")
    if dout.shape != tuple(out_shape):
        raise ValueError(
            f"{who}.backward expects dout of the forward output's shape {tuple(out_shape)}, "
            f"got {dout.shape}"
        )
    return dout


def pad(x: np.ndarray, padding, value: float = 0.0) -> np.ndarray:
    """x with ``padding`` = (pH, pW) rows/columns of ``value`` added on each side of H and W."""
    ph, pw = padding
    if ph == pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def im2col(xp: np.ndarray, kernel_size, stride, out_size) -> np.ndarray:
    """Windows of the (already padded) xp: cols[n, c, i, j, h, w] = xp[n, c, i + sH·h, j + sW·w],
    shape (N, C, kH, kW, H_out, W_out), one strided slice copied per kernel offset (i, j)."""
    (kh, kw), (sh, sw), (oh, ow) = kernel_size, stride, out_size
    n, c = xp.shape[:2]
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=xp.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
    return cols


def col2im(dcols: np.ndarray, padded_shape, stride) -> np.ndarray:
    """Backward of ``im2col``: dxp[n, c, i + sH·h, j + sW·w] += dcols[n, c, i, j, h, w]."""
    kh, kw, oh, ow = dcols.shape[2:]
    sh, sw = stride
    dxp = np.zeros(padded_shape, dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += dcols[:, :, i, j]
    return dxp


def unpad(dxp: np.ndarray, padding) -> np.ndarray:
    """The centre of dxp without the ``padding`` = (pH, pW) border (the backward of ``pad``)."""
    ph, pw = padding
    return dxp[:, :, ph : dxp.shape[2] - ph, pw : dxp.shape[3] - pw]


class Conv2d(Module):
    """y[n, o, h, w] = b[o] + Σ_{c,i,j} W[o, c, i, j] · x_pad[n, c, sH·h + i, sW·w + j]
    (a cross-correlation, as in PyTorch), with ``weight`` W of shape (C_out, C_in, kH, kW) and
    ``bias`` b of shape (C_out,).

    Forward by im2col: y = W₂ @ cols + b, W₂ = W reshaped to (C_out, C_in·kH·kW). Backward:
    dW₂ = Σ_n dy @ colsᵀ, db = Σ_{n,h,w} dy, dcols = W₂ᵀ @ dy, then dx = col2im(dcols) without
    the padding. Init as PyTorch's ``nn.Conv2d``: W, b ~ U(−1/√fan_in, 1/√fan_in),
    fan_in = C_in·kH·kW (kaiming_uniform with a = √5). ``bias`` is keyword-only (PyTorch's
    sixth positional argument, dilation, is not supported).
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
        rng=None,
        dtype=np.float64,
    ):
        super().__init__()
        check_rng(rng, "Conv2d")
        self.in_channels, self.out_channels = check_channels(in_channels, out_channels, "Conv2d")
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        self.padding = pair(padding, "padding", "Conv2d", minimum=0)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        self.add_param("weight", rng.uniform(-bound, bound, shape).astype(dtype))
        if bias:
            self.add_param("bias", rng.uniform(-bound, bound, self.out_channels).astype(dtype))

    def forward(self, x):
        x = check_input(x, "Conv2d", self.in_channels)
        out_size = conv_output_size(
            x.shape[2:], self.kernel_size, self.stride, self.padding, "Conv2d"
        )
        xp = pad(x, self.padding)
        n, n_out = x.shape[0], math.prod(out_size)
        cols = im2col(xp, self.kernel_size, self.stride, out_size).reshape(n, -1, n_out)
        w2 = self.params["weight"].reshape(self.out_channels, -1)
        out = w2 @ cols  # (C_out, K) @ (N, K, L) → (N, C_out, L)
        if "bias" in self.params:
            out += self.params["bias"][:, None]
        out = out.reshape(n, self.out_channels, *out_size)
        self._cache = (cols, xp.shape, out.shape)
        return out

    def backward(self, dout):
        cols, padded_shape, out_shape = self._saved()
        dout = check_dout(dout, out_shape, "Conv2d")
        n, k = cols.shape[:2]
        dout2 = dout.reshape(n, self.out_channels, -1)  # (N, C_out, L)
        self._set_grad(
            "weight",
            np.tensordot(dout2, cols, axes=([0, 2], [0, 2])).reshape(self.params["weight"].shape),
        )
        if "bias" in self.params:
            self._set_grad("bias", dout2.sum(axis=(0, 2)))
        w2 = self.params["weight"].reshape(self.out_channels, k)
        dcols = (w2.T @ dout2).reshape(n, self.in_channels, *self.kernel_size, *out_shape[2:])
        return unpad(col2im(dcols, padded_shape, self.stride), self.padding)

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={'bias' in self.params}"
        )


class _Pool2d(Module):
    """kernel_size, stride (default: kernel_size) and padding (at most kernel_size // 2)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        who = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", who)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", who)
        self.padding = pair(padding, "padding", who, minimum=0)
        check_pool_padding(self.kernel_size, self.padding, who)

    def _windows(self, x, pad_value):
        """(cols of shape (N, C, kH·kW, H_out, W_out), padded shape) for an (N, C, H, W) input."""
        who = type(self).__name__
        x = check_input(x, who)
        out_size = conv_output_size(x.shape[2:], self.kernel_size, self.stride, self.padding, who)
        xp = pad(x, self.padding, pad_value)
        cols = im2col(xp, self.kernel_size, self.stride, out_size)
        return cols.reshape(*x.shape[:2], -1, *out_size), xp.shape

    def _to_input(self, dcols, padded_shape):
        """The gradient of the windows, shape (N, C, kH·kW, H_out, W_out), back onto the input."""
        n, c, _, oh, ow = dcols.shape
        dcols = dcols.reshape(n, c, *self.kernel_size, oh, ow)
        return unpad(col2im(dcols, padded_shape, self.stride), self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y[n, c, h, w] = max over the window of x_pad (padding with −∞, so padding never wins).

    Backward: the whole upstream gradient goes to the window's maximum; with ties, to the FIRST
    maximum in row-major order within the window (as PyTorch's kernels do). Overlapping windows
    (stride < kernel_size) add their gradients on a shared maximum.
    """

    def forward(self, x):
        cols, padded_shape = self._windows(x, -np.inf)
        idx = cols.argmax(axis=2)[:, :, None]  # first maximum of each window
        out = np.take_along_axis(cols, idx, axis=2)[:, :, 0]
        self._cache = (idx, cols.shape, padded_shape)
        return out

    def backward(self, dout):
        idx, cols_shape, padded_shape = self._saved()
        dout = check_dout(dout, cols_shape[:2] + cols_shape[3:], "MaxPool2d")
        dcols = np.zeros(cols_shape, dtype=dout.dtype)
        np.put_along_axis(dcols, idx, dout[:, :, None], axis=2)
        return self._to_input(dcols, padded_shape)


class AvgPool2d(_Pool2d):
    """y = mean of the window of x_pad (zero padding).

    ``count_include_pad=True`` (PyTorch's default) divides by kH·kW, padded zeros included;
    ``False`` divides by the number of real input pixels in the window. Backward: each pixel of a
    window gets dy / divisor.
    """

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        x = check_input(x, "AvgPool2d")
        cols, padded_shape = self._windows(x, 0.0)
        if self.count_include_pad:
            divisor = np.asarray(float(math.prod(self.kernel_size)))
        else:  # real pixels per window: the window sums of a padded mask of ones
            divisor = self._windows(np.ones((1, 1, *x.shape[2:])), 0.0)[0].sum(axis=2)
        self._cache = (divisor, cols.shape, padded_shape)
        return cols.sum(axis=2) / divisor

    def backward(self, dout):
        divisor, cols_shape, padded_shape = self._saved()
        dout = check_dout(dout, cols_shape[:2] + cols_shape[3:], "AvgPool2d")
        dcols = np.broadcast_to((dout / divisor)[:, :, None], cols_shape)
        return self._to_input(dcols, padded_shape)

    def extra_repr(self):
        return super().extra_repr() + f", count_include_pad={self.count_include_pad}"


def adaptive_avg_matrix(in_size: int, out_size: int) -> np.ndarray:
    """A (out_size, in_size) averaging matrix: row i averages x[start_i : end_i] with
    start_i = ⌊i·in/out⌋ and end_i = ⌈(i + 1)·in/out⌉ (PyTorch's adaptive windows)."""
    a = np.zeros((out_size, in_size))
    for i in range(out_size):
        start, end = (i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)
        a[i, start:end] = 1.0 / (end - start)
    return a


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (H_out, W_out), whatever the input size.

    The window of output (i, j) is rows ⌊i·H/H_out⌋ … ⌈(i + 1)·H/H_out⌉ − 1 times the columns
    likewise, so the mean over it is separable: y = A_H @ x @ A_Wᵀ with the averaging matrices
    of ``adaptive_avg_matrix``; backward dx = A_Hᵀ @ dy @ A_W. ``output_size=1`` is global average
    pooling, y[n, c] = mean_{h,w} x[n, c, h, w]. ``None`` in ``output_size`` keeps that input size.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = adaptive_output_size(output_size, "AdaptiveAvgPool2d")

    def forward(self, x):
        x = check_input(x, "AdaptiveAvgPool2d")
        out = [n if s is None else s for n, s in zip(x.shape[2:], self.output_size, strict=True)]
        a_h, a_w = (
            adaptive_avg_matrix(n, s).astype(x.dtype) for n, s in zip(x.shape[2:], out, strict=True)
        )
        self._cache = (a_h, a_w, x.shape[:2] + tuple(out))
        return a_h @ x @ a_w.T

    def backward(self, dout):
        a_h, a_w, out_shape = self._saved()
        dout = check_dout(dout, out_shape, "AdaptiveAvgPool2d")
        return a_h.T @ dout @ a_w

    def extra_repr(self):
        return f"output_size={self.output_size}"
