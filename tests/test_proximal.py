"""lib.proximal: soft-thresholding (NumPy and in-place torch), the ISTA step, zero counting."""

import numpy as np
import pytest
import torch

from lib import proximal


def test_soft_threshold_values():
    v = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_array_equal(proximal.soft_threshold(v, 1.0), [-2, 0, 0, 0, 0, 0, 2])
    np.testing.assert_array_equal(proximal.soft_threshold(v, 0.0), v)


def test_soft_threshold_is_the_prox_of_l1():
    """S(v, t) minimises ½(w − v)² + t|w| (checked on a fine grid)."""
    grid = np.linspace(-5, 5, 200_001)
    for v in (-2.3, -0.4, 0.0, 0.7, 3.1):
        for t in (0.1, 0.5, 1.5):
            best = grid[np.argmin(0.5 * (grid - v) ** 2 + t * np.abs(grid))]
            assert abs(proximal.soft_threshold(np.array([v]), t)[0] - best) < 1e-4


def test_torch_in_place_matches_numpy():
    v = np.random.default_rng(0).standard_normal(1000)
    t = torch.tensor(v)
    out = proximal.soft_threshold_(t, 0.3)
    assert out is t
    np.testing.assert_allclose(t.numpy(), proximal.soft_threshold(v, 0.3), rtol=0, atol=0)
    assert proximal.count_zeros(t) == int(np.sum(np.abs(v) <= 0.3))


def test_proximal_step_gives_exact_zeros():
    w = np.array([0.05, -0.02, 1.0])
    out = proximal.proximal_l1_step(w, np.zeros(3), lr=0.1, lam=1.0)
    np.testing.assert_allclose(out, [0.0, 0.0, 0.9])
    assert proximal.count_zeros(out) == 2


def test_ista_matches_sklearn_lasso():
    from sklearn.linear_model import Lasso

    from lib.labs import regularization as lab

    X, y, _ = lab.sparse_regression(seed=1)
    for alpha in (0.05, 0.3):
        ours = lab.lasso_ista(X, y, alpha)
        ref = Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y)
        np.testing.assert_allclose(ours, ref.coef_, atol=1e-8)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "0.1", True])
def test_bad_threshold(bad):
    with pytest.raises(ValueError, match="threshold"):
        proximal.soft_threshold(np.ones(2), bad)


def test_bad_step_input():
    with pytest.raises(ValueError, match="lr"):
        proximal.proximal_l1_step(np.ones(2), np.ones(2), lr=0, lam=0.1)
    with pytest.raises(ValueError, match="same shape"):
        proximal.proximal_l1_step(np.ones(2), np.ones(3), lr=0.1, lam=0.1)
    with pytest.raises(TypeError, match="torch.Tensor"):
        proximal.soft_threshold_(np.ones(2), 0.1)
