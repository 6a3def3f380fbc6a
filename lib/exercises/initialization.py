"""Checkers for the exercises of chapter 02 (preprocessing and weight initialization).

Each ``check_xxx(your_function)`` runs your function on test cases, prints what is right or what
is wrong (naming the usual mistakes) and returns True only when everything passes
(`lib.exercises.harness`: a function that still raises ``NotImplementedError`` is reported as
"not implemented yet").
"""

from __future__ import annotations

import math

import numpy as np

from lib.exercises.harness import Wrong, checker

__all__ = [
    "check_he_normal_std",
    "check_xavier_uniform",
    "check_standardize_splits",
    "check_relu_rms",
]


@checker
def check_he_normal_std(he_normal_std):
    """he_normal_std(fan_in) must return the std √(2 / fan_in) of He/Kaiming normal init (ReLU)."""
    for fan_in in (1, 10, 784, 4096):
        got = he_normal_std(fan_in)
        want = math.sqrt(2.0 / fan_in)
        if not isinstance(got, (int, float, np.floating)) or not math.isfinite(got):
            raise Wrong(f"he_normal_std({fan_in}) should return a number, got {got!r}")
        if math.isclose(got, want, rel_tol=1e-9):
            continue
        hints = {
            2.0 / fan_in: "you returned the variance 2/fan_in; the std is its square root",
            math.sqrt(1.0 / fan_in): "that is LeCun's std √(1/fan_in): ReLU zeroes half of its "
            "inputs, so He doubles the variance",
            math.sqrt(2.0) / fan_in: "√2/fan_in divides by fan_in instead of √fan_in",
        }
        hint = next((h for v, h in hints.items() if math.isclose(got, v, rel_tol=1e-9)), "")
        raise Wrong(
            f"he_normal_std({fan_in}) = {got:.6g}, expected √(2/{fan_in}) = {want:.6g}. " + hint
        )
    return "std = √(2 / fan_in)"


@checker
def check_xavier_uniform(xavier_uniform):
    """xavier_uniform(fan_in, fan_out, rng) must return a (fan_out, fan_in) sample, drawn from
    rng, of U(−a, a) with a = √(6 / (fan_in + fan_out)), i.e. Var = 2 / (fan_in + fan_out).
    Two shapes, (fan_in, fan_out) = (300, 100) and (50, 350), catch a formula that matches
    Glorot's for one shape only (e.g. a = √(1.5 / fan_out) = √(6 / 400) when fan_out = 100)."""
    for fan_in, fan_out in ((300, 100), (50, 350)):
        w = xavier_uniform(fan_in, fan_out, np.random.default_rng(0))
        w = np.asarray(w, dtype=float)
        if w.shape == (fan_in, fan_out):
            raise Wrong(
                f"shape {w.shape} is transposed: PyTorch's weights are (fan_out, fan_in) = "
                f"({fan_out}, {fan_in})"
            )
        if w.shape != (fan_out, fan_in):
            raise Wrong(f"expected shape (fan_out, fan_in) = ({fan_out}, {fan_in}), got {w.shape}")
        again = np.asarray(xavier_uniform(fan_in, fan_out, np.random.default_rng(0)), dtype=float)
        if not np.array_equal(w, again):
            raise Wrong(
                "two calls with np.random.default_rng(0) gave different weights: draw from "
                "the rng argument (rng.uniform), not from np.random"
            )
        other = np.asarray(xavier_uniform(fan_in, fan_out, np.random.default_rng(1)), dtype=float)
        if np.array_equal(w, other):
            raise Wrong(
                "default_rng(0) and default_rng(1) gave the same weights: your function ignores "
                "its rng argument; draw the sample with rng.uniform(...)"
            )
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        target = 2.0 / (fan_in + fan_out)
        var = float(np.mean(w**2))
        if abs(w.mean()) > 5 * math.sqrt(target / w.size):
            raise Wrong(
                f"the mean {w.mean():.3g} is not 0: sample from U(−a, a), symmetric around 0"
            )
        if abs(var / target - 1) > 0.05:
            hints = {
                1.0 / fan_in: "Var = 1/fan_in is LeCun's rule, not Glorot's 2/(fan_in + fan_out)",
                target / 3: "the bound looks like √(2/(fan_in+fan_out)), which is the std; a "
                "uniform U(−a, a) has Var = a²/3, so a = √(6/(fan_in+fan_out))",
                2.0 / fan_in: "Var = 2/fan_in is He's rule (for ReLU), not Glorot's",
            }
            hint = next((h for v, h in hints.items() if abs(var / v - 1) < 0.05), "")
            if fan_in == 50:  # the variance was right for (300, 100): the formula is not Glorot's
                hint = (
                    "your variance was right for fan_in=300, fan_out=100 but not for this other "
                    "shape: Glorot's rule depends on fan_in + fan_out, symmetrically"
                )
            raise Wrong(
                f"for fan_in={fan_in}, fan_out={fan_out}: Var(w) ≈ {var:.4g}, expected "
                f"2/(fan_in+fan_out) = {target:.4g}. {hint}"
            )
        if np.abs(w).max() > bound * (1 + 1e-12):
            raise Wrong(
                f"values up to {np.abs(w).max():.4g} exceed the bound a = {bound:.4g}; "
                "U(−a, a) never leaves [−a, a] (did you draw from a normal?)"
            )
        inner = float(np.mean(np.abs(w) < bound / 2))
        if abs(inner - 0.5) > 0.02:
            raise Wrong(
                f"{inner:.0%} of the values lie in (−a/2, a/2); a uniform distribution puts "
                "50% there (did you draw from a normal?)"
            )
    return (
        f"U(−a, a), a = √(6/(fan_in+fan_out)) (= {bound:.4f} for {fan_in} + {fan_out}), "
        "drawn from rng"
    )


@checker
def check_standardize_splits(standardize_splits):
    """standardize_splits(x_train, x_val) -> (train_out, val_out): per-feature (x − μ)/σ with μ, σ
    from x_train only, applied unchanged to x_val."""
    rng = np.random.default_rng(0)
    x_train = rng.normal([5.0, -3.0, 100.0], [2.0, 0.5, 30.0], size=(400, 3))
    x_val = rng.normal([6.0, -3.0, 80.0], [2.0, 0.5, 30.0], size=(100, 3))
    out = standardize_splits(x_train.copy(), x_val.copy())
    if not (isinstance(out, tuple) and len(out) == 2):
        raise Wrong("return a pair (train_out, val_out)")
    train_out, val_out = (np.asarray(o, dtype=float) for o in out)
    mu, sigma = x_train.mean(axis=0), x_train.std(axis=0)
    sigma_ddof1 = x_train.std(axis=0, ddof=1)
    ddof_hint = (
        "you divided by the sample std with ddof=1 (N − 1 in the denominator: the default of "
        "torch.std and pandas); standardisation uses the population std, np.std's default ddof=0 "
        "(as Standardizer, sklearn's StandardScaler and BatchNorm do)"
    )
    if train_out.shape != x_train.shape or val_out.shape != x_val.shape:
        raise Wrong("the outputs must keep the input shapes (N, features)")
    if np.allclose(train_out, (x_train - mu) / sigma_ddof1, atol=1e-6):
        raise Wrong(ddof_hint)
    if not np.allclose(train_out, (x_train - mu) / sigma, atol=1e-6):
        raise Wrong(
            "the training output is not (x_train − μ)/σ per feature (axis=0) with "
            "μ, σ = x_train.mean(0), x_train.std(0)"
        )
    if np.allclose(val_out.mean(axis=0), 0, atol=1e-6):
        raise Wrong(
            "the validation output has mean exactly 0: you standardised it with its own "
            "statistics; use the training set's μ and σ"
        )
    if np.allclose(val_out, (x_val - mu) / sigma_ddof1, atol=1e-6):
        raise Wrong("the validation output: " + ddof_hint)
    if not np.allclose(val_out, (x_val - mu) / sigma, atol=1e-6):
        raise Wrong("the validation output is not (x_val − μ_train)/σ_train")
    return "statistics from the training set, applied unchanged to the validation set"


@checker
def check_relu_rms(relu_rms):
    """relu_rms(depth, width, std) must predict √E[h_L²] after ``depth`` ReLU layers with
    N(0, std²) weights and unit-RMS inputs: (width·std²/2)^(depth/2)."""
    for depth, width, std in ((1, 100, 0.1), (10, 500, 0.01), (30, 256, 1 / 16), (5, 64, 0.5)):
        got = relu_rms(depth, width, std)
        want = (width * std**2 / 2) ** (depth / 2)
        if math.isclose(got, want, rel_tol=1e-6):
            continue
        hints = {
            (width * std**2) ** (depth / 2): "you forgot that ReLU keeps only half of the second "
            "moment: E[relu(y)²] = Var(y)/2",
            (width * std**2 / 2) ** depth: "that is the second moment E[h²]; take its square root",
            (width * std / 2) ** (depth / 2): "the variance of a sum of width terms is "
            "width·std², not width·std",
        }
        hint = next((h for v, h in hints.items() if math.isclose(got, v, rel_tol=1e-6)), "")
        raise Wrong(f"relu_rms{(depth, width, std)} = {got:.6g}, expected {want:.6g}. {hint}")
    return "√E[h_L²] = (n σ² / 2)^(L/2)"
