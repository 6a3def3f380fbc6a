"""lib.torch_impl.init against torch.nn.init: fans, gains, exact draws, empirical statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import init as torch_init

from lib.numpy_ref import init as np_init
from lib.torch_impl import init

SHAPES = [
    (5, 3),
    (3, 7),
    (8, 4, 3, 3),
    (2, 6, 5),
]  # linear (out, in), conv (out, in, kh, kw), conv1d


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_pytorch(shape):
    assert init.fans(shape) == torch_init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize(
    "nonlinearity, param",
    [
        ("linear", None),
        ("conv2d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", 1),
        ("selu", None),
    ],
)
def test_gains_match_pytorch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch_init.calculate_gain(nonlinearity, param), rel=1e-15
    )


def same_seed_draws(ours, theirs, shape, device, **kwargs):
    a = torch.empty(shape, device=device, dtype=torch.float64)
    b = torch.empty(shape, device=device, dtype=torch.float64)
    ours(a, generator=torch.Generator(device).manual_seed(7), **kwargs)
    theirs(b, generator=torch.Generator(device).manual_seed(7), **kwargs)
    return a, b


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("uniform_", {"a": -2.0, "b": 3.0}),
        ("normal_", {"mean": 1.0, "std": 0.5}),
        ("xavier_uniform_", {}),
        ("xavier_uniform_", {"gain": 5 / 3}),
        ("xavier_normal_", {"gain": 2.0}),
        ("kaiming_uniform_", {}),
        ("kaiming_uniform_", {"a": math.sqrt(5)}),
        ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
        ("kaiming_normal_", {}),
        ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "tanh"}),
        ("orthogonal_", {}),
        ("orthogonal_", {"gain": 2.0}),
    ],
)
@pytest.mark.parametrize("shape", [(5, 3), (8, 4, 3, 3)])
def test_same_generator_gives_pytorchs_exact_numbers(name, kwargs, shape, device):
    """Same sampling calls (tensor.uniform_/normal_ with the generator) → bit-identical draws."""
    a, b = same_seed_draws(getattr(init, name), getattr(torch_init, name), shape, device, **kwargs)
    assert torch.equal(a, b)


def test_fill_functions():
    t = torch.empty(3, 4)
    assert torch.equal(init.zeros_(t), torch.zeros(3, 4))
    assert torch.equal(init.constant_(t, 0.7), torch.full((3, 4), 0.7))
    assert init.zeros_(t) is t  # in place, returned like torch.nn.init's


def test_init_does_not_record_autograd_history():
    w = torch.nn.Parameter(torch.empty(4, 3))
    for fill in (init.kaiming_uniform_, init.xavier_normal_, init.orthogonal_, init.lecun_normal_):
        assert fill(w).grad_fn is None and w.is_leaf


BIG = (2000, 500)  # fan_in 500, fan_out 2000; 1e6 draws: std within ~0.2 % of its expectation


@pytest.mark.parametrize(
    "fill, kwargs, std, bound",
    [
        (init.xavier_uniform_, {}, math.sqrt(2 / 2500), math.sqrt(6 / 2500)),
        (init.xavier_normal_, {}, math.sqrt(2 / 2500), None),
        (init.kaiming_uniform_, {"nonlinearity": "relu"}, math.sqrt(2 / 500), math.sqrt(6 / 500)),
        (init.kaiming_normal_, {"nonlinearity": "relu"}, math.sqrt(2 / 500), None),
        (init.kaiming_normal_, {"mode": "fan_out"}, math.sqrt(2 / 2000), None),
        (init.kaiming_uniform_, {"a": math.sqrt(5)}, math.sqrt(1 / 3 / 500), 1 / math.sqrt(500)),
        (init.lecun_normal_, {}, 1 / math.sqrt(500), None),
    ],
)
def test_empirical_std_and_bounds_match_the_formula(fill, kwargs, std, bound):
    """std written independently of the code: Xavier 2/(in+out), He 2/fan, LeCun 1/fan_in, and
    PyTorch's nn.Linear default (a = √5) U(−1/√in, 1/√in)."""
    w = fill(
        torch.empty(BIG, dtype=torch.float64), generator=torch.Generator().manual_seed(0), **kwargs
    )
    assert w.std().item() == pytest.approx(std, rel=0.01)
    assert abs(w.mean().item()) < 0.01 * std
    if bound is not None:
        assert w.abs().max().item() <= bound
        assert w.abs().max().item() > 0.999 * bound


@pytest.mark.parametrize(
    "fill_ours, fill_numpy",
    [
        (init.xavier_uniform_, np_init.xavier_uniform),
        (init.kaiming_normal_, np_init.kaiming_normal),
        (init.lecun_normal_, np_init.lecun_normal),
    ],
)
def test_numpy_reference_draws_the_same_distribution(fill_ours, fill_numpy):
    """Different RNGs, so compare statistics: the stds agree within 1 %."""
    ours = fill_ours(
        torch.empty(BIG, dtype=torch.float64), generator=torch.Generator().manual_seed(0)
    )
    theirs = fill_numpy(BIG, rng=np.random.default_rng(0))
    assert theirs.std() == pytest.approx(ours.std().item(), rel=0.01)


def test_lecun_normal_is_kaiming_normal_with_gain_one():
    a, b = torch.empty(6, 4), torch.empty(6, 4)
    init.lecun_normal_(a, generator=torch.Generator().manual_seed(1))
    torch_init.kaiming_normal_(b, nonlinearity="linear", generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


@pytest.mark.parametrize("shape", [(3, 7), (7, 3), (4, 2, 3, 3)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    w = init.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=2.0)
    flat = w.reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    torch.testing.assert_close(gram, 4.0 * torch.eye(gram.shape[0], dtype=torch.float64))


def test_bad_mode_nonlinearity_and_shape_are_rejected():
    w = torch.empty(3, 4)
    with pytest.raises(
        ValueError, match=r"mode must be one of \['fan_in', 'fan_out'\], got 'fan_avg'"
    ):
        init.kaiming_uniform_(w, mode="fan_avg")
    with pytest.raises(ValueError, match=r"unsupported nonlinearity 'swish'; allowed: \['linear'"):
        init.kaiming_normal_(w, nonlinearity="swish")
    with pytest.raises(ValueError, match="negative_slope 'big' is not a valid number"):
        init.calculate_gain("leaky_relu", "big")
    with pytest.raises(ValueError, match=r"at least 2 dimensions \(out, in, \.\.\.\), got \(5,\)"):
        init.xavier_uniform_(torch.empty(5))
    with pytest.raises(ValueError, match=r"orthogonal_ needs a tensor with at least 2 dimensions"):
        init.orthogonal_(torch.empty(5))
