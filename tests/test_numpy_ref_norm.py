"""Normalization layers: BN's two backward passes, running statistics, train vs eval, axes."""

import numpy as np
import pytest

from lib.numpy_ref import norm as N


def rand_affine(layer, seed=0):
    rng = np.random.default_rng(seed)
    for p in layer.params.values():
        p[...] = rng.normal(1.0, 0.5, p.shape)
    return layer


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: N.BatchNorm1d(4), (6, 4)),
        (lambda: N.BatchNorm1d(4), (6, 4, 3)),
        (lambda: N.BatchNorm2d(3), (4, 3, 2, 5)),
        (lambda: N.BatchNorm1d(3), (2, 3)),
        (lambda: N.InstanceNorm2d(3, affine=True), (2, 3, 4, 4)),
    ],
    ids=["bn1d", "bn1d_3d", "bn2d", "bn1d_batch_of_2", "instancenorm"],
)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_backward_equals_backward_graph(make, shape, mode):
    rng = np.random.default_rng(1)
    layer = rand_affine(make())
    layer(rng.normal(3.0, 2.0, shape))  # moves the running statistics away from 0 and 1
    layer.train(mode == "train")
    out = layer(rng.normal(3.0, 2.0, shape))
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    dx_graph = layer.backward_graph(dout)
    np.testing.assert_allclose(dx_graph, dx, rtol=0, atol=1e-12)  # terms are O(1) here
    for k, g in layer.grads.items():
        np.testing.assert_array_equal(g, grads[k])


@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_batchnorm2d_running_statistics_follow_the_formula(momentum):
    rng = np.random.default_rng(2)
    bn = N.BatchNorm2d(3, momentum=momentum)
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(5):
        x = rng.normal(rng.normal(size=(1, 3, 1, 1)), 2.0, (4, 3, 2, 2))
        bn(x)
        mean = (1 - momentum) * mean + momentum * x.mean(axis=(0, 2, 3))
        var = (1 - momentum) * var + momentum * x.var(axis=(0, 2, 3), ddof=1)  # unbiased
    np.testing.assert_allclose(bn.buffers["running_mean"], mean, rtol=1e-13)
    np.testing.assert_allclose(bn.buffers["running_var"], var, rtol=1e-13)


def test_batchnorm1d_running_statistics_3d_input():
    rng = np.random.default_rng(3)
    bn = N.BatchNorm1d(2)
    x = rng.normal(size=(3, 2, 4))
    bn(x)
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.1 * x.mean(axis=(0, 2)), rtol=1e-13)
    np.testing.assert_allclose(
        bn.buffers["running_var"], 0.9 + 0.1 * x.var(axis=(0, 2), ddof=1), rtol=1e-13
    )


def test_instancenorm_running_statistics_average_instances():
    rng = np.random.default_rng(4)
    layer = N.InstanceNorm2d(2, momentum=0.2, track_running_stats=True)
    x = rng.normal(size=(3, 2, 3, 3))
    layer(x)
    np.testing.assert_allclose(
        layer.buffers["running_mean"], 0.2 * x.mean(axis=(2, 3)).mean(axis=0)
    )
    np.testing.assert_allclose(
        layer.buffers["running_var"], 0.8 + 0.2 * x.var(axis=(2, 3), ddof=1).mean(axis=0)
    )
    assert N.InstanceNorm2d(2).buffers == {}  # PyTorch's default: no running statistics


def test_batchnorm_train_vs_eval():
    rng = np.random.default_rng(5)
    bn = rand_affine(N.BatchNorm1d(3))
    for _ in range(4):
        bn(rng.normal(2.0, 3.0, (8, 3)))
    x = rng.normal(2.0, 3.0, (8, 3))
    gamma, beta = bn.params["weight"], bn.params["bias"]

    train_out = bn(x)
    np.testing.assert_allclose(
        train_out, gamma * (x - x.mean(0)) / np.sqrt(x.var(0) + bn.eps) + beta, rtol=1e-12
    )
    bn.eval()
    rm, rv = bn.buffers["running_mean"].copy(), bn.buffers["running_var"].copy()
    eval_out = bn(x)
    np.testing.assert_allclose(eval_out, gamma * (x - rm) / np.sqrt(rv + bn.eps) + beta, rtol=1e-12)
    assert np.abs(eval_out - train_out).max() > 1e-2  # the two modes really differ
    np.testing.assert_array_equal(bn.buffers["running_mean"], rm)  # eval does not update them
    np.testing.assert_array_equal(bn.buffers["running_var"], rv)
    assert bn(x[:1]).shape == (1, 3)  # a single sample is fine in eval mode


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval():
    x = np.random.default_rng(6).normal(size=(5, 2))
    bn = N.BatchNorm1d(2, track_running_stats=False)
    np.testing.assert_allclose(bn.eval()(x), bn.train()(x))
    assert bn.buffers == {}


def test_normalized_statistics():
    x = np.random.default_rng(7).normal(3.0, 2.0, (4, 6, 3, 3))
    ln = N.LayerNorm((6, 3, 3))(x)
    np.testing.assert_allclose(ln.mean(axis=(1, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(ln.var(axis=(1, 2, 3)), 1.0, rtol=1e-4)
    gn = N.GroupNorm(3, 6)(x).reshape(4, 3, -1)
    np.testing.assert_allclose(gn.mean(axis=2), 0.0, atol=1e-12)
    np.testing.assert_allclose(gn.var(axis=2), 1.0, rtol=1e-4)
    bn = N.BatchNorm2d(6)(x)
    np.testing.assert_allclose(bn.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(bn.var(axis=(0, 2, 3)), 1.0, rtol=1e-4)


def test_groupnorm_extremes_equal_layernorm_and_instancenorm():
    x = np.random.default_rng(8).normal(size=(2, 4, 3, 3))
    np.testing.assert_allclose(N.GroupNorm(1, 4)(x), N.LayerNorm((4, 3, 3))(x), rtol=1e-12)
    np.testing.assert_allclose(N.GroupNorm(4, 4)(x), N.InstanceNorm2d(4)(x), rtol=1e-12)


def test_layernorm_is_per_sample():
    """Unlike BatchNorm, one sample's output does not depend on the rest of the batch."""
    x = np.random.default_rng(9).normal(size=(5, 4))
    ln = N.LayerNorm(4)
    np.testing.assert_allclose(ln(x)[:2], ln(x[:2]), rtol=1e-13)
    bn = N.BatchNorm1d(4)
    assert np.abs(bn(x)[:2] - bn(x[:2])).max() > 1e-2
