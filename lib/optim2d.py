"""Optimizers on a 2-D surface: the runner behind chapter 03's paths, races and rate checks.

A run is a NumPy optimizer of `lib.numpy_ref.optim` stepping one parameter, the point (x, y),
with the analytic gradient of a `lib.surfaces.Surface`:

    run = run_optimizer(get_surface("rosenbrock"), "Adam", lr=0.1, steps=300)
    run["xy"], run["loss"], run["diverged_at"]
"""

from __future__ import annotations

import numpy as np
import torch

from lib.numpy_ref.module import is_real
from lib.numpy_ref.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    RMSprop,
    TextbookMomentum,
    clip_grad_norm,
)
from lib.surfaces import Surface

__all__ = [
    "OPTIMIZERS",
    "SGD_FAMILY",
    "DIVERGED",
    "make_optimizer",
    "run_optimizer",
    "run_torch_optimizer",
]

# name -> (NumPy optimizer class, hyper-parameters that define the variant)
OPTIMIZERS = {
    "SGD": (SGD, {}),
    "Momentum": (SGD, {"momentum": 0.9}),
    "Momentum (textbook form)": (TextbookMomentum, {"momentum": 0.9}),
    "Nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "Adagrad": (Adagrad, {}),
    "RMSprop": (RMSprop, {}),
    "Adam": (Adam, {}),
    "AdamW": (AdamW, {}),
}
SGD_FAMILY = ("SGD", "Momentum", "Momentum (textbook form)", "Nesterov")  # take a momentum=
DIVERGED = 1e6  # a run whose |x| or |y| exceeds this has diverged


def _check_steps(value, name="steps"):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def make_optimizer(name: str, params: dict, lr: float, **hyper):
    """The NumPy optimizer called ``name`` (a key of ``OPTIMIZERS``) over ``params``.

    ``hyper`` overrides the variant's hyper-parameters (e.g. momentum=0.5, betas=(0.8, 0.99)).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {list(OPTIMIZERS)}")
    cls, variant = OPTIMIZERS[name]
    return cls(params, lr=lr, **{**variant, **hyper})


def run_optimizer(
    surface: Surface,
    name: str,
    lr: float,
    steps: int = 100,
    start=None,
    grad_noise: float = 0.0,
    seed: int = 0,
    clip_norm: float | None = None,
    batch_size: int | None = None,
    schedule=None,
    **hyper,
) -> dict:
    """Run optimizer ``name`` on a 2-D surface for ``steps`` steps: θ_t = step(θ_{t−1}, g_t),
    g_t = ∇f(θ_{t−1}).

    grad_noise: std σ of Gaussian noise added to each gradient, g + σ·N(0, I) (a stand-in for
    mini-batch noise, drawn from ``seed``); batch_size: g_t = ``surface.batch_grad(θ, idx)``,
    the gradient over ``batch_size`` of its ``surface.n`` examples drawn with replacement (from
    ``seed``); clip_norm: clip each gradient to this norm first; schedule: a function optimizer
    -> lr scheduler of `lib.numpy_ref.schedules` (e.g. ``lambda opt: MultiStepLR(opt, [20])``),
    stepped after every optimizer step.
    Returns {"xy": (T + 1, 2) positions, "loss": (T + 1,) values f(θ_t), "diverged_at": the
    step (1-based) where |x| or |y| passed DIVERGED or became NaN (the run stops there), or None}.
    """
    _check_steps(steps)
    if not is_real(grad_noise) or grad_noise < 0:
        raise ValueError(f"grad_noise must be a real number >= 0, got {grad_noise!r}")
    xy = np.array(surface.start if start is None else start, dtype=np.float64)
    if xy.shape != (2,):
        raise ValueError(f"start must be a point (x, y), got shape {xy.shape}")
    params = {"xy": xy}
    opt = make_optimizer(name, params, lr, **hyper)
    scheduler = None if schedule is None else schedule(opt)
    if batch_size is not None:
        _check_steps(batch_size, "batch_size")
        if not hasattr(surface, "batch_grad"):
            raise ValueError("batch_size needs a surface with examples (n, batch_grad(xy, idx)), "
                             f"got {type(surface).__name__}")
    rng = np.random.default_rng(seed)
    path, diverged_at = [xy.copy()], None
    for t in range(1, steps + 1):
        if batch_size is None:
            g = surface.grad(xy)
        else:
            g = surface.batch_grad(xy, rng.integers(0, surface.n, batch_size))
        if grad_noise:
            g = g + grad_noise * rng.standard_normal(2)
        grads = {"xy": g}
        if clip_norm is not None:
            clip_grad_norm(grads, clip_norm)
        opt.step(grads)
        if scheduler is not None:
            scheduler.step()
        if not (abs(xy[0]) < DIVERGED and abs(xy[1]) < DIVERGED):  # also catches NaN
            diverged_at = t
            break
        path.append(xy.copy())
    path = np.array(path)
    return {"xy": path, "loss": surface.f(path), "diverged_at": diverged_at}


def run_torch_optimizer(surface: Surface, optimizer_cls, steps: int = 100, **kwargs) -> np.ndarray:
    """The path (steps + 1, 2) of a torch optimizer (e.g. ``torch.optim.Adam``) on ``surface``,
    in float64, with the surface's analytic gradient put in ``.grad`` at each step."""
    _check_steps(steps)
    xy = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
    opt = optimizer_cls([xy], **kwargs)
    path = [xy.detach().numpy().copy()]
    for _ in range(steps):
        xy.grad = torch.from_numpy(surface.grad(xy.detach().numpy()))
        opt.step()
        path.append(xy.detach().numpy().copy())
    return np.array(path)
