"""Three-way parity: NumPy reference ↔ lib.torch_impl ↔ PyTorch built-in.

For every activation, layer, normalization layer and loss: forward output, input gradient and
every parameter gradient, with a random upstream gradient (an all-ones gradient hides bugs), in
train and eval mode; for normalization layers also the running statistics after several training
steps. The same weights are copied into all three. float64 throughout.

Tolerance: rtol=1e-10, atol=1e-12 (measured differences are ~1e-15: only summation order differs).
The torch modules run on the ``device`` fixture (CPU, and CUDA when present); NumPy on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from parity import ATOL, RTOL, assert_close
from torch import nn

from lib.numpy_ref import activations as np_act
from lib.numpy_ref import layers as np_layers
from lib.numpy_ref import losses as np_losses
from lib.numpy_ref import norm as np_norm
from lib.torch_impl import activations as ti_act
from lib.torch_impl import layers as ti_layers
from lib.torch_impl import losses as ti_losses
from lib.torch_impl import norm as ti_norm

DTYPE = torch.float64




def torch_pass(module, x, g=None, gen=None):
    """Forward + backward of a torch module; returns (y, dx, {param name: grad}, g used)."""
    module.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    y = module(x)
    if g is None:
        g = torch.randn(y.shape, generator=gen, dtype=DTYPE)
    y.backward(g.to(y.device))
    grads = {name: p.grad for name, p in module.named_parameters()}
    return y, x.grad, grads, g


def numpy_pass(module, x, g):
    y = module.forward(x.numpy())
    dx = module.backward(g.numpy())
    return y, dx, {name: grad.copy() for name, grad in module.grads.items()}


def randomize_params(module, gen):
    """Move every parameter away from its default (γ = 1, β = 0, …) so that it matters."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device))


def copy_params_to_numpy(ti_module, np_module):
    params = dict(ti_module.named_parameters())
    assert set(np_module.params) == set(params), "parameter names differ between NumPy and torch"
    for name, p in params.items():
        np_module.params[name][...] = p.detach().cpu().numpy()


def check_three_way(np_mod, ti_mod, ref_mod, make_x, device, modes=("train", "eval")):
    """Run the three modules side by side on fresh inputs, one step per entry of ``modes``."""
    gen = torch.Generator().manual_seed(1)
    ti_mod.to(device=device, dtype=DTYPE)
    randomize_params(ti_mod, gen)
    ref_mod.to(dtype=DTYPE).load_state_dict(ti_mod.state_dict())  # same names, same weights
    ref_mod.to(device)
    copy_params_to_numpy(ti_mod, np_mod)
    for step, mode in enumerate(modes):
        for m in (np_mod, ti_mod, ref_mod):
            m.train(mode == "train")
        x = make_x(gen)
        what = f"step {step} ({mode})"
        y, dx, grads, g = torch_pass(ti_mod, x.to(device), gen=gen)
        y_ref, dx_ref, grads_ref, _ = torch_pass(ref_mod, x.to(device), g)
        y_np, dx_np, grads_np = numpy_pass(np_mod, x, g)
        for name, (ours, ref, ref_np) in {
            "output": (y, y_ref, y_np),
            "input grad": (dx, dx_ref, dx_np),
        }.items():
            assert_close(ours, ref, f"{what} {name}: torch_impl vs built-in")
            assert_close(ref_np, ours, f"{what} {name}: numpy_ref vs torch_impl")
        assert set(grads) == set(grads_ref) == set(grads_np)
        for name in grads:
            assert_close(
                grads[name], grads_ref[name], f"{what} grad {name}: torch_impl vs built-in"
            )
            assert_close(
                grads_np[name], grads[name], f"{what} grad {name}: numpy_ref vs torch_impl"
            )
        buffers, buffers_ref = dict(ti_mod.named_buffers()), dict(ref_mod.named_buffers())
        assert set(buffers) == set(buffers_ref)
        for name in buffers:
            assert_close(buffers[name], buffers_ref[name], f"{what} {name}: torch_impl vs built-in")
        for name, value in np_mod.buffers.items():
            assert_close(value, buffers[name], f"{what} {name}: numpy_ref vs torch_impl")


def randn(*shape, scale=1.0, shift=0.0):
    return lambda gen: scale * torch.randn(shape, generator=gen, dtype=DTYPE) + shift


# ---------------------------------------------------------------- activations


def activation_input(gen):
    """Random values plus the kinks (0), tiny values, and both sides of Softplus' threshold."""
    x = 3 * torch.randn(4, 3, 5, generator=gen, dtype=DTYPE)
    special = [0.0, -0.0, 1e-8, -1e-8, 20.0, -20.0, 25.0, -25.0, 2.5, 10.0, 40.0]
    x.view(-1)[: len(special)] = torch.tensor(special, dtype=DTYPE)
    return x


ACTIVATIONS = {
    "Sigmoid": (lambda: np_act.Sigmoid(), lambda: ti_act.Sigmoid(), lambda: nn.Sigmoid()),
    "Tanh": (lambda: np_act.Tanh(), lambda: ti_act.Tanh(), lambda: nn.Tanh()),
    "ReLU": (lambda: np_act.ReLU(), lambda: ti_act.ReLU(), lambda: nn.ReLU()),
    "LeakyReLU": (lambda: np_act.LeakyReLU(), lambda: ti_act.LeakyReLU(), lambda: nn.LeakyReLU()),
    "LeakyReLU(0.2)": (
        lambda: np_act.LeakyReLU(0.2),
        lambda: ti_act.LeakyReLU(0.2),
        lambda: nn.LeakyReLU(0.2),
    ),
    "PReLU": (lambda: np_act.PReLU(), lambda: ti_act.PReLU(), lambda: nn.PReLU()),
    "PReLU(3)": (
        lambda: np_act.PReLU(3, init=0.1),
        lambda: ti_act.PReLU(3, init=0.1),
        lambda: nn.PReLU(3, init=0.1),
    ),
    "ELU": (lambda: np_act.ELU(), lambda: ti_act.ELU(), lambda: nn.ELU()),
    "ELU(0.5)": (lambda: np_act.ELU(0.5), lambda: ti_act.ELU(0.5), lambda: nn.ELU(0.5)),
    "GELU": (lambda: np_act.GELU(), lambda: ti_act.GELU(), lambda: nn.GELU()),
    "GELU(tanh)": (
        lambda: np_act.GELU("tanh"),
        lambda: ti_act.GELU("tanh"),
        lambda: nn.GELU("tanh"),
    ),
    "SiLU": (lambda: np_act.SiLU(), lambda: ti_act.SiLU(), lambda: nn.SiLU()),
    "Softplus": (lambda: np_act.Softplus(), lambda: ti_act.Softplus(), lambda: nn.Softplus()),
    "Softplus(2, 5)": (
        lambda: np_act.Softplus(2.0, 5.0),
        lambda: ti_act.Softplus(2.0, 5.0),
        lambda: nn.Softplus(2.0, 5.0),
    ),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_parity(name, device):
    make_np, make_ti, make_ref = ACTIVATIONS[name]
    check_three_way(make_np(), make_ti(), make_ref(), activation_input, device)


class MaxoutReference(nn.Linear):
    """Maxout from the built-ins: nn.Linear to out·pieces, then the max over each unit's pieces."""

    def __init__(self, in_features, out_features, pieces):
        super().__init__(in_features, out_features * pieces)
        self.out_features_maxout, self.pieces = out_features, pieces

    def forward(self, x):
        z = super().forward(x)
        return z.unflatten(-1, (self.out_features_maxout, self.pieces)).max(dim=-1).values


@pytest.mark.parametrize("n, in_features, out_features, pieces", [(2, 5, 3, 2), (7, 4, 1, 4)])
def test_maxout_parity(n, in_features, out_features, pieces, device):
    torch.manual_seed(0)
    check_three_way(
        np_act.Maxout(in_features, out_features, pieces, rng=np.random.default_rng(0)),
        ti_act.Maxout(in_features, out_features, pieces),
        MaxoutReference(in_features, out_features, pieces),
        randn(n, in_features),
        device,
    )


def test_get_activation_builds_the_named_module():
    assert isinstance(ti_act.get_activation("leaky_relu", negative_slope=0.2), ti_act.LeakyReLU)
    assert ti_act.get_activation("leaky_relu", negative_slope=0.2).negative_slope == 0.2
    assert set(ti_act.ACTIVATIONS) == set(np_act.ACTIVATIONS)
    with pytest.raises(ValueError, match="unknown activation 'swish'; allowed"):
        ti_act.get_activation("swish")


def test_sigmoid_and_silu_gradients_stay_finite_far_out():
    """The naive 1 / (1 + e^{−x}) gives a NaN gradient where e^{−x} overflows (float32)."""
    x = torch.tensor([-1000.0, -100.0, 0.0, 100.0, 1000.0], requires_grad=True)
    for module, builtin in [(ti_act.Sigmoid(), torch.sigmoid), (ti_act.SiLU(), F.silu)]:
        x.grad = None
        module(x).sum().backward()
        ours = x.grad.clone()
        x.grad = None
        builtin(x).sum().backward()
        assert torch.isfinite(ours).all()
        torch.testing.assert_close(ours, x.grad)


# ---------------------------------------------------------------- layers


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(2, 5), (2, 3, 5)])
def test_linear_parity(shape, bias, device):
    torch.manual_seed(0)
    check_three_way(
        np_layers.Linear(5, 4, bias=bias, rng=np.random.default_rng(0)),
        ti_layers.Linear(5, 4, bias=bias),
        nn.Linear(5, 4, bias=bias),
        randn(*shape),
        device,
    )


def test_linear_default_init_is_pytorchs(device):
    """Same global seed → the very same numbers as nn.Linear (same sampling calls)."""
    torch.manual_seed(3)
    ours = ti_layers.Linear(7, 5, device=device, dtype=DTYPE)
    torch.manual_seed(3)
    theirs = nn.Linear(7, 5, device=device, dtype=DTYPE)
    assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    assert ours.weight.device.type == torch.device(device).type and ours.weight.dtype == DTYPE


@pytest.mark.parametrize("start_dim, end_dim", [(1, -1), (0, -1), (1, 2), (2, 3), (-2, -1), (3, 3)])
def test_flatten_parity(start_dim, end_dim, device):
    check_three_way(
        np_layers.Flatten(start_dim, end_dim),
        ti_layers.Flatten(start_dim, end_dim),
        nn.Flatten(start_dim, end_dim),
        randn(2, 3, 4, 5),
        device,
    )


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_statistics_and_backward(p, device):
    """Masks cannot be compared across RNGs: check the drop rate, E[y] = x, eval identity, and
    that the backward applies the forward's mask: dx = dout·m/(1 − p)."""
    torch.manual_seed(0)
    n = 200_000  # standard error of the drop rate ≤ 0.0012
    x = (torch.rand(n, dtype=DTYPE, device=device) + 0.5).requires_grad_(True)  # never 0
    drop = ti_layers.Dropout(p)
    y = drop(x)
    kept = y != 0
    assert abs(1 - kept.double().mean().item() - p) < 0.006
    assert abs((y / x).mean().item() - 1) < 0.01  # E[m / (1 − p)] = 1
    torch.testing.assert_close(y[kept], x[kept] / (1 - p), rtol=RTOL, atol=ATOL)
    g = torch.randn(n, dtype=DTYPE, device=device)
    y.backward(g)
    torch.testing.assert_close(x.grad, g * kept / (1 - p), rtol=RTOL, atol=ATOL)
    assert drop.eval()(x) is x
    assert ti_layers.Dropout(0.0)(x) is x

    x_np, g_np = x.detach().cpu().numpy(), g.cpu().numpy()
    drop_np = np_layers.Dropout(p, rng=np.random.default_rng(0))
    y_np = drop_np.forward(x_np)
    kept_np = y_np != 0
    assert abs(1 - kept_np.mean() - p) < 0.006
    np.testing.assert_allclose(drop_np.backward(g_np), g_np * kept_np / (1 - p), RTOL, ATOL)
    assert np.array_equal(drop_np.eval().forward(x_np), x_np)


# ---------------------------------------------------------------- normalization

TRAIN_THEN_EVAL = ("train", "train", "train", "eval", "train", "eval")

NORMS = {
    # BatchNorm1d on (N, C), batch of 2, one channel, and (N, C, L)
    "BatchNorm1d (2, 3)": (
        lambda: np_norm.BatchNorm1d(3),
        lambda: ti_norm.BatchNorm1d(3),
        lambda: nn.BatchNorm1d(3),
        randn(2, 3, scale=2.0, shift=0.5),
    ),
    "BatchNorm1d (6, 1)": (
        lambda: np_norm.BatchNorm1d(1),
        lambda: ti_norm.BatchNorm1d(1),
        lambda: nn.BatchNorm1d(1),
        randn(6, 1, scale=2.0, shift=-1.0),
    ),
    "BatchNorm1d (3, 4, 5) momentum 0.3": (
        lambda: np_norm.BatchNorm1d(4, momentum=0.3),
        lambda: ti_norm.BatchNorm1d(4, momentum=0.3),
        lambda: nn.BatchNorm1d(4, momentum=0.3),
        randn(3, 4, 5, scale=2.0, shift=0.5),
    ),
    "BatchNorm1d no affine, eps 1e-3": (
        lambda: np_norm.BatchNorm1d(3, eps=1e-3, affine=False),
        lambda: ti_norm.BatchNorm1d(3, eps=1e-3, affine=False),
        lambda: nn.BatchNorm1d(3, eps=1e-3, affine=False),
        randn(4, 3, 2, scale=0.1),
    ),
    "BatchNorm1d no running stats": (
        lambda: np_norm.BatchNorm1d(3, track_running_stats=False),
        lambda: ti_norm.BatchNorm1d(3, track_running_stats=False),
        lambda: nn.BatchNorm1d(3, track_running_stats=False),
        randn(5, 3, scale=2.0, shift=0.5),
    ),
    "BatchNorm2d (2, 3, 4, 5)": (
        lambda: np_norm.BatchNorm2d(3),
        lambda: ti_norm.BatchNorm2d(3),
        lambda: nn.BatchNorm2d(3),
        randn(2, 3, 4, 5, scale=2.0, shift=0.5),
    ),
    "BatchNorm2d one channel, 1x1 maps": (
        lambda: np_norm.BatchNorm2d(1),
        lambda: ti_norm.BatchNorm2d(1),
        lambda: nn.BatchNorm2d(1),
        randn(3, 1, 1, 1, scale=2.0, shift=0.5),
    ),
    "LayerNorm 6": (
        lambda: np_norm.LayerNorm(6),
        lambda: ti_norm.LayerNorm(6),
        lambda: nn.LayerNorm(6),
        randn(2, 6, scale=2.0, shift=0.5),
    ),
    "LayerNorm (3, 4) on 4-D": (
        lambda: np_norm.LayerNorm((3, 4)),
        lambda: ti_norm.LayerNorm((3, 4)),
        lambda: nn.LayerNorm((3, 4)),
        randn(2, 5, 3, 4, scale=2.0, shift=0.5),
    ),
    "LayerNorm no bias": (
        lambda: np_norm.LayerNorm(5, bias=False),
        lambda: ti_norm.LayerNorm(5, bias=False),
        lambda: nn.LayerNorm(5, bias=False),
        randn(3, 5),
    ),
    "LayerNorm no affine": (
        lambda: np_norm.LayerNorm(5, elementwise_affine=False),
        lambda: ti_norm.LayerNorm(5, elementwise_affine=False),
        lambda: nn.LayerNorm(5, elementwise_affine=False),
        randn(3, 5),
    ),
    "GroupNorm groups=1": (
        lambda: np_norm.GroupNorm(1, 6),
        lambda: ti_norm.GroupNorm(1, 6),
        lambda: nn.GroupNorm(1, 6),
        randn(2, 6, 3, 2, scale=2.0, shift=0.5),
    ),
    "GroupNorm groups=C": (
        lambda: np_norm.GroupNorm(6, 6),
        lambda: ti_norm.GroupNorm(6, 6),
        lambda: nn.GroupNorm(6, 6),
        randn(2, 6, 3, 2, scale=2.0, shift=0.5),
    ),
    "GroupNorm groups=3 of 6": (
        lambda: np_norm.GroupNorm(3, 6),
        lambda: ti_norm.GroupNorm(3, 6),
        lambda: nn.GroupNorm(3, 6),
        randn(2, 6, 3, 2, scale=2.0, shift=0.5),
    ),
    "GroupNorm (N, C, L), no affine": (
        lambda: np_norm.GroupNorm(2, 4, affine=False),
        lambda: ti_norm.GroupNorm(2, 4, affine=False),
        lambda: nn.GroupNorm(2, 4, affine=False),
        randn(3, 4, 5),
    ),
    "InstanceNorm2d": (
        lambda: np_norm.InstanceNorm2d(3),
        lambda: ti_norm.InstanceNorm2d(3),
        lambda: nn.InstanceNorm2d(3),
        randn(2, 3, 4, 5, scale=2.0, shift=0.5),
    ),
    "InstanceNorm2d affine + running stats": (
        lambda: np_norm.InstanceNorm2d(3, affine=True, track_running_stats=True),
        lambda: ti_norm.InstanceNorm2d(3, affine=True, track_running_stats=True),
        lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
        randn(2, 3, 4, 5, scale=2.0, shift=0.5),
    ),
}


@pytest.mark.parametrize("name", NORMS)
def test_norm_parity(name, device):
    """Forward, input and parameter gradients, running_mean / running_var / num_batches_tracked
    after each of several training steps, and the eval output from the running statistics."""
    make_np, make_ti, make_ref, make_x = NORMS[name]
    check_three_way(make_np(), make_ti(), make_ref(), make_x, device, TRAIN_THEN_EVAL)


def test_groupnorm_extremes_are_layernorm_and_instancenorm():
    x = torch.randn(3, 4, 5, 2, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    layer = ti_norm.LayerNorm((4, 5, 2), elementwise_affine=False)
    instance = ti_norm.InstanceNorm2d(4)
    assert_close(ti_norm.GroupNorm(1, 4, affine=False)(x), layer(x), "GroupNorm(1, C)")
    assert_close(ti_norm.GroupNorm(4, 4, affine=False)(x), instance(x), "GroupNorm(C, C)")


def test_batchnorm_running_stats_by_hand():
    """The rule itself, independent of the built-in: momentum weights the NEW statistic and the
    running variance is the UNBIASED batch variance, while x̂ uses the biased one."""
    x = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    bn = ti_norm.BatchNorm1d(3, momentum=0.25).double()
    y = bn(x)
    mean, var_biased = x.mean(dim=(0, 2)), x.var(dim=(0, 2), correction=0)
    torch.testing.assert_close(bn.running_mean, 0.25 * mean)
    torch.testing.assert_close(bn.running_var, 0.75 + 0.25 * var_biased * 20 / 19)
    assert bn.num_batches_tracked.item() == 1
    x_hat = (x - mean[:, None]) / torch.sqrt(var_biased[:, None] + 1e-5)
    torch.testing.assert_close(y, x_hat)


def test_batchnorm_cumulative_average_when_momentum_is_none(device):
    """momentum=None: the running statistics are the plain average over all batches so far."""
    gen = torch.Generator().manual_seed(0)
    ours = ti_norm.BatchNorm2d(2, momentum=None).to(device, DTYPE)
    ref = nn.BatchNorm2d(2, momentum=None).to(device, DTYPE)
    for _ in range(4):
        x = torch.randn(3, 2, 2, 2, generator=gen, dtype=DTYPE).to(device)
        assert_close(ours(x), ref(x), "output")
    for name, buffer in ours.named_buffers():
        assert_close(buffer, dict(ref.named_buffers())[name], name)


STATE_DICT_CASES = [
    ("BatchNorm1d", (3,), {}),
    ("BatchNorm2d", (3,), {"affine": False}),
    ("BatchNorm2d", (3,), {"track_running_stats": False}),
    ("LayerNorm", ((3, 4),), {}),
    ("LayerNorm", (3,), {"bias": False}),
    ("GroupNorm", (2, 4), {}),
    ("InstanceNorm2d", (3,), {}),
    ("InstanceNorm2d", (3,), {"affine": True, "track_running_stats": True}),
    ("Linear", (3, 2), {}),
    ("PReLU", (3,), {}),
]


@pytest.mark.parametrize(
    "name, args, kwargs", STATE_DICT_CASES, ids=[f"{n}{a}{k}" for n, a, k in STATE_DICT_CASES]
)
def test_state_dict_loads_both_ways(name, args, kwargs):
    """Same parameter and buffer names, shapes and dtypes: strict load_state_dict both ways."""
    ours_module = {"Linear": ti_layers, "PReLU": ti_act}.get(name, ti_norm)
    ours = lambda: getattr(ours_module, name)(*args, **kwargs)
    theirs = lambda: getattr(nn, name)(*args, **kwargs)
    a, b = ours(), theirs()
    with torch.no_grad():
        for p in b.parameters():
            p.add_(torch.rand(p.shape))
        for buf in b.buffers():
            buf.add_(torch.ones(buf.shape, dtype=buf.dtype))
    state_b = {k: v.clone() for k, v in b.state_dict().items()}
    assert {k: (v.shape, v.dtype) for k, v in a.state_dict().items()} == {
        k: (v.shape, v.dtype) for k, v in state_b.items()
    }
    a.load_state_dict(state_b)
    b.load_state_dict(ours().state_dict())
    for key, value in a.state_dict().items():
        assert torch.equal(value, state_b[key])


@pytest.mark.parametrize(
    "ours, theirs, shape",
    [
        (ti_norm.BatchNorm1d, nn.BatchNorm1d, (1, 3)),
        (ti_norm.BatchNorm1d, nn.BatchNorm1d, (1, 3, 1)),
        (ti_norm.BatchNorm2d, nn.BatchNorm2d, (1, 3, 1, 1)),
    ],
)
def test_batchnorm_with_one_value_per_channel(ours, theirs, shape):
    """Training needs more than one value per channel (as in PyTorch); eval mode does not."""
    bn, ref = ours(3), theirs(3)
    x = torch.randn(shape)
    for module in (bn, ref):
        with pytest.raises(
            ValueError, match="Expected more than 1 value per channel when training"
        ):
            module(x)
    torch.testing.assert_close(bn.eval()(x), ref.eval()(x))


# ---------------------------------------------------------------- losses


def loss_parity(np_loss, ti_loss, ref_loss, inputs, target, device, **kwargs):
    value_np, grad_np = np_loss(inputs.numpy(), target.numpy(), **kwargs)
    z = inputs.to(device, copy=True).requires_grad_(True)
    value = ti_loss(z, target.to(device), **kwargs)
    value.backward()
    z_ref = inputs.to(device, copy=True).requires_grad_(True)
    value_ref = ref_loss(z_ref, target.to(device))
    value_ref.backward()
    assert value.dim() == 0
    assert_close(value, value_ref, "loss: torch_impl vs built-in")
    assert_close(value_np, value, "loss: numpy_ref vs torch_impl")
    assert_close(z.grad, z_ref.grad, "gradient: torch_impl vs built-in")
    assert_close(grad_np, z.grad, "gradient: numpy_ref vs torch_impl")


@pytest.mark.parametrize("n, c, scale", [(5, 4, 3.0), (1, 3, 1.0), (4, 2, 1000.0)])
def test_cross_entropy_parity(n, c, scale, device):
    gen = torch.Generator().manual_seed(0)
    logits = scale * torch.randn(n, c, generator=gen, dtype=DTYPE)
    target = torch.randint(0, c, (n,), generator=gen)
    loss_parity(
        np_losses.cross_entropy, ti_losses.cross_entropy, F.cross_entropy, logits, target, device
    )


def test_mse_loss_parity(device):
    gen = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 3, 4, generator=gen, dtype=DTYPE).unbind(0)
    loss_parity(np_losses.mse_loss, ti_losses.mse_loss, F.mse_loss, pred, target, device)


def test_binary_cross_entropy_with_logits_parity(device):
    """Includes z = 0 (the kink of the stable form: dL/dz must be σ(0) − y) and |z| = 50."""
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(4, 5, generator=gen, dtype=DTYPE)
    logits.view(-1)[:4] = torch.tensor([0.0, 0.0, 50.0, -50.0], dtype=DTYPE)
    target = torch.rand(4, 5, generator=gen, dtype=DTYPE)
    target.view(-1)[:3] = torch.tensor([0.0, 1.0, 0.3], dtype=DTYPE)
    loss_parity(
        np_losses.binary_cross_entropy_with_logits,
        ti_losses.binary_cross_entropy_with_logits,
        F.binary_cross_entropy_with_logits,
        logits,
        target,
        device,
    )


def named_weights(device):
    gen = torch.Generator().manual_seed(0)
    shapes = {"0.weight": (3, 4), "0.bias": (3,), "2.weight": (2, 3), "2.bias": (2,)}
    params = {k: torch.randn(s, generator=gen, dtype=DTYPE) for k, s in shapes.items()}
    params["2.weight"][0, 0] = 0.0  # the subgradient of |w| at 0 is 0
    return {k: v.to(device).requires_grad_(True) for k, v in params.items()}


def builtin_penalty(kind, weights, lam, l1_ratio):
    """The penalties written with torch.linalg norms, as a third opinion."""
    l1 = sum(torch.linalg.vector_norm(w, 1) for w in weights)
    l2_sq = sum(torch.linalg.vector_norm(w, 2) ** 2 for w in weights)
    return {
        "l1": lam * l1,
        "l2": lam / 2 * l2_sq,
        "elastic": lam * (l1_ratio * l1 + (1 - l1_ratio) / 2 * l2_sq),
    }[kind]


@pytest.mark.parametrize("kind", ["l1", "l2", "elastic"])
@pytest.mark.parametrize("keys", [None, ["0.weight", "2.bias"]])
def test_penalty_parity(kind, keys, device):
    lam, l1_ratio = 0.3, 0.25
    kw = {"l1_ratio": l1_ratio} if kind == "elastic" else {}
    np_fn = {
        "l1": np_losses.l1_penalty,
        "l2": np_losses.l2_penalty,
        "elastic": np_losses.elastic_net_penalty,
    }[kind]
    ti_fn = {
        "l1": ti_losses.l1_penalty,
        "l2": ti_losses.l2_penalty,
        "elastic": ti_losses.elastic_net_penalty,
    }[kind]
    params = named_weights(device)
    penalized = keys if keys is not None else ["0.weight", "2.weight"]
    value = ti_fn(params, lam, keys=keys, **kw)
    value.backward()
    value_np, grads_np = np_fn(
        {k: v.detach().cpu().numpy() for k, v in params.items()}, lam, keys=keys, **kw
    )
    ref_params = named_weights(device)
    value_ref = builtin_penalty(kind, [ref_params[k] for k in penalized], lam, l1_ratio)
    value_ref.backward()
    assert_close(value, value_ref, "penalty: torch_impl vs torch.linalg")
    assert_close(value_np, value, "penalty: numpy_ref vs torch_impl")
    assert set(grads_np) == set(penalized)
    for name, p in params.items():
        if name in penalized:
            assert_close(p.grad, ref_params[name].grad, f"grad {name}: torch_impl vs torch.linalg")
            assert_close(grads_np[name], p.grad, f"grad {name}: numpy_ref vs torch_impl")
        else:
            assert p.grad is None, f"{name} is not penalized but got a gradient"


def test_l2_penalty_step_is_sgd_weight_decay():
    """SGD on the L2 penalty alone = torch.optim.SGD(weight_decay=λ) on a zero loss."""
    lam, lr = 0.3, 0.1
    model, twin = nn.Linear(4, 3).double(), nn.Linear(4, 3).double()
    twin.load_state_dict(model.state_dict())
    ti_losses.l2_penalty(model, lam, keys=["weight", "bias"]).backward()
    torch.optim.SGD(model.parameters(), lr=lr).step()
    for p in twin.parameters():
        p.grad = torch.zeros_like(p)
    torch.optim.SGD(twin.parameters(), lr=lr, weight_decay=lam).step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert_close(a, b, "parameters after one step")
