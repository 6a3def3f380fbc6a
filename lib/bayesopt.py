"""Bayesian optimization from scratch in NumPy: a Gaussian process + expected improvement.

    gp = GaussianProcessRegressor(kernel="matern52", length_scale=0.2, alpha=1e-6).fit(X, y)
    mean, std = gp.predict(X_new, return_std=True)
    ei = expected_improvement(mean, std, best=y.min(), xi=0.01, mode="min")
    result = gp_minimize(forrester, bounds=[(0, 1)], n_init=3, n_iter=10, seed=0)
    states = bo_states(forrester, bounds=(0, 1), n_init=3, n_iter=8, seed=0)  # one dict a step

Conventions follow scikit-learn: the kernel is σ² · k(r / ℓ) (``ConstantKernel(σ²) * RBF(ℓ)`` or
``* Matern(ℓ, nu=2.5)``), ``alpha`` (the noise variance) is added to the diagonal of the training
covariance, ``predict`` returns the latent function's mean and std (without the noise), and
``normalize_y`` standardises y before fitting. The loop's result has scikit-optimize's names
(``x``, ``fun``, ``x_iters``, ``func_vals``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.linalg import cho_solve, solve_triangular
from scipy.special import erf

from lib.search import check_int

__all__ = [
    "KERNELS",
    "rbf_kernel",
    "matern52_kernel",
    "GaussianProcessRegressor",
    "norm_pdf",
    "norm_cdf",
    "expected_improvement",
    "forrester",
    "FORRESTER_MIN",
    "OptimizeResult",
    "gp_minimize",
    "random_minimize",
    "evaluations_to_reach",
    "bo_states",
]


def _sq_dists(X1, X2):
    """‖x1 − x2‖² for every pair, shape (n1, n2), never negative."""
    d = (X1**2).sum(1)[:, None] + (X2**2).sum(1)[None, :] - 2 * X1 @ X2.T
    return np.maximum(d, 0.0)


def rbf_kernel(X1, X2, length_scale=1.0, variance=1.0):
    """k(x, x') = σ² exp(−r² / (2ℓ²)), r = ‖x − x'‖ (squared exponential)."""
    return variance * np.exp(-_sq_dists(X1, X2) / (2 * length_scale**2))


def matern52_kernel(X1, X2, length_scale=1.0, variance=1.0):
    """k(x, x') = σ² (1 + √5 r/ℓ + 5r²/(3ℓ²)) exp(−√5 r/ℓ): twice-differentiable samples."""
    s = math.sqrt(5) * np.sqrt(_sq_dists(X1, X2)) / length_scale
    return variance * (1 + s + s**2 / 3) * np.exp(-s)


KERNELS = {"rbf": rbf_kernel, "matern52": matern52_kernel}


def _as_2d(X, name="X"):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"{name} must have shape (n, d) or (n,) with n >= 1, got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or inf")
    return X


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class GaussianProcessRegressor:
    """GP regression with a zero prior mean (on standardised y if ``normalize_y``).

    fit: L = chol(K + alpha·I), α = Lᵀ \\ (L \\ y) (``alpha_``, as in sklearn), alpha the noise
    variance.
    predict: μ* = K*ᵀ α, σ*² = diag(K**) − ‖L \\ K*‖² (per column), the latent f's variance.
    log marginal likelihood: log p(y | X) = −½ yᵀα − Σ log Lᵢᵢ − (n/2) log 2π.
    optimizer=None keeps (length_scale, variance) fixed; "fmin_l_bfgs_b" (sklearn's name) maximises
    the log marginal likelihood over (ln ℓ, ln σ²) with scipy's L-BFGS-B, started from the best
    point of a small grid, within ``bounds`` = ((ℓ_min, ℓ_max), (σ²_min, σ²_max)).
    """

    def __init__(self, kernel="rbf", length_scale=1.0, variance=1.0, alpha=1e-10,
                 normalize_y=False, optimizer=None, bounds=((1e-2, 1e1), (1e-2, 1e2))):
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; allowed: {', '.join(KERNELS)}")
        if optimizer not in (None, "fmin_l_bfgs_b"):
            raise ValueError(f"optimizer must be None (fixed kernel) or 'fmin_l_bfgs_b', got "
                             f"{optimizer!r}")
        self.kernel, self.optimizer, self.normalize_y = kernel, optimizer, bool(normalize_y)
        self.length_scale = _positive("length_scale", length_scale)
        self.variance = _positive("variance", variance)
        self.alpha = _positive("alpha", alpha)
        (l0, l1), (v0, v1) = bounds
        if not (0 < l0 < l1 and 0 < v0 < v1):
            raise ValueError(f"bounds must be ((l_min, l_max), (var_min, var_max)) with "
                             f"0 < min < max, got {bounds!r}")
        self.bounds = ((float(l0), float(l1)), (float(v0), float(v1)))

    def _k(self, X1, X2, length_scale=None, variance=None):
        return KERNELS[self.kernel](X1, X2, length_scale or self.length_scale,
                                    variance or self.variance)

    def _factor(self, length_scale, variance):
        K = self._k(self.X_train_, self.X_train_, length_scale, variance)
        K[np.diag_indices_from(K)] += self.alpha
        L = np.linalg.cholesky(K)
        weights = cho_solve((L, True), self._y)  # α = (K + alpha·I)⁻¹ y
        return L, weights

    def _lml(self, length_scale, variance):
        try:
            L, weights = self._factor(length_scale, variance)
        except np.linalg.LinAlgError:
            return -np.inf
        n = len(self._y)
        return float(-0.5 * self._y @ weights - np.log(np.diag(L)).sum()
                     - 0.5 * n * math.log(2 * math.pi))

    def fit(self, X, y):
        self.X_train_ = _as_2d(X)
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (len(self.X_train_),) or not np.all(np.isfinite(y)):
            raise ValueError(f"y must be finite with shape ({len(self.X_train_)},), got "
                             f"{y.shape}")
        self.y_mean_, self.y_std_ = 0.0, 1.0
        if self.normalize_y:
            self.y_mean_ = float(y.mean())
            self.y_std_ = float(y.std()) if y.std() > 0 else 1.0
        self._y = (y - self.y_mean_) / self.y_std_
        if self.optimizer == "fmin_l_bfgs_b":
            self.length_scale, self.variance = self._fit_hyperparameters()
        self.L_, self.alpha_ = self._factor(self.length_scale, self.variance)
        self.log_marginal_likelihood_value_ = self._lml(self.length_scale, self.variance)
        return self

    def _fit_hyperparameters(self):
        (l0, l1), (v0, v1) = self.bounds
        log_bounds = [(math.log(l0), math.log(l1)), (math.log(v0), math.log(v1))]
        grid = [(a, b) for a in np.linspace(*log_bounds[0], 7)
                for b in np.linspace(*log_bounds[1], 3)]
        neg = lambda p: -self._lml(math.exp(p[0]), math.exp(p[1]))
        start = min(grid, key=neg)
        res = optimize.minimize(neg, np.array(start), method="L-BFGS-B", bounds=log_bounds)
        best = res.x if res.fun <= neg(start) else np.array(start)
        return math.exp(best[0]), math.exp(best[1])

    def log_marginal_likelihood(self, length_scale=None, variance=None) -> float:
        """log p(y | X, ℓ, σ²) of the fitted data (on standardised y if normalize_y)."""
        self._check_fitted()
        return self._lml(length_scale or self.length_scale, variance or self.variance)

    def _check_fitted(self):
        if not hasattr(self, "L_"):
            raise RuntimeError("call fit(X, y) before predict / log_marginal_likelihood")

    def predict(self, X, return_std=False):
        """Posterior mean (and std) of the latent function at X."""
        self._check_fitted()
        X = _as_2d(X)
        if X.shape[1] != self.X_train_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, the GP was fitted on "
                             f"{self.X_train_.shape[1]}")
        K_star = self._k(self.X_train_, X)
        mean = K_star.T @ self.alpha_ * self.y_std_ + self.y_mean_
        if not return_std:
            return mean
        V = solve_triangular(self.L_, K_star, lower=True)
        var = self.variance - (V**2).sum(0)  # diag(K**) = σ² for a stationary kernel
        return mean, np.sqrt(np.maximum(var, 0.0)) * self.y_std_


def norm_pdf(z):
    """φ(z) = exp(−z²/2) / √(2π)."""
    return np.exp(-0.5 * np.asarray(z, float) ** 2) / math.sqrt(2 * math.pi)


def norm_cdf(z):
    """Φ(z) = ½ (1 + erf(z / √2))."""
    return 0.5 * (1 + erf(np.asarray(z, float) / math.sqrt(2)))


def expected_improvement(mean, std, best, xi=0.01, mode="min"):
    """EI(x) = E[max(I, 0)] for f(x) ~ N(μ, σ²), with the improvement I = best − f − ξ (mode
    "min") or f − best − ξ ("max"):  EI = (μ_I) Φ(μ_I/σ) + σ φ(μ_I/σ), μ_I = E[I];
    EI = max(μ_I, 0) where σ = 0. ξ ≥ 0 trades exploitation for exploration."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if not xi >= 0:
        raise ValueError(f"xi must be >= 0, got {xi!r}")
    mean, std = np.asarray(mean, float), np.asarray(std, float)
    if mean.shape != std.shape:
        raise ValueError(f"mean and std must have the same shape, got {mean.shape}, {std.shape}")
    if np.any(std < 0):
        raise ValueError("std must be >= 0")
    imp = (best - mean - xi) if mode == "min" else (mean - best - xi)
    safe = np.where(std > 0, std, 1.0)
    z = imp / safe
    ei = np.maximum(imp * norm_cdf(z) + safe * norm_pdf(z), 0.0)  # >= 0; rounding gives -1e-16
    return np.where(std > 0, ei, np.maximum(imp, 0.0))


def forrester(x):
    """Forrester et al. (2008): f(x) = (6x − 2)² sin(12x − 4) on [0, 1]; global minimum
    f(0.757249) = −6.020740 (`FORRESTER_MIN`), a local minimum near x = 0.14."""
    x = np.asarray(x, float)
    return (6 * x - 2) ** 2 * np.sin(12 * x - 4)


FORRESTER_MIN = (0.757249, -6.020740)  # (x*, f(x*)) to 6 decimals (scipy.optimize.minimize_scalar)


@dataclass
class OptimizeResult:
    """x, fun: the best point and value found; x_iters, func_vals: every evaluation in order."""

    x: np.ndarray
    fun: float
    x_iters: np.ndarray
    func_vals: np.ndarray


def _check_bounds(bounds):
    b = np.asarray(bounds, dtype=np.float64)
    if b.ndim == 1:
        b = b[None, :]
    if b.ndim != 2 or b.shape[1] != 2 or not np.all(np.isfinite(b)) or np.any(b[:, 0] >= b[:, 1]):
        raise ValueError(f"bounds must be [(low, high), ...] with low < high per dimension, "
                         f"got {bounds!r}")
    return b


def _evaluate(objective, x):
    value = float(np.asarray(objective(x)).squeeze())
    if not math.isfinite(value):
        raise ValueError(f"objective returned {value} at x={x}; it must be finite")
    return value


def _bo_steps(objective, bounds, n_init, n_iter, seed, kernel, xi, n_candidates, noise):
    """Yield (state, X, y) after each BO iteration; X, y include the new point."""
    b = _check_bounds(bounds)
    check_int("n_init", n_init, 1)
    check_int("n_iter", n_iter, 0)
    if not callable(objective):
        raise TypeError("objective must be callable: objective(x) -> float, x of shape (d,)")
    d = len(b)
    rng = np.random.default_rng(seed)
    to_x = lambda u: b[:, 0] + u * (b[:, 1] - b[:, 0])  # GP works on the unit cube
    U = rng.uniform(size=(n_init, d))
    y = np.array([_evaluate(objective, to_x(u)) for u in U])
    # 1-D: a dense grid of candidates; d-D: fresh random candidates each iteration
    grid = np.linspace(0, 1, n_candidates)[:, None] if d == 1 else None
    for it in range(1, n_iter + 1):
        gp = GaussianProcessRegressor(kernel, length_scale=0.2, alpha=noise, normalize_y=True,
                                      optimizer="fmin_l_bfgs_b").fit(U, y)
        cand = grid if grid is not None else rng.uniform(size=(n_candidates, d))
        mean, std = gp.predict(cand, return_std=True)
        ei = expected_improvement(mean, std, y.min(), xi=xi, mode="min")
        u_next = cand[int(np.argmax(ei))]
        y_next = _evaluate(objective, to_x(u_next))
        state = {"iteration": it, "gp": gp, "X": to_x(U), "y": y.copy(),
                 "x_next": to_x(u_next), "y_next": y_next, "ei_max": float(ei.max())}
        U, y = np.vstack([U, u_next]), np.append(y, y_next)
        yield state, to_x(U), y
    if n_iter == 0:
        yield None, to_x(U), y


def gp_minimize(objective, bounds, n_init=3, n_iter=10, seed=0, kernel="matern52", xi=0.01,
                n_candidates=1001, noise=1e-6) -> OptimizeResult:
    """Minimise ``objective(x)`` (x of shape (d,)) within ``bounds`` [(low, high), ...]:
    n_init uniform random points, then n_iter times: fit a GP (``normalize_y``, kernel
    hyperparameters by maximum marginal likelihood, inputs scaled to [0, 1]^d) and evaluate the
    candidate with the largest expected improvement. n_init + n_iter evaluations in all.
    ``noise``: the GP's alpha (scikit-optimize's name); tiny for a deterministic objective."""
    for _, X, y in _bo_steps(objective, bounds, n_init, n_iter, seed, kernel, xi, n_candidates,
                             noise):
        pass
    i = int(np.argmin(y))
    return OptimizeResult(x=X[i], fun=float(y[i]), x_iters=X, func_vals=y)


def random_minimize(objective, bounds, n_calls, seed=0) -> OptimizeResult:
    """The baseline: ``n_calls`` points uniform in ``bounds``, the best kept."""
    b = _check_bounds(bounds)
    check_int("n_calls", n_calls, 1)
    rng = np.random.default_rng(seed)
    X = b[:, 0] + rng.uniform(size=(n_calls, len(b))) * (b[:, 1] - b[:, 0])
    y = np.array([_evaluate(objective, x) for x in X])
    i = int(np.argmin(y))
    return OptimizeResult(x=X[i], fun=float(y[i]), x_iters=X, func_vals=y)


def evaluations_to_reach(func_vals, target) -> int | None:
    """The 1-based index of the first evaluation with value <= target (None if never)."""
    hits = np.flatnonzero(np.asarray(func_vals) <= target)
    return int(hits[0]) + 1 if len(hits) else None


def bo_states(objective, bounds=(0.0, 1.0), n_init=3, n_iter=8, seed=0, kernel="matern52",
              xi=0.01, grid_size=200, noise=1e-6) -> list[dict]:
    """For a 1-D objective: one dict per BO iteration, for a widget that steps through them:
    {"iteration", "X", "y" (the points so far), "x_grid", "mean", "std" (posterior on x_grid),
    "ei" (on x_grid), "x_next", "y_next", "length_scale" (fitted, in x units), "f" (objective
    on x_grid)}. The same iterations as ``gp_minimize`` with the same arguments."""
    b = _check_bounds(bounds)
    if len(b) != 1:
        raise ValueError(f"bo_states is for 1-D objectives: bounds=(low, high), got {bounds!r}")
    check_int("grid_size", grid_size, 2)
    lo, hi = b[0]
    u_grid = np.linspace(0, 1, grid_size)
    x_grid = lo + u_grid * (hi - lo)
    f_grid = np.array([float(np.asarray(objective(np.array([x]))).squeeze()) for x in x_grid])
    states = []
    for state, _, _ in _bo_steps(objective, b, n_init, n_iter, seed, kernel, xi, 1001, noise):
        if state is None:
            break
        gp = state.pop("gp")
        mean, std = gp.predict(u_grid[:, None], return_std=True)
        state.update(x_grid=x_grid, f=f_grid, mean=mean, std=std,
                     ei=expected_improvement(mean, std, state["y"].min(), xi=xi, mode="min"),
                     length_scale=gp.length_scale * (hi - lo),
                     X=state["X"][:, 0], x_next=float(state["x_next"][0]))
        states.append(state)
    return states
