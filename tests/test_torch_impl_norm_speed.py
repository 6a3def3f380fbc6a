"""``lib.torch_impl.norm.Normalize``, the autograd Function behind every normalization layer
(its speed comes from the closed-form backward, so that backward is checked here):

- numerical gradients (``torch.autograd.gradcheck``, float64) for the axes and γ/β shapes the
  layers use, without γ/β, and with γ of x's full shape (``sum_to_size`` then returns its input);
- second derivatives are refused rather than silently wrong;
- an in-place op on a layer's output (``ReLU(inplace=True)``) leaves the gradient right;
- the layers are built from tensor ops: no ``*_norm`` kernel of PyTorch runs, and the graph of a
  LayerNorm is one node.

Parity of outputs, gradients and running statistics with ``torch.nn`` is in ``test_parity.py``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from lib.torch_impl import norm

DTYPE = torch.float64

# x's shape, dims, γ's shape, β's shape (None: no γ / β), as the layers call Normalize
CASES = {
    "BatchNorm2d": ((4, 3, 2, 2), (0, 2, 3), (1, 3, 1, 1), (1, 3, 1, 1)),
    "BatchNorm1d (N, C)": ((5, 3), (0,), (1, 3), (1, 3)),
    "LayerNorm": ((3, 4, 5), (-1,), (5,), (5,)),
    "LayerNorm over 2 dims": ((2, 3, 4), (-2, -1), (3, 4), (3, 4)),
    "GroupNorm (N, G, C/G, L)": ((2, 2, 3, 4), (2, 3), (1, 2, 3, 1), (1, 2, 3, 1)),
    "InstanceNorm2d": ((2, 3, 2, 3), (2, 3), None, None),
    "γ only": ((3, 5), (-1,), (5,), None),
    "β only": ((3, 5), (-1,), None, (5,)),
    "γ, β of x's full shape": ((4, 5), (-1,), (4, 5), (4, 5)),
}


@pytest.mark.parametrize("name", CASES)
def test_normalize_gradcheck(name):
    x_shape, dims, w_shape, b_shape = CASES[name]
    gen = torch.Generator().manual_seed(0)

    def rand(shape, scale=1.0, shift=0.0):
        if shape is None:
            return None
        t = scale * torch.randn(shape, generator=gen, dtype=DTYPE) + shift
        return t.requires_grad_(True)

    x, w, b = rand(x_shape, 2.0, 0.5), rand(w_shape, 1.0, 1.0), rand(b_shape)
    inputs = [t for t in (x, w, b) if t is not None]

    def y_of(*tensors):
        it = iter(tensors)
        x_, w_, b_ = (next(it) if t is not None else None for t in (x, w, b))
        return norm.Normalize.apply(x_, dims, 1e-3, w_, b_)[0]

    assert torch.autograd.gradcheck(y_of, inputs)


def test_normalize_returns_batch_statistics_without_gradient():
    x = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    y, mean, var = norm.Normalize.apply(x.requires_grad_(True), (0, 2), 1e-5, None, None)
    torch.testing.assert_close(mean, x.mean(dim=(0, 2), keepdim=True))
    torch.testing.assert_close(var, x.var(dim=(0, 2), correction=0, keepdim=True))
    assert y.requires_grad and not mean.requires_grad and not var.requires_grad


def test_second_derivative_is_refused():
    x = torch.randn(3, 5, dtype=DTYPE, requires_grad=True)
    y = norm.LayerNorm(5).double()(x)
    (dx,) = torch.autograd.grad((y**3).sum(), x, create_graph=True)  # dy = 3y² needs a gradient
    with pytest.raises(RuntimeError, match="once_differentiable"):
        dx.sum().backward()


@pytest.mark.parametrize("affine", [False, True])
def test_inplace_op_on_output_keeps_gradient(affine):
    """InstanceNorm → ReLU(inplace=True): the output must not be a tensor saved for backward."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, 4, generator=gen, dtype=DTYPE)
    g = torch.randn(x.shape, generator=gen, dtype=DTYPE)
    layer = norm.InstanceNorm2d(3, affine=affine).double()
    grads = []
    for inplace in (False, True):
        x_ = x.clone().requires_grad_(True)
        nn.ReLU(inplace=inplace)(layer(x_)).backward(g)
        grads.append(x_.grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=0)


LAYERS = {
    "BatchNorm2d": (lambda: norm.BatchNorm2d(3), (4, 3, 2, 2)),
    "BatchNorm1d": (lambda: norm.BatchNorm1d(3), (4, 3, 5)),
    "LayerNorm": (lambda: norm.LayerNorm(5), (4, 3, 5)),
    "GroupNorm": (lambda: norm.GroupNorm(2, 4), (3, 4, 5)),
    "InstanceNorm2d": (
        lambda: norm.InstanceNorm2d(3, affine=True, track_running_stats=True),
        (2, 3, 4, 4),
    ),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layers_use_no_builtin_norm_kernel(name):
    make, shape = LAYERS[name]
    layer = make()
    x = torch.randn(shape, requires_grad=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for training in (True, False):
            layer.train(training)
            layer(x).sum().backward()
    names = {event.name for event in prof.events()}
    assert "NormalizeBackward" in names
    builtin = {n for n in names if any(k in n for k in ("batch_norm", "layer_norm", "group_norm"))}
    assert not builtin | {n for n in names if "instance_norm" in n}


def test_layernorm_graph_is_one_node():
    layer = norm.LayerNorm(5)
    x = torch.randn(4, 5, requires_grad=True)
    node = layer(x).grad_fn
    assert type(node).__name__ == "NormalizeBackward"
    leaves = [next_node.variable for next_node, _ in node.next_functions]
    assert leaves == [x, layer.weight, layer.bias]


@pytest.mark.parametrize(
    "make, shape",
    [(lambda m: m.LayerNorm(5), (0, 5)), (lambda m: m.GroupNorm(2, 4), (0, 4, 5))],
    ids=["LayerNorm", "GroupNorm"],
)
def test_empty_batch_like_builtin(make, shape):
    """An empty batch gives an empty output and gradient, as with ``torch.nn``."""
    for module in (norm, nn):
        x = torch.randn(shape, requires_grad=True)
        y = make(module)(x)
        y.sum().backward()
        assert y.shape == x.grad.shape == shape
