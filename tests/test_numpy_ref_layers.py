"""Module/Sequential contracts, Linear's init, Dropout, and the activations' conventions."""

import numpy as np
import pytest
import torch

from lib.numpy_ref import activations as A
from lib.numpy_ref import layers as L
from lib.numpy_ref import norm as N
from lib.numpy_ref.module import Sequential


def small_model(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(L.Linear(3, 4, rng=rng), N.BatchNorm1d(4), A.ReLU(), L.Linear(4, 2, rng=rng))


def test_sequential_dicts_hold_the_layers_arrays():
    model = small_model()
    assert list(model.params) == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    assert list(model.buffers) == ["1.running_mean", "1.running_var"]
    assert model.params["3.weight"] is model[3].params["weight"]
    assert model.grads["0.bias"] is model[0].grads["bias"]
    assert model.buffers["1.running_var"] is model[1].buffers["running_var"]


def test_in_place_updates_reach_the_layers_and_held_grads_stay_current():
    model = small_model()
    params, grads = model.params, model.grads  # held, as an optimizer holds them
    params["0.weight"] -= 1.0
    np.testing.assert_array_equal(model[0].params["weight"], params["0.weight"])
    rng = np.random.default_rng(1)
    for _ in range(2):
        x, dout = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
        model(x)
        model.backward(dout)
        np.testing.assert_array_equal(grads["3.bias"], dout.sum(axis=0))  # latest, not summed


def test_zero_grad_train_eval_len_getitem_repr():
    model = small_model()
    model(np.ones((4, 3)))
    model.backward(np.ones((4, 2)))
    model.zero_grad()
    assert all((g == 0).all() for g in model.grads.values())
    model.eval()
    assert not model.training and not model[1].training
    model.train()
    assert model[1].training
    assert len(model) == 4 and isinstance(model[2], A.ReLU) and len(model[1:]) == 3
    text = repr(model)
    assert "0x" not in text
    assert "(3): Linear(in_features=4, out_features=2, bias=True)" in text


def test_linear_default_init_and_forward():
    rng = np.random.default_rng(2)
    lin = L.Linear(400, 300, rng=rng)
    w, b = lin.params["weight"], lin.params["bias"]
    assert w.shape == (300, 400) and b.shape == (300,)
    bound = 1 / np.sqrt(400)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)
    x = rng.normal(size=(2, 5, 400))
    np.testing.assert_allclose(lin(x), np.einsum("nti,oi->nto", x, w) + b, atol=1e-12)
    assert L.Linear(3, 2, rng=rng, dtype=np.float32).params["weight"].dtype == np.float32
    assert "bias" not in L.Linear(3, 2, bias=False, rng=rng).params


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_rate_and_expectation(p):
    x = np.ones((200, 500))
    y = L.Dropout(p, rng=np.random.default_rng(3))(x)
    assert (y == 0).mean() == pytest.approx(p, abs=0.005)
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / (1 - p)])
    assert y.mean() == pytest.approx(1.0, abs=0.01)  # inverted scaling preserves E[y] = x


def test_dropout_deterministic_eval_identity_and_p0():
    x = np.random.default_rng(4).normal(size=(6, 7))
    a = L.Dropout(0.5, rng=np.random.default_rng(5))(x)
    b = L.Dropout(0.5, rng=np.random.default_rng(5))(x)
    np.testing.assert_array_equal(a, b)
    drop = L.Dropout(0.5, rng=np.random.default_rng(5))
    assert not np.array_equal(drop(x), drop(x))  # a new mask every call
    drop.eval()
    assert drop(x) is x
    np.testing.assert_array_equal(drop.backward(x), x)
    np.testing.assert_array_equal(L.Dropout(0.0, rng=np.random.default_rng(5))(x), x)


def test_dropout_backward_uses_the_forward_mask():
    drop = L.Dropout(0.5, rng=np.random.default_rng(6))
    y = drop(np.ones((4, 5)))
    np.testing.assert_array_equal(drop.backward(np.ones((4, 5))), y)


def test_flatten():
    x = np.arange(24.0).reshape(2, 3, 4)
    f = L.Flatten()
    assert f(x).shape == (2, 12)
    assert f.backward(f(x)).shape == (2, 3, 4)
    assert L.Flatten(0, 1)(x).shape == (6, 4)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (A.ReLU(), torch.nn.ReLU()),
        (A.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)),
        (A.ELU(0.7), torch.nn.ELU(0.7)),
        (A.PReLU(), torch.nn.PReLU()),
    ],
    ids=["relu", "leaky_relu", "elu", "prelu"],
)
def test_derivative_at_the_kink_follows_pytorch(ours, theirs):
    x = np.array([-1.0, 0.0, 1.0])
    xt = torch.tensor(x, requires_grad=True)
    theirs.double()(xt).sum().backward()
    ours(x)
    np.testing.assert_allclose(ours.backward(np.ones(3)), xt.grad.numpy(), rtol=1e-15)


def test_sigmoid_is_stable_and_bounded_slope():
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = A.sigmoid(x)
    np.testing.assert_allclose(s, [0.0, 1 / (1 + np.exp(30)), 0.5, 1 / (1 + np.exp(-30)), 1.0])
    grid = np.linspace(-10, 10, 2001)
    assert A.Sigmoid().derivative(grid).max() == pytest.approx(0.25)  # σ′ ≤ 1/4, at 0


def test_gelu_tanh_approximation_is_close_and_softplus_limits():
    x = np.linspace(-5, 5, 101)
    assert np.abs(A.GELU("tanh").function(x) - A.GELU().function(x)).max() < 1e-3
    sp = A.Softplus()
    np.testing.assert_allclose(sp.function(np.array([0.0, 25.0])), [np.log(2), 25.0])


def test_maxout_is_max_of_its_pieces():
    rng = np.random.default_rng(7)
    m = A.Maxout(3, 2, pieces=4, rng=rng)
    x = rng.normal(size=(5, 3))
    w, b = m.params["weight"].reshape(2, 4, 3), m.params["bias"].reshape(2, 4)
    expected = (np.einsum("ni,jki->njk", x, w) + b).max(axis=2)
    np.testing.assert_allclose(m(x), expected, rtol=1e-12)


def test_get_activation():
    layer = A.get_activation("leaky_relu", negative_slope=0.2)
    assert isinstance(layer, A.LeakyReLU) and layer.negative_slope == 0.2
    assert set(A.ACTIVATIONS) >= {"sigmoid", "tanh", "relu", "elu", "gelu", "silu", "softplus"}
