"""Initializations: gains and fans against torch.nn.init, empirical moments against the formulas."""

import math

import numpy as np
import pytest
import torch

from lib.numpy_ref import init


@pytest.mark.parametrize(
    "nonlinearity, param",
    [
        ("linear", None),
        ("conv2d", None),
        ("conv_transpose3d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", 0),
        ("selu", None),
    ],
)
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15
    )


@pytest.mark.parametrize("shape", [(4, 3), (16, 8, 3, 3), (5, 2, 7), (3, 5, 1, 1), (6, 4, 2, 3, 3)])
def test_fans_match_torch(shape):
    assert init.fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


SHAPE = (300, 500)  # fan_in = 500, fan_out = 300: 150,000 draws, sample std within ~0.4 %


@pytest.mark.parametrize(
    "fn, kwargs, std, bound",
    [
        (init.normal, dict(mean=0.0, std=0.3), 0.3, None),
        (init.uniform, dict(a=-0.2, b=0.2), 0.2 / math.sqrt(3), 0.2),
        (init.xavier_uniform, {}, math.sqrt(2 / 800), math.sqrt(6 / 800)),
        (
            init.xavier_uniform,
            dict(gain=5 / 3),
            5 / 3 * math.sqrt(2 / 800),
            5 / 3 * math.sqrt(6 / 800),
        ),
        (init.xavier_normal, {}, math.sqrt(2 / 800), None),
        (init.kaiming_uniform, {}, math.sqrt(2 / 500), math.sqrt(6 / 500)),  # defaults: ReLU gain
        (init.kaiming_uniform, dict(a=math.sqrt(5)), 1 / math.sqrt(3 * 500), 1 / math.sqrt(500)),
        (init.kaiming_normal, {}, math.sqrt(2 / 500), None),
        (init.kaiming_normal, dict(mode="fan_out", nonlinearity="relu"), math.sqrt(2 / 300), None),
        (init.kaiming_normal, dict(nonlinearity="tanh"), 5 / 3 / math.sqrt(500), None),
        (init.lecun_normal, {}, 1 / math.sqrt(500), None),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_empirical_std_and_bounds(fn, kwargs, std, bound):
    w = fn(SHAPE, **kwargs, rng=np.random.default_rng(0))
    assert w.shape == SHAPE and w.dtype == np.float64
    assert w.std() == pytest.approx(std, rel=0.02)
    assert abs(w.mean()) < 0.02 * std + abs(kwargs.get("mean", 0.0))
    if bound is not None:
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.99 * bound


def test_conv_shape_uses_receptive_field():
    w = init.kaiming_normal((64, 16, 3, 3), rng=np.random.default_rng(1))
    assert w.std() == pytest.approx(math.sqrt(2 / (16 * 9)), rel=0.02)


def test_kaiming_uniform_a_sqrt5_is_pytorch_linear_default():
    """nn.Linear's weight init U(±1/√in) is kaiming_uniform with a = √5."""
    b = 1 / math.sqrt(500)
    w = init.kaiming_uniform(SHAPE, a=math.sqrt(5), rng=np.random.default_rng(2))
    assert np.abs(w).max() <= b and np.abs(w).max() > 0.999 * b


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (4, 2, 3, 3)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal(shape, gain):
    w = init.orthogonal(shape, gain=gain, rng=np.random.default_rng(3))
    assert w.shape == shape
    flat = w.reshape(shape[0], -1)
    rows, cols = flat.shape
    gram = flat @ flat.T if rows <= cols else flat.T @ flat
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_sign_fix_makes_r_diagonal_positive():
    """After the sign fix, Q is the QR factor whose R has a positive diagonal (unique)."""
    rng = np.random.default_rng(4)
    w = init.orthogonal((5, 5), rng=np.random.default_rng(4))
    a = rng.normal(0.0, 1.0, (5, 5))  # the same draw orthogonal made
    np.testing.assert_allclose(w.T @ a, np.triu(w.T @ a), atol=1e-12)
    assert (np.diag(w.T @ a) > 0).all()


def test_deterministic_new_arrays():
    a = init.xavier_normal((4, 3), rng=np.random.default_rng(5))
    b = init.xavier_normal((4, 3), rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert a is not b
    np.testing.assert_array_equal(init.zeros((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.constant((2, 3), 0.5), np.full((2, 3), 0.5))
    assert init.constant((2,), 1).dtype == np.float64
