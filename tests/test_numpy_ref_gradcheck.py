"""Gradient checks of every NumPy layer, activation, norm layer, loss and penalty (float64).

Bounds: rel_error < 1e-7 for smooth functions. Piecewise-linear functions (ReLU, LeakyReLU,
PReLU, Maxout, L1) are checked with inputs kept > 1e-3 away from their kinks (> 1e-3 between the
two best Maxout pieces): then x ± h (h = 1e-5) never crosses a kink, the function is exactly
linear on [x − h, x + h] and the same 1e-7 bound holds, so no looser bound is needed.
"""

import numpy as np
import pytest

from lib.numpy_ref import activations as A
from lib.numpy_ref import layers as L
from lib.numpy_ref import losses
from lib.numpy_ref import norm as N
from lib.numpy_ref.gradcheck import check_layer_gradients, numerical_gradient, rel_error
from lib.numpy_ref.module import Sequential

TOL = 1e-7


def away_from_zero(rng, shape, margin=1e-3):
    """Standard normal samples, resampled until |x| > margin (away from the kink at 0)."""
    x = rng.standard_normal(shape)
    while (small := np.abs(x) <= margin).any():
        x[small] = rng.standard_normal(small.sum())
    return x


def assert_gradients_ok(layer, x, seed=1, h=1e-5):
    errors = check_layer_gradients(layer, x, np.random.default_rng(seed), h=h)
    expected = {"x"} | set(layer.params)
    assert set(errors) == expected
    assert max(errors.values()) < TOL, errors


SMOOTH = {
    "sigmoid": (A.Sigmoid, (4, 5)),
    "tanh": (A.Tanh, (4, 5)),
    "elu": (A.ELU, (4, 5)),
    "elu_alpha": (lambda: A.ELU(alpha=0.5), (4, 5)),
    "gelu": (A.GELU, (4, 5)),
    "gelu_tanh": (lambda: A.GELU(approximate="tanh"), (4, 5)),
    "silu": (A.SiLU, (4, 5)),
    "softplus": (A.Softplus, (4, 5)),
    "bn1d": (lambda: N.BatchNorm1d(3), (5, 3)),
    "bn1d_3d_input": (lambda: N.BatchNorm1d(3), (4, 3, 5)),
    "bn1d_one_channel": (lambda: N.BatchNorm1d(1), (6, 1)),
    # Batch of 2: x̂ = ±√(σ²/(σ² + ε)) barely depends on x when σ² ≫ ε, so the true dx is
    # O(ε/σ²) and a relative error would only measure rounding; a larger ε keeps dx sizeable.
    "bn1d_batch_of_2": (lambda: N.BatchNorm1d(3, eps=0.1), (2, 3)),
    "bn2d": (lambda: N.BatchNorm2d(3), (2, 3, 3, 2)),
    "bn2d_no_affine": (lambda: N.BatchNorm2d(2, affine=False), (3, 2, 2, 2)),
    "layernorm": (lambda: N.LayerNorm(5), (4, 5)),
    "layernorm_2d_shape": (lambda: N.LayerNorm((3, 2)), (4, 3, 2)),
    "layernorm_no_affine": (lambda: N.LayerNorm(5, elementwise_affine=False), (4, 5)),
    "groupnorm_2_groups": (lambda: N.GroupNorm(2, 4), (3, 4, 3)),
    "groupnorm_1_group": (lambda: N.GroupNorm(1, 4), (3, 4, 3)),
    "groupnorm_C_groups": (lambda: N.GroupNorm(4, 4), (3, 4, 3)),
    "groupnorm_4d": (lambda: N.GroupNorm(3, 6), (2, 6, 2, 2)),
    "instancenorm": (lambda: N.InstanceNorm2d(3), (2, 3, 3, 3)),
    "instancenorm_affine": (lambda: N.InstanceNorm2d(3, affine=True), (2, 3, 3, 3)),
}


def randomized(layer):
    """Give γ/β and other parameters non-trivial values (γ = 1, β = 0 would hide bugs)."""
    rng = np.random.default_rng(7)
    for p in layer.params.values():
        p[...] = rng.uniform(0.5, 1.5, p.shape) * rng.choice([-1.0, 1.0], p.shape)
    return layer


# Linear in the input and in each parameter: centred differences are exact for any h, so a
# larger h = 1e-3 only shrinks the rounding error (≈ 1e-16·|f|/h) that dominates small entries.
LINEAR = {
    "linear": (lambda: L.Linear(5, 3, rng=np.random.default_rng(0)), (4, 5)),
    "linear_3d_input": (lambda: L.Linear(5, 3, rng=np.random.default_rng(0)), (2, 4, 5)),
    "linear_no_bias": (lambda: L.Linear(5, 3, bias=False, rng=np.random.default_rng(0)), (4, 5)),
    "dropout_train": (lambda: L.Dropout(0.4, rng=np.random.default_rng(0)), (6, 5)),
    "dropout_eval": (lambda: L.Dropout(0.4, rng=np.random.default_rng(0)).eval(), (6, 5)),
    "flatten": (L.Flatten, (2, 3, 4)),
}


@pytest.mark.parametrize("name", list(LINEAR))
def test_linear_layer_gradients(name):
    make, shape = LINEAR[name]
    assert_gradients_ok(randomized(make()), np.random.default_rng(3).standard_normal(shape), h=1e-3)


@pytest.mark.parametrize("name", list(SMOOTH))
def test_smooth_layer_gradients(name):
    make, shape = SMOOTH[name]
    assert_gradients_ok(randomized(make()), np.random.default_rng(3).standard_normal(shape))


def test_softplus_beta_threshold_both_branches():
    rng = np.random.default_rng(0)
    # beta·x > threshold = 3 (linear branch) for x > 1.5, smooth branch below; stay clear of 1.5
    x = np.concatenate([rng.uniform(-3, 1.4, (3, 4)), rng.uniform(1.6, 3, (3, 4))])
    assert_gradients_ok(A.Softplus(beta=2.0, threshold=3.0), x)


@pytest.mark.parametrize(
    "make",
    [A.ReLU, lambda: A.LeakyReLU(0.1), A.PReLU, lambda: A.PReLU(3), lambda: A.PReLU(3, init=-0.4)],
    ids=["relu", "leaky_relu", "prelu_shared", "prelu_per_channel", "prelu_negative_init"],
)
def test_piecewise_linear_gradients_away_from_kink(make):
    assert_gradients_ok(make(), away_from_zero(np.random.default_rng(4), (4, 3, 2)))


def test_maxout_gradients_away_from_ties():
    rng = np.random.default_rng(5)
    layer = A.Maxout(4, 3, pieces=3, rng=rng)
    x = rng.standard_normal((6, 4))
    z = np.sort((x @ layer.params["weight"].T + layer.params["bias"]).reshape(6, 3, 3), axis=2)
    assert (z[..., -1] - z[..., -2]).min() > 1e-3  # the winner is never near a tie
    assert_gradients_ok(layer, x)


def test_batchnorm_eval_mode_gradients():
    rng = np.random.default_rng(6)
    bn = randomized(N.BatchNorm2d(3))
    for _ in range(3):  # non-trivial running statistics
        bn(rng.normal(2.0, 3.0, (4, 3, 2, 2)))
    bn.eval()
    assert_gradients_ok(bn, rng.standard_normal((2, 3, 2, 2)))


def test_instancenorm_eval_with_running_stats_gradients():
    rng = np.random.default_rng(6)
    layer = N.InstanceNorm2d(2, affine=True, track_running_stats=True)
    layer(rng.normal(1.0, 2.0, (3, 2, 3, 3)))
    assert_gradients_ok(randomized(layer.eval()), rng.standard_normal((2, 2, 3, 3)))


def test_sequential_mlp_gradients():
    rng = np.random.default_rng(8)
    model = Sequential(
        L.Linear(4, 6, rng=rng),
        A.Tanh(),
        N.BatchNorm1d(6),
        L.Dropout(0.3, rng=rng),
        L.Linear(6, 3, rng=rng),
    )
    errors = check_layer_gradients(model, rng.standard_normal((5, 4)), rng)
    assert set(errors) == {"x", "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"}
    assert max(errors.values()) < TOL, errors


def test_bias_before_batchnorm_gets_zero_gradient():
    """BN subtracts the batch mean, so a bias just before it cancels: its gradient is 0."""
    rng = np.random.default_rng(8)
    model = Sequential(L.Linear(4, 6, rng=rng), N.BatchNorm1d(6), A.Tanh(), L.Linear(6, 3, rng=rng))
    model(rng.standard_normal((5, 4)))
    model.backward(rng.standard_normal((5, 3)))
    np.testing.assert_allclose(model.grads["0.bias"], 0.0, atol=1e-14)
    assert np.abs(model.grads["0.weight"]).max() > 1e-3


def test_check_leaves_layer_unchanged():
    bn = N.BatchNorm1d(3)
    before = {k: v.copy() for k, v in bn.buffers.items()}
    check_layer_gradients(
        bn, np.random.default_rng(0).normal(5.0, 2.0, (4, 3)), np.random.default_rng(1)
    )
    for k, v in bn.buffers.items():
        np.testing.assert_array_equal(v, before[k])


# --- losses and penalties ----------------------------------------------------------------


def check_loss(loss_fn, pred, target):
    loss, dpred = loss_fn(pred, target)
    numeric = numerical_gradient(lambda: loss_fn(pred, target)[0], pred)
    assert isinstance(loss, float)
    assert rel_error(dpred, numeric) < TOL


def test_cross_entropy_gradient():
    rng = np.random.default_rng(9)
    check_loss(losses.cross_entropy, rng.standard_normal((6, 4)), rng.integers(0, 4, 6))


def test_mse_gradient():
    rng = np.random.default_rng(10)
    check_loss(losses.mse_loss, rng.standard_normal((5, 3)), rng.standard_normal((5, 3)))


def test_bce_with_logits_gradient():
    rng = np.random.default_rng(11)
    check_loss(
        losses.binary_cross_entropy_with_logits,
        3 * rng.standard_normal((5, 2)),
        rng.uniform(0, 1, (5, 2)),
    )


@pytest.mark.parametrize(
    "penalty",
    [
        lambda p: losses.l2_penalty(p, 0.3),
        lambda p: losses.l1_penalty(p, 0.3),
        lambda p: losses.elastic_net_penalty(p, 0.3, l1_ratio=0.4),
    ],
    ids=["l2", "l1", "elastic_net"],
)
def test_penalty_gradients(penalty):
    rng = np.random.default_rng(12)
    params = {
        "0.weight": away_from_zero(rng, (3, 4)),
        "0.bias": rng.standard_normal(3),
        "2.weight": away_from_zero(rng, (2, 3)),
    }
    value, grads = penalty(params)
    assert set(grads) == {"0.weight", "2.weight"}  # biases are not penalized by default
    for name, g in grads.items():
        numeric = numerical_gradient(lambda: penalty(params)[0], params[name])
        assert rel_error(g, numeric) < TOL


# --- the checker itself ------------------------------------------------------------------


def test_numerical_gradient_restores_input_and_is_second_order():
    x = np.random.default_rng(13).standard_normal((3, 4))
    original = x.copy()
    g = numerical_gradient(lambda: float((x**3).sum()), x, h=1e-3)
    np.testing.assert_array_equal(x, original)
    # centred difference of x³: ((x+h)³ − (x−h)³)/2h = 3x² + h², exactly O(h²)
    np.testing.assert_allclose(g, 3 * x**2 + 1e-6, rtol=0, atol=1e-9)


def test_rel_error_convention():
    a = np.array([1.0, -2.0, 0.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(a, -a) == 1.0
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.array([1.0]), np.array([0.0])) == 1.0
    assert rel_error(np.array([1.0, 100.0]), np.array([1.0, 101.0])) == pytest.approx(1 / 201)


class BrokenBatchNorm(N.BatchNorm1d):
    """Backward missing the term −x̂·mean(dx̂·x̂) (a classic mistake)."""

    def backward(self, dout):
        c = self._saved()
        dxhat = self._affine_backward(dout, c["xhat"])
        return c["inv_std"] * (dxhat - dxhat.mean(axis=0, keepdims=True))


class BrokenTanh(A.Tanh):
    def derivative(self, x):
        return 1.0 - np.tanh(x)  # should be 1 − tanh²


@pytest.mark.parametrize("broken", [BrokenBatchNorm(3), BrokenTanh()], ids=["bn", "tanh"])
def test_check_detects_a_broken_backward(broken):
    errors = check_layer_gradients(
        broken, np.random.default_rng(14).standard_normal((5, 3)), np.random.default_rng(1)
    )
    assert errors["x"] > 1e-2


def test_all_ones_upstream_gradient_hides_the_broken_batchnorm():
    """Why the checker uses a random dout: Σ BN(x) does not depend on x, so with dout = 1 both
    the correct and the broken backward give dx = 0 and the bug goes unnoticed."""
    x = np.random.default_rng(15).standard_normal((5, 3))
    broken = BrokenBatchNorm(3)
    broken(x)
    np.testing.assert_allclose(broken.backward(np.ones((5, 3))), 0.0, atol=1e-12)
