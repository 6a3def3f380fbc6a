"""lib.bayesopt: the GP against scikit-learn's, expected improvement against its closed form and a
Monte-Carlo estimate, and the BO loop against random search."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.gaussian_process import GaussianProcessRegressor as SkGPR
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern

from lib import bayesopt as bo

SK_KERNELS = {"rbf": lambda ls: RBF(ls), "matern52": lambda ls: Matern(ls, nu=2.5)}


def data(seed=0, n=15, d=2):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, d))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, -1] ** 2 + 0.1 * rng.normal(size=n) + 3.0
    return X, y, rng.uniform(-2.5, 2.5, size=(60, d))


@pytest.mark.parametrize("kernel", ["rbf", "matern52"])
@pytest.mark.parametrize("normalize_y", [False, True])
@pytest.mark.parametrize("d", [1, 2])
def test_gp_posterior_and_marginal_likelihood_equal_sklearn(kernel, normalize_y, d):
    X, y, X_new = data(d=d)
    ours = bo.GaussianProcessRegressor(kernel, length_scale=0.8, variance=2.0, alpha=1e-2,
                                       normalize_y=normalize_y).fit(X, y)
    sk = SkGPR(ConstantKernel(2.0) * SK_KERNELS[kernel](0.8), alpha=1e-2, optimizer=None,
               normalize_y=normalize_y).fit(X, y)
    mean, std = ours.predict(X_new, return_std=True)
    sk_mean, sk_std = sk.predict(X_new, return_std=True)
    np.testing.assert_allclose(mean, sk_mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(std, sk_std, rtol=0, atol=1e-6)
    assert ours.log_marginal_likelihood_value_ == pytest.approx(
        sk.log_marginal_likelihood_value_, abs=1e-6)
    # the LML at other hyperparameters, too (sklearn takes log-parameters θ = (ln σ², ln ℓ))
    theta = np.log([0.5, 0.3])
    assert ours.log_marginal_likelihood(length_scale=0.3, variance=0.5) == pytest.approx(
        sk.log_marginal_likelihood(theta), abs=1e-6)


def test_gp_interpolates_with_tiny_noise_and_reverts_to_the_prior_far_away():
    X = np.array([[0.0], [0.5], [1.0]])
    y = np.array([1.0, -1.0, 2.0])
    gp = bo.GaussianProcessRegressor("rbf", length_scale=0.3, variance=1.5, alpha=1e-10).fit(X, y)
    mean, std = gp.predict(X, return_std=True)
    np.testing.assert_allclose(mean, y, atol=1e-6)
    assert np.all(std < 1e-4)
    far_mean, far_std = gp.predict([[50.0]], return_std=True)
    assert abs(far_mean[0]) < 1e-12 and far_std[0] == pytest.approx(math.sqrt(1.5))


def test_fitted_hyperparameters_maximise_the_marginal_likelihood():
    X, y, _ = data(seed=1, n=25, d=1)
    gp = bo.GaussianProcessRegressor("matern52", alpha=1e-2, normalize_y=True,
                                     optimizer="fmin_l_bfgs_b").fit(X, y)
    best = gp.log_marginal_likelihood_value_
    for ls in np.geomspace(0.05, 5, 15):
        for var in np.geomspace(0.05, 20, 7):
            assert gp.log_marginal_likelihood(ls, var) <= best + 1e-6
    # sklearn's own optimiser lands on the same optimum (same bounds, several restarts)
    sk = SkGPR(ConstantKernel(1.0, (1e-2, 1e2)) * Matern(1.0, (1e-2, 1e1), nu=2.5), alpha=1e-2,
               normalize_y=True, n_restarts_optimizer=5, random_state=0).fit(X, y)
    assert best == pytest.approx(sk.log_marginal_likelihood_value_, abs=1e-3)


def ei_reference(mean, std, best, xi, mode):
    """EI from scipy.stats.norm, written independently of lib.bayesopt."""
    gain = best - mean - xi if mode == "min" else mean - best - xi
    z = gain / std
    return gain * stats.norm.cdf(z) + std * stats.norm.pdf(z)


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("xi", [0.0, 0.1])
def test_expected_improvement_equals_closed_form_and_monte_carlo(mode, xi):
    rng = np.random.default_rng(0)
    mean = rng.normal(size=8)
    std = rng.uniform(0.1, 2.0, size=8)
    best = 0.3
    ei = bo.expected_improvement(mean, std, best, xi=xi, mode=mode)
    np.testing.assert_allclose(ei, ei_reference(mean, std, best, xi, mode), rtol=1e-12,
                               atol=1e-15)
    # Monte Carlo: E[max(I, 0)] with f ~ N(mean, std²), 400k draws; the standard error is
    # below std·0.8/√n ≈ 2.5e-3, and 5e-3 + 1% is two of them or more
    n = 400_000
    f = mean + std * rng.standard_normal(size=(n, 1))
    gain = (best - f - xi) if mode == "min" else (f - best - xi)
    mc = np.maximum(gain, 0.0).mean(axis=0)
    np.testing.assert_allclose(ei, mc, rtol=1e-2, atol=5e-3)


def test_expected_improvement_edge_cases_and_errors():
    # σ = 0: the improvement itself, or 0
    ei = bo.expected_improvement([0.0, 1.0], [0.0, 0.0], best=0.5, xi=0.0, mode="min")
    np.testing.assert_allclose(ei, [0.5, 0.0])
    # EI grows with σ at a fixed mean (exploration) and is always >= 0
    e = bo.expected_improvement(np.zeros(3), np.array([0.1, 1.0, 3.0]), best=0.0)
    assert np.all(np.diff(e) > 0) and np.all(e >= 0)
    with pytest.raises(ValueError, match="mode must be"):
        bo.expected_improvement([0.0], [1.0], 0.0, mode="minimise")
    with pytest.raises(ValueError, match="xi must be >= 0"):
        bo.expected_improvement([0.0], [1.0], 0.0, xi=-1)
    with pytest.raises(ValueError, match="std must be >= 0"):
        bo.expected_improvement([0.0], [-1.0], 0.0)


def test_forrester_minimum():
    x_star, f_star = bo.FORRESTER_MIN
    assert bo.forrester(x_star) == pytest.approx(f_star, abs=1e-6)
    xs = np.linspace(0, 1, 100_001)
    assert bo.forrester(xs).min() >= f_star - 1e-6


def test_bo_reaches_the_forrester_minimum_in_fewer_evaluations_than_random_search():
    """Target f <= −6.0 (the minimum is −6.0207; 1.25% of [0, 1] reaches it, so random search
    needs ~80 evaluations on average). Median over seeds 0–4."""
    target = -6.0
    bo_counts, random_counts = [], []
    for seed in range(5):
        res = bo.gp_minimize(bo.forrester, [(0.0, 1.0)], n_init=3, n_iter=10, seed=seed)
        assert len(res.func_vals) == 13 and res.fun == res.func_vals.min()
        bo_counts.append(bo.evaluations_to_reach(res.func_vals, target) or math.inf)
        rnd = bo.random_minimize(bo.forrester, [(0.0, 1.0)], n_calls=150, seed=seed)
        random_counts.append(bo.evaluations_to_reach(rnd.func_vals, target) or math.inf)
    assert np.median(bo_counts) <= 13
    assert np.median(bo_counts) * 3 < np.median(random_counts)
    # the same arguments give the same run
    a = bo.gp_minimize(bo.forrester, [(0.0, 1.0)], n_init=3, n_iter=4, seed=3)
    b = bo.gp_minimize(bo.forrester, [(0.0, 1.0)], n_init=3, n_iter=4, seed=3)
    np.testing.assert_array_equal(a.x_iters, b.x_iters)


def test_bo_in_two_dimensions():
    f = lambda x: (x[0] - 0.3) ** 2 + (x[1] + 0.2) ** 2
    res = bo.gp_minimize(f, [(-1, 1), (-1, 1)], n_init=4, n_iter=12, seed=0, n_candidates=2000)
    assert res.x_iters.shape == (16, 2) and res.fun < 0.01


def test_bo_states_step_through_the_iterations():
    states = bo.bo_states(bo.forrester, (0.0, 1.0), n_init=3, n_iter=5, seed=0, grid_size=50)
    res = bo.gp_minimize(bo.forrester, [(0.0, 1.0)], n_init=3, n_iter=5, seed=0)
    assert [s["iteration"] for s in states] == [1, 2, 3, 4, 5]
    for i, s in enumerate(states):
        assert len(s["X"]) == len(s["y"]) == 3 + i
        for key in ("x_grid", "mean", "std", "ei", "f"):
            assert s[key].shape == (50,)
        assert np.all(s["ei"] >= 0) and np.all(s["std"] >= 0)
        assert s["x_next"] == pytest.approx(res.x_iters[3 + i, 0])  # the loop's own choice
        assert s["y_next"] == pytest.approx(bo.forrester(s["x_next"]))
        assert s["length_scale"] > 0
    # the posterior std is ~0 at the observed points
    s = states[-1]
    gp_std_at_data = np.interp(s["X"], s["x_grid"], s["std"])
    assert np.all(gp_std_at_data < 0.5 * s["std"].max())


def test_gp_and_bo_bad_input():
    with pytest.raises(ValueError, match="unknown kernel 'matern'; allowed: rbf, matern52"):
        bo.GaussianProcessRegressor("matern")
    with pytest.raises(ValueError, match="length_scale must be"):
        bo.GaussianProcessRegressor(length_scale=0)
    with pytest.raises(ValueError, match="optimizer must be None"):
        bo.GaussianProcessRegressor(optimizer="adam")
    with pytest.raises(ValueError, match="alpha must be"):
        bo.GaussianProcessRegressor(alpha=-1e-3)
    with pytest.raises(RuntimeError, match="call fit"):
        bo.GaussianProcessRegressor().predict([[0.0]])
    with pytest.raises(ValueError, match="y must be finite"):
        bo.GaussianProcessRegressor().fit([[0.0], [1.0]], [0.0, np.nan])
    gp = bo.GaussianProcessRegressor().fit([[0.0, 1.0]], [1.0])
    with pytest.raises(ValueError, match="fitted on 2"):
        gp.predict([[0.0]])
    with pytest.raises(ValueError, match="low < high"):
        bo.gp_minimize(bo.forrester, [(1.0, 0.0)])
    with pytest.raises(ValueError, match="n_init must be"):
        bo.gp_minimize(bo.forrester, [(0.0, 1.0)], n_init=0)
    with pytest.raises(ValueError, match="must be finite"):
        bo.gp_minimize(lambda x: math.nan, [(0.0, 1.0)], n_init=2, n_iter=1)
    with pytest.raises(ValueError, match="1-D"):
        bo.bo_states(bo.forrester, [(0, 1), (0, 1)])
