"""Tests for lib.surfaces: analytic gradients and Hessians vs finite differences, minima, shapes."""

import numpy as np
import pytest

from lib.surfaces import SURFACES, LeastSquares2D, Quadratic, Saddle, get_surface

ALL = [get_surface(name) for name in SURFACES] + [Quadratic(100.0, angle=30.0)]
IDS = [repr(s) for s in ALL]


def random_points(surface, n=20, seed=0):
    rng = np.random.default_rng(seed)
    lo = np.array([surface.xlim[0], surface.ylim[0]])
    hi = np.array([surface.xlim[1], surface.ylim[1]])
    return lo + (hi - lo) * rng.random((n, 2))


def numerical_grad(fun, p, h=1e-6):
    """Central differences of a scalar or vector function of one 2-D point."""
    cols = [(fun(p + h * e) - fun(p - h * e)) / (2 * h) for e in np.eye(2)]
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("surface", ALL, ids=IDS)
def test_gradient_matches_finite_differences(surface):
    for p in random_points(surface):
        num = numerical_grad(surface.f, p)
        ana = surface.grad(p)
        assert np.linalg.norm(ana - num) <= 1e-7 * max(1.0, np.linalg.norm(num))


@pytest.mark.parametrize("surface", ALL, ids=IDS)
def test_hessian_matches_finite_differences_of_gradient(surface):
    for p in random_points(surface, seed=1):
        num = numerical_grad(surface.grad, p)  # num[i, j] = d grad_i / d p_j
        ana = surface.hessian(p)
        np.testing.assert_allclose(ana, ana.T)
        assert np.linalg.norm(ana - num) <= 1e-6 * max(1.0, np.linalg.norm(num))


@pytest.mark.parametrize("surface", ALL, ids=IDS)
def test_minima_are_stationary_with_positive_definite_hessian(surface):
    assert surface.minima.ndim == 2 and surface.minima.shape[1] == 2
    for m in surface.minima:
        assert np.linalg.norm(surface.grad(m)) < 1e-10
        assert np.all(np.linalg.eigvalsh(surface.hessian(m)) > 0)


@pytest.mark.parametrize("surface", ALL, ids=IDS)
def test_vectorised_over_a_grid(surface):
    pts = random_points(surface, n=12).reshape(3, 4, 2)
    values, grads = surface.f(pts), surface.grad(pts)
    assert values.shape == (3, 4) and grads.shape == (3, 4, 2)
    for i in range(3):
        for j in range(4):
            assert values[i, j] == pytest.approx(surface.f(pts[i, j]))
            np.testing.assert_allclose(grads[i, j], surface.grad(pts[i, j]))


@pytest.mark.parametrize("surface", ALL, ids=IDS)
def test_default_start_is_inside_the_window_and_not_a_minimum(surface):
    x, y = surface.start
    assert surface.xlim[0] < x < surface.xlim[1] and surface.ylim[0] < y < surface.ylim[1]
    assert surface.f(surface.start) > surface.f_min + 1.0


@pytest.mark.parametrize("kappa", [1.0, 10.0, 1000.0])
@pytest.mark.parametrize("angle", [0.0, 45.0])
def test_quadratic_condition_number_is_the_hessian_eigenvalue_ratio(kappa, angle):
    q = Quadratic(kappa, angle=angle)
    eig = np.linalg.eigvalsh(q.hessian(q.start))
    np.testing.assert_allclose(eig, q.eigenvalues)
    assert eig[-1] / eig[0] == pytest.approx(kappa)


def test_rosenbrock_minimum_value_is_zero():
    s = get_surface("rosenbrock")
    np.testing.assert_allclose(s.minima, [[1.0, 1.0]])
    assert s.f_min == 0.0


def test_saddle_has_one_negative_curvature_direction_at_the_origin():
    s = Saddle()
    assert np.linalg.norm(s.grad(s.saddle_point)) == 0.0
    eig = np.linalg.eigvalsh(s.hessian(s.saddle_point))
    assert eig[0] < 0 < eig[1]
    assert s.f_min == pytest.approx(-0.25)


def test_multiple_minima_have_different_depths_and_known_global_minimum():
    s = get_surface("multiple_minima")
    values = s.f(s.minima)
    assert len(values) == 4 and len(np.unique(np.round(values, 6))) == 3  # two mixed minima tie
    # published global minimum of Styblinski-Tang: -39.16617 per dimension
    assert s.f_min == pytest.approx(2 * -39.16617, abs=1e-4)
    # and it is lower than f anywhere on a fine grid of the window
    g = np.linspace(-5, 5, 401)
    grid = np.stack(np.meshgrid(g, g), axis=-1)
    assert s.f_min <= s.f(grid).min() + 1e-12


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="unknown surface.*quadratic"):
        get_surface("himmelblau")
    with pytest.raises(ValueError, match="condition_number"):
        Quadratic(0.5)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        get_surface("saddle").f(np.zeros(3))


def test_least_squares_gradient_and_minimum():
    p = LeastSquares2D(n=50)
    xy = np.array([0.3, -0.7])
    h = 1e-6
    num = [(p.f(xy + h * e) - p.f(xy - h * e)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(p.grad(xy), num, rtol=1e-6)
    np.testing.assert_allclose(p.batch_grad(xy, np.arange(50)), p.grad(xy))
    np.testing.assert_allclose(p.f(xy), 0.5 * np.mean((p.X @ xy - p.y) ** 2), rtol=1e-12)
    assert np.linalg.norm(p.grad(p.minima[0])) < 1e-12
