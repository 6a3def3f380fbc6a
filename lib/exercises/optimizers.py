"""Checkers for the exercises of chapter 03 (optimizers).

Each ``check_xxx(your_function)`` runs the reader's function next to PyTorch's built-in for many
steps on random float64 data, prints what matches or where and how it first differs (with a hint
for the usual mistakes), and returns True only when every step matches (`lib.exercises.harness`).
"""

from __future__ import annotations

import numpy as np
import torch

from lib.exercises.harness import Wrong, checker

__all__ = ["check_rmsprop_step", "check_adam_step", "check_clip_grad_norm"]

STEPS = 25
RTOL, ATOL = 1e-9, 1e-12


def _gradients(shape, steps, seed):
    """Random gradients whose scale changes by orders of magnitude (tiny ones expose ε mistakes)."""
    rng = np.random.default_rng(seed)
    scales = 10.0 ** rng.uniform(-6, 1, size=(steps,) + (1,) * len(shape))
    return rng.standard_normal((steps, *shape)) * scales


def _call(your_function, *args):
    """your_function(*args); a None result is a mistake of its own (a forgotten return)."""
    out = your_function(*args)
    if out is None:
        raise Wrong("your function returned None: return the new arrays (see the docstring)")
    return out


def _same(a, b) -> bool:
    return np.allclose(a, b, rtol=RTOL, atol=ATOL)


@checker
def check_rmsprop_step(your_step, lr=0.01, alpha=0.99, eps=1e-8, seed=0):
    """Check ``your_step(theta, grad, square_avg, lr, alpha, eps) -> (theta, square_avg)``
    against ``torch.optim.RMSprop`` for 25 steps.

    Expected: v ← α v + (1 − α) g²;  θ ← θ − lr · g / (√v + ε)   (ε outside the square root).
    """
    rng = np.random.default_rng(seed)
    theta0 = rng.standard_normal((3, 4))
    ref = torch.tensor(theta0, requires_grad=True)
    opt = torch.optim.RMSprop([ref], lr=lr, alpha=alpha, eps=eps)
    theta, v = theta0.copy(), np.zeros_like(theta0)
    for t, g in enumerate(_gradients(theta0.shape, STEPS, seed), start=1):
        ref.grad = torch.tensor(g)
        opt.step()
        out = _call(your_step, theta.copy(), g.copy(), v.copy(), lr, alpha, eps)
        theta, v = (np.asarray(a, dtype=np.float64) for a in out)
        expected_v = opt.state[ref]["square_avg"].numpy()
        if not _same(v, expected_v):
            raise Wrong(
                f"Step {t}: square_avg differs from PyTorch's (max difference "
                f"{np.abs(v - expected_v).max():.3g}). Hint: v = alpha*v + (1 - alpha)*g**2."
            )
        expected = ref.detach().numpy()
        if not _same(theta, expected):
            raise Wrong(
                f"Step {t}: theta differs from PyTorch's (max difference "
                f"{np.abs(theta - expected).max():.3g}, gradient size {np.abs(g).max():.1e}). "
                "Hint: "
                "PyTorch divides by sqrt(v) + eps, with eps OUTSIDE the square root."
            )
    return f"matches torch.optim.RMSprop for {STEPS} steps"


@checker
def check_adam_step(your_step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, seed=0):
    """Check ``your_step(theta, grad, m, v, t, lr, betas, eps) -> (theta, m, v)`` (t = 1 at the
    first step) against ``torch.optim.Adam`` for 25 steps.

    Expected: m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;  m̂ = m/(1 − β1^t);
    v̂ = v/(1 − β2^t);  θ ← θ − lr · m̂ / (√v̂ + ε).
    """
    rng = np.random.default_rng(seed)
    theta0 = rng.standard_normal((3, 4))
    ref = torch.tensor(theta0, requires_grad=True)
    opt = torch.optim.Adam([ref], lr=lr, betas=betas, eps=eps)
    theta, m, v = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0)
    for t, g in enumerate(_gradients(theta0.shape, STEPS, seed), start=1):
        ref.grad = torch.tensor(g)
        opt.step()
        out = _call(your_step, theta.copy(), g.copy(), m.copy(), v.copy(), t, lr, betas, eps)
        theta, m, v = (np.asarray(a, dtype=np.float64) for a in out)
        state = opt.state[ref]
        for name, yours, key in (("m", m, "exp_avg"), ("v", v, "exp_avg_sq")):
            if not _same(yours, state[key].numpy()):
                raise Wrong(
                    f"Step {t}: {name} differs from PyTorch's {key}. Hint: keep the raw "
                    "(uncorrected) moving averages in m and v; correct only inside the update."
                )
        expected = ref.detach().numpy()
        if not _same(theta, expected):
            ratio = np.abs(theta - theta0).max() / max(np.abs(expected - theta0).max(), 1e-300)
            raise Wrong(
                f"Step {t}: theta differs from PyTorch's (your total change / PyTorch's = "
                f"{ratio:.3g}). Hints: bias-correct both moments with (1 - beta**t), t starting "
                "at 1; eps goes outside the square root."
            )
    return f"matches torch.optim.Adam for {STEPS} steps"


@checker
def check_clip_grad_norm(your_clip, seed=0):
    """Check ``your_clip(grads, max_norm) -> list of arrays`` against
    ``torch.nn.utils.clip_grad_norm_`` (the norm is taken over all arrays together).

    Expected: N = √(Σ ‖g_i‖²);  if N > max_norm: g_i ← g_i · max_norm / N.
    """
    rng = np.random.default_rng(seed)
    for case, max_norm in enumerate((1.0, 10.0, 1e3)):
        grads = [rng.standard_normal(s) * 5 for s in ((4, 3), (3,), (2, 2))]
        tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
        for t, g in zip(tensors, grads, strict=True):
            t.grad = torch.tensor(g)
        torch.nn.utils.clip_grad_norm_(tensors, max_norm)
        out = _call(your_clip, [g.copy() for g in grads], max_norm)
        total = np.sqrt(sum(np.sum(g**2) for g in grads))
        # torch divides by (N + 1e-6); allow for that tiny difference
        for yours, t in zip(out, tensors, strict=True):
            if not np.allclose(yours, t.grad.numpy(), rtol=1e-6, atol=1e-9):
                new_norm = np.sqrt(sum(np.sum(np.asarray(y) ** 2) for y in out))
                raise Wrong(
                    f"Case {case + 1} (max_norm = {max_norm:g}, total norm {total:.3g}): your "
                    f"clipped gradients have total norm {new_norm:.3g}, PyTorch's "
                    f"{min(total, max_norm):.3g}. Hints: one norm over ALL arrays together; "
                    "rescale to max_norm (multiply by max_norm / N), not to 1; leave the "
                    "gradients alone when N <= max_norm."
                )
    return "matches torch.nn.utils.clip_grad_norm_ in all three cases"
