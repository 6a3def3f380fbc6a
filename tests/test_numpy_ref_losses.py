"""Losses (values from their definitions, stability) and penalties (conventions, key selection)."""

import math

import numpy as np
import pytest

from lib.numpy_ref import losses


def test_softmax_and_log_softmax():
    x = np.random.default_rng(0).normal(size=(4, 5))
    p = losses.softmax(x)
    np.testing.assert_allclose(p, np.exp(x) / np.exp(x).sum(axis=1, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(losses.log_softmax(x), np.log(p), rtol=1e-13)
    big = np.array([[1000.0, 0.0, -1000.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        np.testing.assert_allclose(losses.softmax(big), [[1.0, 0.0, 0.0]])
        np.testing.assert_allclose(losses.log_softmax(big), [[0.0, -1000.0, -2000.0]])


def test_cross_entropy_value():
    rng = np.random.default_rng(1)
    logits, y = rng.normal(size=(6, 3)), rng.integers(0, 3, 6)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    loss, _ = losses.cross_entropy(logits, y)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(6), y])), rel=1e-13)
    # equal logits: loss = ln C (the "check the initial loss" rule of thumb)
    assert losses.cross_entropy(np.zeros((4, 10)), np.arange(4))[0] == pytest.approx(math.log(10))


def test_cross_entropy_is_stable_for_huge_logits():
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, d = losses.cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1]))
    assert loss == pytest.approx(2000.0)
    np.testing.assert_allclose(d, [[1.0, -1.0]])


def test_mse_value():
    pred, target = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.0, 2.0], [5.0, 4.0]])
    loss, d = losses.mse_loss(pred, target)
    assert loss == pytest.approx((1 + 4) / 4)
    np.testing.assert_allclose(d, [[0.5, 0.0], [-1.0, 0.0]])


def test_bce_with_logits_value_and_stability():
    z, y = np.array([-2.0, 0.5, 3.0]), np.array([0.0, 1.0, 0.3])
    s = 1 / (1 + np.exp(-z))
    expected = np.mean(-y * np.log(s) - (1 - y) * np.log(1 - s))
    assert losses.binary_cross_entropy_with_logits(z, y)[0] == pytest.approx(expected, rel=1e-13)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, d = losses.binary_cross_entropy_with_logits(
            np.array([800.0, -800.0]), np.array([0.0, 0.0])
        )
    assert loss == pytest.approx(400.0)
    np.testing.assert_allclose(d, [0.5, 0.0])


PARAMS = {
    "0.weight": np.array([[1.0, -2.0], [0.0, 3.0]]),
    "0.bias": np.array([5.0, 5.0]),
    "1.weight": np.array([-1.0, 2.0]),
}


def test_l2_penalty_convention_equals_weight_decay():
    lam = 0.1
    value, grads = losses.l2_penalty(PARAMS, lam)
    assert value == pytest.approx(lam / 2 * (1 + 4 + 9 + 1 + 4))
    assert set(grads) == {"0.weight", "1.weight"}  # names ending in "weight" by default
    # SGD with weight_decay=λ steps by −lr·(g + λw): the same as the gradient of (λ/2)Σw²
    for k, g in grads.items():
        np.testing.assert_array_equal(g, lam * PARAMS[k])


def test_l1_penalty_and_subgradient_at_zero():
    value, grads = losses.l1_penalty(PARAMS, 0.5)
    assert value == pytest.approx(0.5 * (1 + 2 + 3 + 1 + 2))
    np.testing.assert_array_equal(grads["0.weight"], [[0.5, -0.5], [0.0, 0.5]])


def test_elastic_net_mixes_l1_and_l2():
    for ratio, other in [(1.0, losses.l1_penalty), (0.0, losses.l2_penalty)]:
        v, g = losses.elastic_net_penalty(PARAMS, 0.3, l1_ratio=ratio)
        v_ref, g_ref = other(PARAMS, 0.3)
        assert v == pytest.approx(v_ref)
        for k in g_ref:
            np.testing.assert_allclose(g[k], g_ref[k])
    v, _ = losses.elastic_net_penalty(PARAMS, 0.3, l1_ratio=0.25)
    l1, _ = losses.l1_penalty(PARAMS, 1.0)
    l2, _ = losses.l2_penalty(PARAMS, 1.0)
    assert v == pytest.approx(0.3 * (0.25 * l1 + 0.75 * l2))


def test_penalty_keys_select_parameters():
    value, grads = losses.l2_penalty(PARAMS, 1.0, keys=["0.bias"])
    assert value == pytest.approx(25.0) and list(grads) == ["0.bias"]
