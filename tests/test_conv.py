"""Conv2d and the pooling layers: NumPy gradient checks, three-way parity
(lib.numpy_ref ↔ lib.torch_impl ↔ torch.nn), the max-pool tie convention, proof that lib.torch_impl
never calls the built-ins, PyTorch's default init, and every documented bad input.

Gradient checks: rel_error < 1e-7 (float64, random upstream gradient). Every layer here is linear
in its input (and Conv2d in its weight), so the centred difference has no truncation error, only
rounding error ∝ 1/h: the checks use h = 1e-3 (with h = 1e-5 an entry of dx that is small by
cancellation shows rel_error up to 1.6e-7, with 1e-3 below 1e-9). Max pooling is linear as long
as no window's maximum changes: it is checked on inputs whose values are all distinct and more than
2h apart. Parity: float64, rtol=1e-10, atol=1e-12 (measured
differences are ~1e-15: only the summation order differs).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from parity import assert_close
from torch import nn

from lib.numpy_ref import activations as np_act
from lib.numpy_ref import conv as C
from lib.numpy_ref import layers as np_layers
from lib.numpy_ref.gradcheck import check_layer_gradients
from lib.numpy_ref.module import Sequential
from lib.torch_impl import conv as T

TOL = 1e-7
DTYPE = torch.float64

# in_channels, out_channels, kernel_size, stride, padding, bias, input shape
CONV_CASES = {
    "3x3": (3, 4, 3, 1, 0, True, (2, 3, 7, 7)),
    "3x3_same": (3, 4, 3, 1, 1, True, (2, 3, 7, 5)),
    "3x3_stride2_pad1": (3, 4, 3, 2, 1, True, (2, 3, 9, 8)),
    "5x5_stride2_pad2_batch1": (2, 5, 5, 2, 2, True, (1, 2, 11, 9)),
    "2x3_non_square_no_bias": (3, 2, (2, 3), (2, 1), (1, 2), False, (2, 3, 6, 7)),
    "1x1": (1, 3, 1, 1, 0, True, (3, 1, 4, 4)),
    "kernel_fills_padded_input": (2, 3, 5, 1, 1, True, (2, 2, 3, 3)),
    "stride_over_kernel": (2, 2, 2, 3, 0, True, (2, 2, 8, 7)),
}

# kernel_size, stride, padding, input shape
POOL_CASES = {
    "2x2": (2, None, 0, (2, 3, 8, 8)),
    "3x3_stride2_pad1": (3, 2, 1, (2, 3, 9, 7)),
    "3x3_overlapping_pad1_batch1": (3, 1, 1, (1, 2, 5, 5)),
    "2x3_non_square": ((2, 3), (1, 2), (1, 0), (2, 2, 7, 8)),
    "odd_leftover": (3, None, 0, (2, 2, 8, 7)),
    "4x4_pad2": (4, 2, 2, (1, 2, 7, 6)),
}

# output_size, input shape
ADAPTIVE_CASES = {
    "global": (1, (2, 3, 7, 5)),
    "3x4": ((3, 4), (2, 3, 7, 9)),
    "None_keeps_height": ((None, 2), (1, 2, 5, 7)),
    "larger_than_input": (5, (2, 2, 4, 3)),
    "identity": (6, (1, 2, 6, 6)),
}


def pool_kwargs(case):
    k, s, p, _ = case
    return {"kernel_size": k, "stride": s, "padding": p}


H = 1e-3  # finite-difference step for layers linear in x (see the module docstring)


def distinct_values(rng, shape):
    """Values in [−2, 2), all distinct and 4/size > 2h apart, in random order."""
    size = int(np.prod(shape))
    assert 4.0 / size > 2 * H, "input too large for distinct values 2h apart"
    return (rng.permutation(size) * (4.0 / size) - 2.0).reshape(shape)


def assert_gradients_ok(layer, x, seed=1):
    errors = check_layer_gradients(layer, x, np.random.default_rng(seed), h=H)
    assert set(errors) == {"x"} | set(layer.params)
    assert max(errors.values()) < TOL, errors


# ---------------------------------------------------------------- gradient checks (NumPy)


@pytest.mark.parametrize("name", CONV_CASES)
def test_conv2d_gradients(name):
    c_in, c_out, k, s, p, bias, shape = CONV_CASES[name]
    rng = np.random.default_rng(0)
    layer = C.Conv2d(c_in, c_out, k, s, p, bias=bias, rng=rng)
    assert_gradients_ok(layer, rng.standard_normal(shape))


@pytest.mark.parametrize("name", POOL_CASES)
def test_max_pool2d_gradients(name):
    x = distinct_values(np.random.default_rng(0), POOL_CASES[name][3])
    assert_gradients_ok(C.MaxPool2d(**pool_kwargs(POOL_CASES[name])), x)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("name", POOL_CASES)
def test_avg_pool2d_gradients(name, count_include_pad):
    x = np.random.default_rng(0).standard_normal(POOL_CASES[name][3])
    layer = C.AvgPool2d(**pool_kwargs(POOL_CASES[name]), count_include_pad=count_include_pad)
    assert_gradients_ok(layer, x)


@pytest.mark.parametrize("name", ADAPTIVE_CASES)
def test_adaptive_avg_pool2d_gradients(name):
    output_size, shape = ADAPTIVE_CASES[name]
    x = np.random.default_rng(0).standard_normal(shape)
    assert_gradients_ok(C.AdaptiveAvgPool2d(output_size), x)


# ---------------------------------------------------------------- three-way parity




def torch_pass(module, x, g):
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.backward(g.to(y.device))
    return y, x.grad, {name: p.grad for name, p in module.named_parameters()}


def check_three_way(np_mod, ti_mod, ref_mod, x, device):
    """Same weights in all three; forward, input gradient and parameter gradients agree."""
    gen = torch.Generator().manual_seed(1)
    ti_mod.to(device=device, dtype=DTYPE)
    ref_mod.to(device=device, dtype=DTYPE).load_state_dict(ti_mod.state_dict())
    for name, p in ti_mod.named_parameters():
        np_mod.params[name][...] = p.detach().cpu().numpy()
    assert set(np_mod.params) == {name for name, _ in ti_mod.named_parameters()}
    with torch.no_grad():
        g = torch.randn(ref_mod(x.to(device)).shape, generator=gen, dtype=DTYPE)
    y, dx, grads = torch_pass(ti_mod, x.to(device), g)
    y_ref, dx_ref, grads_ref = torch_pass(ref_mod, x.to(device), g)
    y_np = np_mod.forward(x.numpy())
    dx_np = np_mod.backward(g.numpy())
    for what, (ours, ref, ours_np) in {
        "output": (y, y_ref, y_np),
        "input grad": (dx, dx_ref, dx_np),
        **{f"grad {n}": (grads[n], grads_ref[n], np_mod.grads[n]) for n in grads_ref},
    }.items():
        assert_close(ours, ref, f"{what}: torch_impl vs built-in")
        assert_close(ours_np, ours, f"{what}: numpy_ref vs torch_impl")


@pytest.mark.parametrize("name", CONV_CASES)
def test_conv2d_parity(name, device):
    c_in, c_out, k, s, p, bias, shape = CONV_CASES[name]
    torch.manual_seed(0)
    check_three_way(
        C.Conv2d(c_in, c_out, k, s, p, bias=bias, rng=np.random.default_rng(0)),
        T.Conv2d(c_in, c_out, k, s, p, bias=bias),
        nn.Conv2d(c_in, c_out, k, s, p, bias=bias),
        torch.randn(shape, dtype=DTYPE),
        device,
    )


@pytest.mark.parametrize("name", POOL_CASES)
def test_max_pool2d_parity(name, device):
    kw, shape = pool_kwargs(POOL_CASES[name]), POOL_CASES[name][3]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    check_three_way(C.MaxPool2d(**kw), T.MaxPool2d(**kw), nn.MaxPool2d(**kw), x, device)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("name", POOL_CASES)
def test_avg_pool2d_parity(name, count_include_pad, device):
    kw = pool_kwargs(POOL_CASES[name]) | {"count_include_pad": count_include_pad}
    x = torch.randn(POOL_CASES[name][3], generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    check_three_way(C.AvgPool2d(**kw), T.AvgPool2d(**kw), nn.AvgPool2d(**kw), x, device)


@pytest.mark.parametrize("name", ADAPTIVE_CASES)
def test_adaptive_avg_pool2d_parity(name, device):
    output_size, shape = ADAPTIVE_CASES[name]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    check_three_way(
        C.AdaptiveAvgPool2d(output_size),
        T.AdaptiveAvgPool2d(output_size),
        nn.AdaptiveAvgPool2d(output_size),
        x,
        device,
    )


def test_small_cnn_parity():
    """The NumPy layers compose in a Sequential (backward chained by hand) exactly like torch.nn:
    conv → tanh → max pool → conv → avg pool → conv → global pool → flatten → linear."""
    rng = np.random.default_rng(0)
    net = Sequential(
        C.Conv2d(2, 3, 3, padding=1, rng=rng),
        np_act.Tanh(),
        C.MaxPool2d(2),
        C.Conv2d(3, 4, 3, stride=2, padding=1, rng=rng),
        C.AvgPool2d(3, stride=1, padding=1),
        C.Conv2d(4, 4, (1, 2), rng=rng),
        C.AdaptiveAvgPool2d(1),
        np_layers.Flatten(),
        np_layers.Linear(4, 3, rng=rng),
    )
    ref = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.AvgPool2d(3, stride=1, padding=1),
        nn.Conv2d(4, 4, (1, 2)),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    ).to(DTYPE)
    ref.load_state_dict({name: torch.from_numpy(p) for name, p in net.params.items()})
    x = torch.randn(2, 2, 9, 8, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    g = torch.randn(2, 3, generator=torch.Generator().manual_seed(1), dtype=DTYPE)
    y_ref, dx_ref, grads_ref = torch_pass(ref, x, g)
    assert_close(net.forward(x.numpy()), y_ref, "output")
    assert_close(net.backward(g.numpy()), dx_ref, "input grad")
    assert set(net.grads) == set(grads_ref)
    for name, grad in net.grads.items():
        assert_close(grad, grads_ref[name], f"grad {name}")


def test_pool_stride_defaults_to_kernel_size():
    for cls in (C.MaxPool2d, C.AvgPool2d, T.MaxPool2d, T.AvgPool2d):
        assert cls((2, 3)).stride == (2, 3)
        assert cls(3, stride=1).stride == (1, 1)
    assert C.MaxPool2d(2)(np.zeros((1, 1, 6, 5))).shape == (1, 1, 3, 2)


# ---------------------------------------------------------------- max-pool ties


def test_max_pool2d_tie_goes_to_first_maximum_in_row_major_order():
    """All four values equal: the whole gradient goes to the top-left one, in all three."""
    x = np.zeros((1, 1, 2, 2))
    layer = C.MaxPool2d(2)
    layer.forward(x)
    expected = np.array([[[[5.0, 0.0], [0.0, 0.0]]]])
    np.testing.assert_array_equal(layer.backward(np.full((1, 1, 1, 1), 5.0)), expected)
    for module in (T.MaxPool2d(2), nn.MaxPool2d(2)):
        xt = torch.zeros(1, 1, 2, 2, dtype=DTYPE, requires_grad=True)
        module(xt).backward(torch.full((1, 1, 1, 1), 5.0, dtype=DTYPE))
        np.testing.assert_array_equal(xt.grad.numpy(), expected)
    # a tie on the second row: the first maximum in row-major order is (1, 0), not (1, 1)
    layer.forward(np.array([[[[0.0, 1.0], [2.0, 2.0]]]]))
    assert layer.backward(np.ones((1, 1, 1, 1)))[0, 0].tolist() == [[0.0, 0.0], [1.0, 0.0]]


@pytest.mark.parametrize("name", POOL_CASES)
def test_max_pool2d_ties_match_builtin(name, device):
    """Many ties (values 0, 1, 2) in overlapping and padded windows: same gradients as torch.nn."""
    kw, shape = pool_kwargs(POOL_CASES[name]), POOL_CASES[name][3]
    x = torch.randint(0, 3, shape, generator=torch.Generator().manual_seed(0)).to(DTYPE)
    check_three_way(C.MaxPool2d(**kw), T.MaxPool2d(**kw), nn.MaxPool2d(**kw), x, device)


# ---------------------------------------------------------------- torch_impl uses no built-in

BUILT_INS = {
    F: ["conv2d", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d"],
    torch: ["conv2d", "convolution", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"],
    torch._C._nn: ["avg_pool2d", "adaptive_avg_pool2d", "max_pool2d_with_indices"],
}

TORCH_IMPL_MODULES = {
    "Conv2d": lambda: T.Conv2d(2, 3, 3, stride=2, padding=1),
    "MaxPool2d": lambda: T.MaxPool2d(3, 2, 1),
    "AvgPool2d": lambda: T.AvgPool2d(3, 2, 1, count_include_pad=False),
    "AdaptiveAvgPool2d": lambda: T.AdaptiveAvgPool2d((2, 3)),
    "AdaptiveAvgPool2d(1)": lambda: T.AdaptiveAvgPool2d(1),
}


def autograd_node_names(tensor):
    """Names of every node in the autograd graph that produced ``tensor``."""
    names, stack, seen = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


@pytest.mark.parametrize("name", TORCH_IMPL_MODULES)
def test_torch_impl_calls_no_builtin(name, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("lib.torch_impl called a built-in it is compared with")

    for namespace, functions in BUILT_INS.items():
        for function in functions:
            if hasattr(namespace, function):
                monkeypatch.setattr(namespace, function, forbidden)
    for cls in (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d):
        monkeypatch.setattr(cls, "forward", forbidden)
    x = torch.randn(2, 2, 7, 6, requires_grad=True)
    y = TORCH_IMPL_MODULES[name]()(x)
    y.backward(torch.randn_like(y))
    assert x.grad is not None
    # even a call that bypassed the patched names would leave its backward node in the graph
    built_in_nodes = {"Convolution", "MaxPool2D", "AvgPool2D", "AdaptiveAvgPool2D"}
    for node in autograd_node_names(y):
        assert not any(node.startswith(b) for b in built_in_nodes), node
    with pytest.raises(AssertionError, match="called a built-in"):  # the patch itself works
        nn.Conv2d(2, 3, 3)(x)


# ---------------------------------------------------------------- init, dtype, names


def test_torch_impl_conv2d_init_matches_builtin():
    """Same seed → the same weights as nn.Conv2d (kaiming_uniform a=√5, bias U(±1/√fan_in))."""
    for args, kwargs in [((3, 8, 3), {}), ((2, 4, (2, 5)), {"bias": False})]:
        torch.manual_seed(0)
        ours = T.Conv2d(*args, **kwargs)
        torch.manual_seed(0)
        ref = nn.Conv2d(*args, **kwargs)
        for (name, p), (ref_name, p_ref) in zip(
            ours.named_parameters(), ref.named_parameters(), strict=True
        ):
            assert name == ref_name
            assert torch.equal(p, p_ref), name


def test_numpy_conv2d_default_init():
    """W, b ~ U(−b, b), b = 1/√fan_in = 1/√(16·9) = 1/12: within the bound, uniform std b/√3."""
    layer = C.Conv2d(16, 32, 3, rng=np.random.default_rng(0))
    bound = 1 / 12
    w, b = layer.params["weight"], layer.params["bias"]
    assert w.shape == (32, 16, 3, 3) and b.shape == (32,)
    assert w.dtype == np.float64 and b.dtype == np.float64
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.03 * bound / np.sqrt(3)
    assert (
        C.Conv2d(1, 1, 2, rng=np.random.default_rng(0), dtype=np.float32).params["weight"].dtype
        == np.float32
    )


def test_numpy_conv2d_has_no_bias_when_asked():
    layer = C.Conv2d(2, 3, 3, bias=False, rng=np.random.default_rng(0))
    assert set(layer.params) == set(layer.grads) == {"weight"}


def test_reprs():
    assert repr(C.Conv2d(3, 8, 3, padding=1, rng=np.random.default_rng(0))) == (
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=True)"
    )
    assert repr(T.MaxPool2d(2)) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    assert repr(C.AdaptiveAvgPool2d((None, 3))) == "AdaptiveAvgPool2d(output_size=(None, 3))"


# ---------------------------------------------------------------- bad input

RNG = np.random.default_rng(0)
X = np.ones((2, 3, 5, 5))

# (numpy_ref call, torch_impl call or None, error, message regex)
BAD = {
    "channels_zero": (
        lambda m: m.Conv2d(0, 4, 3, **m.kw),
        ValueError,
        r"Conv2d: in_channels and out_channels must be integers >= 1, got in_channels=0",
    ),
    "channels_float": (
        lambda m: m.Conv2d(3.5, 4, 3, **m.kw),
        ValueError,
        r"in_channels and out_channels must be integers >= 1, got in_channels=3.5",
    ),
    "kernel_zero": (
        lambda m: m.Conv2d(3, 4, 0, **m.kw),
        ValueError,
        r"Conv2d: kernel_size must be an integer >= 1 or a pair \(height, width\) of them, got 0",
    ),
    "kernel_triple": (
        lambda m: m.Conv2d(3, 4, (3, 3, 3), **m.kw),
        ValueError,
        r"kernel_size must be .* got \(3, 3, 3\)",
    ),
    "kernel_str": (lambda m: m.Conv2d(3, 4, "3", **m.kw), ValueError, "kernel_size must be"),
    "kernel_float": (lambda m: m.Conv2d(3, 4, 2.5, **m.kw), ValueError, "got 2.5"),
    "stride_zero": (
        lambda m: m.Conv2d(3, 4, 3, stride=0, **m.kw),
        ValueError,
        "Conv2d: stride must be an integer >= 1",
    ),
    "padding_negative": (
        lambda m: m.Conv2d(3, 4, 3, padding=-1, **m.kw),
        ValueError,
        "Conv2d: padding must be an integer >= 0 or a pair",
    ),
    "bias_positional": (
        lambda m: m.Conv2d(3, 4, 3, 1, 1, False, **m.kw),
        TypeError,
        "positional argument",
    ),
    "conv_3d_input": (
        lambda m: m.Conv2d(3, 4, 3, **m.kw)(m.x(3, 5, 5)),
        ValueError,
        r"Conv2d expects 4D input \(N, C, H, W\), got 3D input of shape \(3, 5, 5\)",
    ),
    "conv_channels": (
        lambda m: m.Conv2d(3, 4, 3, **m.kw)(m.x(2, 2, 5, 5)),
        ValueError,
        r"Conv2d expects input of shape \(N, 3, H, W\) \(in_channels=3\), got \(2, 2, 5, 5\)",
    ),
    "conv_kernel_too_large": (
        lambda m: m.Conv2d(3, 4, 5, padding=(0, 1), **m.kw)(m.x(1, 3, 4, 4)),
        ValueError,
        r"Conv2d: kernel_size \(5, 5\) is larger than the padded input \(4, 6\) "
        r"\(input \(4, 4\), padding \(0, 1\)\)",
    ),
    "conv_int_input": (
        lambda m: m.Conv2d(3, 4, 3, **m.kw)(m.ints(2, 3, 5, 5)),
        TypeError,
        "Conv2d expects a floating-point",
    ),
    "pool_padding_over_half": (
        lambda m: m.MaxPool2d(2, padding=2),
        ValueError,
        r"MaxPool2d: padding \(2, 2\) must be at most half the kernel_size \(2, 2\)",
    ),
    "avg_pool_padding_over_half": (
        lambda m: m.AvgPool2d((4, 2), padding=(2, 2)),
        ValueError,
        r"AvgPool2d: padding \(2, 2\) must be at most half the kernel_size \(4, 2\)",
    ),
    "pool_kernel_zero": (
        lambda m: m.MaxPool2d(0),
        ValueError,
        "MaxPool2d: kernel_size must be an integer >= 1",
    ),
    "pool_stride_zero": (
        lambda m: m.AvgPool2d(2, stride=0),
        ValueError,
        "AvgPool2d: stride must be an integer >= 1",
    ),
    "pool_kernel_too_large": (
        lambda m: m.MaxPool2d(3)(m.x(1, 1, 2, 5)),
        ValueError,
        r"MaxPool2d: kernel_size \(3, 3\) is larger than the padded input \(2, 5\)",
    ),
    "pool_2d_input": (
        lambda m: m.AvgPool2d(2)(m.x(4, 4)),
        ValueError,
        r"AvgPool2d expects 4D input \(N, C, H, W\), got 2D",
    ),
    "adaptive_zero": (
        lambda m: m.AdaptiveAvgPool2d(0),
        ValueError,
        r"AdaptiveAvgPool2d: output_size must be an integer >= 1, None, or a pair .* got 0",
    ),
    "adaptive_triple": (
        lambda m: m.AdaptiveAvgPool2d((1, 2, 3)),
        ValueError,
        r"output_size must be .* got \(1, 2, 3\)",
    ),
    "adaptive_3d_input": (
        lambda m: m.AdaptiveAvgPool2d(1)(m.x(3, 4, 4)),
        ValueError,
        "AdaptiveAvgPool2d expects 4D input",
    ),
}


class NumpyRef:
    Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d = (
        C.Conv2d,
        C.MaxPool2d,
        C.AvgPool2d,
        C.AdaptiveAvgPool2d,
    )
    kw = {"rng": RNG}

    @staticmethod
    def x(*shape):
        return np.ones(shape)

    @staticmethod
    def ints(*shape):
        return np.ones(shape, dtype=int)


class TorchImpl:
    Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d = (
        T.Conv2d,
        T.MaxPool2d,
        T.AvgPool2d,
        T.AdaptiveAvgPool2d,
    )
    kw = {}

    @staticmethod
    def x(*shape):
        return torch.ones(shape)

    @staticmethod
    def ints(*shape):
        return torch.ones(shape, dtype=torch.int64)


@pytest.mark.parametrize("package", [NumpyRef, TorchImpl], ids=["numpy_ref", "torch_impl"])
@pytest.mark.parametrize("case", BAD)
def test_bad_input(case, package):
    build, error, message = BAD[case]
    with pytest.raises(error, match=message):
        build(package)


def test_numpy_conv2d_needs_rng():
    with pytest.raises(TypeError, match="Conv2d needs an explicit rng=np.random.Generator"):
        C.Conv2d(3, 4, 3)


@pytest.mark.parametrize(
    "layer",
    [
        C.Conv2d(3, 2, 3, rng=np.random.default_rng(0)),
        C.MaxPool2d(2),
        C.AvgPool2d(2),
        C.AdaptiveAvgPool2d(2),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_numpy_backward_checks(layer):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.ones((2, 2, 2, 2)))
    out = layer.forward(X)
    wrong = np.ones(out.shape[:-1] + (out.shape[-1] + 1,))
    with pytest.raises(
        ValueError,
        match=rf"{type(layer).__name__}.backward expects dout of the forward output's shape "
        rf"\({', '.join(map(str, out.shape))}\), got",
    ):
        layer.backward(wrong)
