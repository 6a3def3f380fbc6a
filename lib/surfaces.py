"""2-D test surfaces for optimizers, each with an analytic gradient and Hessian.

Every surface takes points ``xy`` of shape ``(..., 2)``: ``f(xy)`` returns shape ``(...)`` and
``grad(xy)`` shape ``(..., 2)``, so one call evaluates a whole plotting grid. ``hessian(xy)``
takes a single point and returns the 2x2 matrix. Each surface also carries a default ``start``,
a plotting window ``xlim`` / ``ylim`` and its local ``minima`` (an array of shape ``(k, 2)``).

Usage: ``s = get_surface("rosenbrock"); s.f(s.minima[0]); s.grad(s.start)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "Surface",
    "Quadratic",
    "Rosenbrock",
    "Saddle",
    "StyblinskiTang",
    "LeastSquares2D",
    "SURFACES",
    "get_surface",
]


def _as_points(xy) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim == 0 or xy.shape[-1] != 2:
        raise ValueError(f"xy must have shape (..., 2), got shape {xy.shape}")
    return xy


class Surface:
    """Base class: a function of two variables with its gradient, Hessian and plotting defaults."""

    name = "surface"
    start = np.zeros(2)
    xlim = (-1.0, 1.0)
    ylim = (-1.0, 1.0)
    log_scale = False  # plot contours of log(f - f_min): useful when f spans many decades

    def f(self, xy) -> np.ndarray:
        raise NotImplementedError

    def grad(self, xy) -> np.ndarray:
        raise NotImplementedError

    def hessian(self, xy) -> np.ndarray:
        raise NotImplementedError

    @property
    def minima(self) -> np.ndarray:
        raise NotImplementedError

    @property
    def f_min(self) -> float:
        """The lowest value of f over its local minima (the global minimum)."""
        return float(np.min(self.f(self.minima)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Quadratic(Surface):
    """Ill-conditioned quadratic bowl f(p) = 1/2 pᵀ A p with A = R diag(1, κ) Rᵀ.

    Its Hessian A has eigenvalues μ = 1 and L = κ (the condition number); R rotates the
    valley by ``angle`` degrees (0: the steep direction is the y axis). Minimum at the origin.
    """

    name = "quadratic"
    start = np.array([-8.0, 2.0])
    xlim = (-10.0, 10.0)
    ylim = (-3.0, 3.0)

    def __init__(self, condition_number: float = 10.0, angle: float = 0.0):
        if not np.isfinite(condition_number) or condition_number < 1:
            raise ValueError(
                f"condition_number must be a finite number >= 1, got {condition_number!r}"
            )
        self.condition_number = float(condition_number)
        self.angle = float(angle)
        c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        rotation = np.array([[c, -s], [s, c]])
        self.A = rotation @ np.diag([1.0, self.condition_number]) @ rotation.T

    @property
    def eigenvalues(self) -> tuple[float, float]:
        """(μ, L): the smallest and largest curvature."""
        return 1.0, self.condition_number

    def f(self, xy):
        xy = _as_points(xy)
        return 0.5 * np.einsum("...i,ij,...j->...", xy, self.A, xy)

    def grad(self, xy):
        return _as_points(xy) @ self.A  # A is symmetric, so p A = (A p)ᵀ

    def hessian(self, xy):
        _as_points(xy)
        return self.A.copy()

    @property
    def minima(self):
        return np.zeros((1, 2))

    def __repr__(self) -> str:
        return f"Quadratic(condition_number={self.condition_number:g}, angle={self.angle:g})"


class Rosenbrock(Surface):
    """Rosenbrock's banana valley f(x, y) = (a − x)² + b (y − x²)², minimum (a, a²) with f = 0."""

    name = "rosenbrock"
    start = np.array([-1.5, 2.0])
    xlim = (-2.0, 2.0)
    ylim = (-1.0, 3.0)
    log_scale = True

    def __init__(self, a: float = 1.0, b: float = 100.0):
        if b <= 0:
            raise ValueError(f"b must be positive, got {b!r}")
        self.a, self.b = float(a), float(b)

    def f(self, xy):
        xy = _as_points(xy)
        x, y = xy[..., 0], xy[..., 1]
        return (self.a - x) ** 2 + self.b * (y - x**2) ** 2

    def grad(self, xy):
        xy = _as_points(xy)
        x, y = xy[..., 0], xy[..., 1]
        ridge = y - x * x
        out = np.empty_like(xy)
        out[..., 0] = -2 * (self.a - x) - 4 * self.b * x * ridge
        out[..., 1] = 2 * self.b * ridge
        return out

    def hessian(self, xy):
        x, y = _as_points(xy)
        return np.array(
            [
                [2 - 4 * self.b * (y - x**2) + 8 * self.b * x**2, -4 * self.b * x],
                [-4 * self.b * x, 2 * self.b],
            ]
        )

    @property
    def minima(self):
        return np.array([[self.a, self.a**2]])

    def __repr__(self) -> str:
        return f"Rosenbrock(a={self.a:g}, b={self.b:g})"


class Saddle(Surface):
    """f(x, y) = x²/2 + y⁴/4 − y²/2: saddle at the origin (Hessian diag(1, −1)), minima (0, ±1).

    The default start lies almost exactly on the ridge y = 0, where the gradient points at the
    saddle: plain gradient descent slows to a crawl there before it escapes.
    """

    name = "saddle"
    start = np.array([-2.0, 1e-3])
    xlim = (-2.5, 2.5)
    ylim = (-1.6, 1.6)

    def f(self, xy):
        xy = _as_points(xy)
        x, y = xy[..., 0], xy[..., 1]
        return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2

    def grad(self, xy):
        xy = _as_points(xy)
        out = xy.copy()  # d/dx = x
        y = xy[..., 1]
        out[..., 1] = y * y * y - y
        return out

    def hessian(self, xy):
        _, y = _as_points(xy)
        return np.array([[1.0, 0.0], [0.0, 3 * y**2 - 1]])

    @property
    def saddle_point(self) -> np.ndarray:
        return np.zeros(2)

    @property
    def minima(self):
        return np.array([[0.0, -1.0], [0.0, 1.0]])


class StyblinskiTang(Surface):
    """Styblinski-Tang f(x, y) = ½ Σᵢ (pᵢ⁴ − 16 pᵢ² + 5 pᵢ): four minima of different depths.

    Each coordinate's minima are the roots of f′ = 2p³ − 16p + 2.5 where f″ = 6p² − 16 > 0:
    p ≈ −2.9035 (deep) and p ≈ 2.7468 (shallow); the global minimum is at (−2.9035, −2.9035).
    """

    name = "multiple_minima"
    start = np.array([4.5, 4.5])
    xlim = (-5.0, 5.0)
    ylim = (-5.0, 5.0)

    def f(self, xy):
        xy = _as_points(xy)
        return 0.5 * np.sum(xy**4 - 16 * xy**2 + 5 * xy, axis=-1)

    def grad(self, xy):
        xy = _as_points(xy)
        return 2 * xy**3 - 16 * xy + 2.5

    def hessian(self, xy):
        return np.diag(6 * _as_points(xy) ** 2 - 16)

    @property
    def minima(self):
        roots = np.roots([2.0, 0.0, -16.0, 2.5]).real
        p = np.sort(roots[6 * roots**2 - 16 > 0])  # the two 1-D minima
        return np.array([[a, b] for a in p for b in p])


class LeastSquares2D(Surface):
    """Linear regression y ≈ w·x + b on n noisy points: f(w, b) = mean((w x + b − y)²) / 2.

    ``grad(xy)`` is the full-batch gradient; ``batch_grad(xy, idx)`` the mini-batch one (for
    `lib.optim2d.run_optimizer(..., batch_size=B)`).
    """

    name = "least_squares"
    start = np.array([-2.0, 3.0])
    xlim = (-3.0, 5.0)
    ylim = (-2.0, 4.0)

    def __init__(self, n=500, w=2.0, b=1.0, noise=1.0, seed=0):
        self.n = n
        rng = np.random.default_rng(seed)
        self.x = rng.uniform(-1.5, 1.5, n)
        self.y = w * self.x + b + noise * rng.standard_normal(n)
        self.X = np.stack([self.x, np.ones(n)], axis=1)

    def f(self, xy):
        # mean((w x + b − y)²)/2 expanded in the data's moments: cheap on large grids
        xy = np.asarray(xy, dtype=float)
        w, b = xy[..., 0], xy[..., 1]
        x, y = self.x, self.y
        return 0.5 * (
            w * w * np.mean(x * x)
            + 2 * w * b * np.mean(x)
            + b * b
            - 2 * w * np.mean(x * y)
            - 2 * b * np.mean(y)
            + np.mean(y * y)
        )

    def batch_grad(self, xy, idx):
        r = self.X[idx] @ xy - self.y[idx]
        return self.X[idx].T @ r / len(idx)

    def grad(self, xy):
        xy = np.asarray(xy, dtype=float)
        return (xy @ self.X.T - self.y) @ self.X / len(self.y)

    def hessian(self, xy):
        return self.X.T @ self.X / len(self.y)

    @property
    def minima(self):
        return np.linalg.lstsq(self.X, self.y, rcond=None)[0][None, :]


SURFACES = {
    "quadratic": Quadratic,
    "rosenbrock": Rosenbrock,
    "saddle": Saddle,
    "multiple_minima": StyblinskiTang,
}


def get_surface(name: str, **kwargs) -> Surface:
    """The surface called ``name`` (one of ``SURFACES``), built with ``kwargs``."""
    if name not in SURFACES:
        raise ValueError(f"unknown surface {name!r}; choose one of {sorted(SURFACES)}")
    return SURFACES[name](**kwargs)
