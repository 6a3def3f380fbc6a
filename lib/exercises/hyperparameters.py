"""Checkers for the exercises of chapter 06 (hyperparameters), written with the one exercise
harness (`lib.exercises.harness`): each returns True only when every check passes."""

from __future__ import annotations

import math

import numpy as np

from lib.bayesopt import expected_improvement
from lib.exercises.harness import Wrong, checker

__all__ = ["check_log_uniform", "check_expected_improvement", "check_halving_round"]


@checker
def check_log_uniform(your_sampler):
    """``your_sampler(low, high, n, rng) -> array of n samples`` with ln x ~ U(ln low, ln high):
    inside the bounds, the same share in every decade, the median at √(low·high), and the
    randomness taken from ``rng`` only."""
    for low, high in ((1e-5, 1.0), (1e-6, 1e-2), (0.5, 500.0)):
        n = 20_000
        x = np.asarray(your_sampler(low, high, n, np.random.default_rng(0)), dtype=float)
        if x.shape != (n,):
            raise Wrong(f"return an array of shape ({n},), got {x.shape}")
        if np.any(x < low * (1 - 1e-12)) or np.any(x > high * (1 + 1e-12)):
            raise Wrong(f"low={low:g}, high={high:g}: samples from {x.min():.3g} to {x.max():.3g} "
                        "leave the range")
        u = (np.log(x) - math.log(low)) / (math.log(high) - math.log(low))  # should be U(0, 1)
        share = np.histogram(u, bins=5, range=(0, 1))[0] / n
        if np.any(np.abs(share - 0.2) > 0.02):
            raise Wrong(f"low={low:g}, high={high:g}: the five equal slices of [ln low, ln high] "
                        f"get shares {np.round(share, 3)}, expected 0.2 each; draw u uniformly in "
                        "[ln low, ln high] and return exp(u)")
        if abs(math.log(np.median(x)) - 0.5 * math.log(low * high)) > 0.05 * math.log(high / low):
            raise Wrong(f"the median {np.median(x):.3g} should be near √(low·high) = "
                        f"{math.sqrt(low * high):.3g}")
    a = your_sampler(1e-3, 1.0, 10, np.random.default_rng(1))
    b = your_sampler(1e-3, 1.0, 10, np.random.default_rng(1))
    if not np.array_equal(np.asarray(a), np.asarray(b)):
        raise Wrong("two calls with the same rng seed gave different samples: draw from the rng "
                    "you are given, not from np.random")
    return "log-uniform: every decade gets the same share, and the rng decides the draws"


@checker
def check_expected_improvement(your_ei):
    """``your_ei(mean, std, best, xi) -> array`` = E[max(best − ξ − f, 0)] for f ~ N(mean, std²)
    (minimization), with max(best − ξ − mean, 0) where std = 0."""
    rng = np.random.default_rng(2)
    mean = rng.normal(0.0, 1.0, 50)
    std = rng.uniform(0.01, 2.0, 50)
    std[:5] = 0.0
    for best, xi in ((0.0, 0.0), (-0.5, 0.01), (1.0, 0.1)):
        got = np.asarray(your_ei(mean.copy(), std.copy(), best, xi), dtype=float)
        want = expected_improvement(mean, std, best, xi=xi, mode="min")
        if got.shape != want.shape:
            raise Wrong(f"return one value per point: shape {want.shape}, got {got.shape}")
        if np.any(~np.isfinite(got)):
            raise Wrong("some values are NaN or inf: where std = 0, return max(best − ξ − mean, 0) "
                        "instead of dividing by 0")
        if np.any(got < -1e-12):
            raise Wrong("expected improvement is never negative (it is the mean of max(·, 0))")
        if not np.allclose(got, want, rtol=1e-7, atol=1e-10):
            i = int(np.argmax(np.abs(got - want)))
            raise Wrong(f"best={best}, ξ={xi}: at mean={mean[i]:.3f}, std={std[i]:.3f} you give "
                        f"{got[i]:.6f}, expected {want[i]:.6f}; EI = (best − ξ − μ)Φ(z) + σφ(z) with "
                        "z = (best − ξ − μ)/σ (is your improvement of the right sign for "
                        "minimization?)")
    return "matches the closed form, including σ = 0"


@checker
def check_halving_round(your_round):
    """``your_round(configs, values, eta) -> list`` of the ⌊n/η⌋ configs with the highest values,
    best first, ties in their original order."""
    cases = [
        ([{"lr": v} for v in (0.1, 0.01, 1.0, 0.3, 0.001, 0.03, 0.003, 0.5, 0.05)],
         [0.70, 0.55, 0.10, 0.74, 0.20, 0.66, 0.35, 0.12, 0.71], 3),
        ([{"id": i} for i in range(8)], [0.5, 0.9, 0.9, 0.1, 0.3, 0.9, 0.2, 0.4], 2),
        ([{"id": i} for i in range(5)], [0.3, 0.2, 0.5, 0.4, 0.1], 3),
    ]
    for configs, values, eta in cases:
        k = len(configs) // eta
        order = sorted(range(len(configs)), key=lambda i: -values[i])
        want = [configs[i] for i in order[:k]]
        got = your_round([dict(c) for c in configs], list(values), eta)
        if not isinstance(got, list):
            raise Wrong(f"return a list of configs, got {type(got).__name__}")
        if len(got) != k:
            raise Wrong(f"n={len(configs)}, η={eta}: keep ⌊n/η⌋ = {k} configs, you kept {len(got)}")
        if got != want:
            if sorted(map(str, got)) == sorted(map(str, want)):
                raise Wrong(f"n={len(configs)}, η={eta}: the right configs in the wrong order; "
                            "best (highest value) first, ties keep their original order")
            raise Wrong(f"n={len(configs)}, η={eta}: expected {want}, got {got} (keep the "
                        "HIGHEST accuracies)")
    return "keeps the best ⌊n/η⌋, best first"
