"""A training run described as data, and the one place that turns it into a trained model.

    spec = RunSpec(model=partial(models.mlp, [784, 64, 10]),
                   optimizer=partial(torch.optim.SGD, lr=0.1, momentum=0.9),
                   epochs=3, seed=0)
    history = run(spec, data.fashion_mnist(n_train=5000, n_val=2000))
    histories = run_grid({"lr 0.1": spec, "lr 0.01": replace(spec, optimizer=...)}, prepared)

`fit_spec` (and `run`, which keeps only its History) builds, in this order: the model from
``spec.model(generator=Generator(seed))``, the optimizer from
``spec.optimizer(model.parameters())``, the schedule from ``spec.schedule(optimizer, epochs,
steps_per_epoch)`` (a ``(scheduler, interval)`` pair for `lib.train.LRScheduler`), the callbacks
from ``spec.callbacks()`` (fresh objects for every run), and the shuffled loader from ``seed``;
then calls `lib.train.fit`. A search (chapter 06) or a seed sweep is a list of specs. The book's
named schedules are ready-made ``RunSpec.schedule`` factories: ``partial(make_schedule, "cosine")``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from lib.data import make_loader
from lib.numpy_ref import schedules as sched
from lib.numpy_ref.optim import SGD
from lib.train import History, LRScheduler, fit

__all__ = ["RunSpec", "fit_spec", "run", "run_grid", "with_seeds", "SCHEDULES", "make_schedule",
           "schedule_lrs", "schedule_momenta"]


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """model(generator=...) -> nn.Module; optimizer(params) -> Optimizer; schedule(optimizer,
    epochs, steps_per_epoch) -> (scheduler, "step" | "epoch") or None; callbacks() -> list of
    lib.train callbacks or None; loss(outputs, targets) -> batch mean."""

    model: Callable
    optimizer: Callable
    epochs: int = 3
    batch_size: int = 64
    seed: int = 0
    schedule: Callable | None = None
    callbacks: Callable | None = None
    loss: Callable = F.cross_entropy

    def __post_init__(self):
        for name in ("model", "optimizer"):
            if not callable(getattr(self, name)):
                raise TypeError(f"RunSpec.{name} must be callable (e.g. functools.partial), "
                                f"got {type(getattr(self, name)).__name__}")
        for name in ("schedule", "callbacks"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise TypeError(f"RunSpec.{name} must be callable or None, "
                                f"got {type(value).__name__}")
        for name, minimum in (("epochs", 1), ("batch_size", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"RunSpec.{name} must be an integer >= {minimum}, got {value!r}")


def fit_spec(spec: RunSpec, data, device="cpu", train_loader=None, validate=True):
    """Train one spec on ``data`` (a `lib.data.Prepared`: x_train, y_train, x_val, y_val) and
    return (trained model, History); divergence is recorded in the History, not raised.
    train_loader: None for the spec's seeded shuffled batches, or another iterable of (x, y)
    batches of the same training set (e.g. `lib.augment.AugmentedLoader`). validate=False skips
    the per-epoch validation pass (score the returned model instead)."""
    if not isinstance(spec, RunSpec):
        raise TypeError(f"spec must be a RunSpec, got {type(spec).__name__}")
    model = spec.model(generator=torch.Generator().manual_seed(spec.seed))
    optimizer = spec.optimizer(model.parameters())
    if train_loader is None:
        train_loader = make_loader(data.x_train, data.y_train, batch_size=spec.batch_size,
                                   seed=spec.seed)
    val = None
    if validate and getattr(data, "x_val", None) is not None:
        val = make_loader(data.x_val, data.y_val, batch_size=1000, shuffle=False)
    callbacks = list(spec.callbacks()) if spec.callbacks is not None else []
    if spec.schedule is not None:
        steps_per_epoch = math.ceil(len(data.y_train) / spec.batch_size)
        scheduler, interval = spec.schedule(optimizer, spec.epochs, steps_per_epoch)
        callbacks.append(LRScheduler(scheduler, interval=interval))
    history = fit(model, spec.loss, optimizer, train_loader, val, epochs=spec.epochs,
                  callbacks=callbacks, device=device, progress=False)
    return model, history


def run(spec: RunSpec, data, device="cpu") -> History:
    """The History of `fit_spec` (the trained model is dropped)."""
    return fit_spec(spec, data, device=device)[1]


def run_grid(specs: dict, data, device="cpu") -> dict:
    """{label: RunSpec} -> {label: History}, run one after the other on the same data."""
    if not isinstance(specs, dict) or not specs:
        raise ValueError("specs must be a non-empty dict {label: RunSpec}")
    return {label: run(spec, data, device=device) for label, spec in specs.items()}


def with_seeds(spec: RunSpec, seeds) -> dict:
    """{seed: the same spec with that seed}: a seed sweep for results with a spread."""
    return {seed: dataclasses.replace(spec, seed=seed) for seed in seeds}


# ----------------------------------------------------------------------------- named schedules

SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup_cosine", "one_cycle")


def make_schedule(name: str, optimizer, epochs: int, steps_per_epoch: int):
    """(scheduler, interval) for the `lib.train.LRScheduler` callback; the lr of ``optimizer`` is
    the peak/base lr. step: ÷10 at 1/2 and 3/4 of training (per epoch); exponential: ×0.98 per
    epoch; cosine: to 0 over all steps; warmup_cosine: linear warm-up over the first 10% of the
    steps from lr/10, then cosine; one_cycle: OneCycleLR (30% up from lr/25, then down)."""
    total = epochs * steps_per_epoch
    if name == "constant":
        return sched.LinearLR(optimizer, start_factor=1.0, total_iters=1), "epoch"
    if name == "step":
        milestones = sorted({max(1, epochs // 2), max(2, (3 * epochs) // 4)})
        return sched.MultiStepLR(optimizer, milestones=milestones, gamma=0.1), "epoch"
    if name == "exponential":
        return sched.ExponentialLR(optimizer, gamma=0.98), "epoch"
    if name == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=total), "step"
    if name == "warmup_cosine":
        warm = max(1, total // 10)
        parts = [
            sched.LinearLR(optimizer, start_factor=0.1, total_iters=warm),
            sched.CosineAnnealingLR(optimizer, T_max=total - warm),
        ]
        return sched.SequentialLR(optimizer, parts, milestones=[warm]), "step"
    if name == "one_cycle":
        lr = optimizer.param_groups[0]["lr"]
        return sched.OneCycleLR(optimizer, max_lr=lr, total_steps=total), "step"
    raise ValueError(f"unknown schedule {name!r}; choose one of {list(SCHEDULES)}")


def _schedule_trace(key, name, epochs, steps_per_epoch, lr, momentum):
    """The optimizer's param_groups[0][key] at every step under schedule ``name``, the scheduler
    stepped in the order `lib.train.fit` steps it (`LRScheduler`: after each step or epoch)."""
    opt = SGD({"w": np.zeros(1)}, lr=lr, momentum=momentum)
    scheduler, interval = make_schedule(name, opt, epochs, steps_per_epoch)
    out = []
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            out.append(opt.param_groups[0][key])
            if interval == "step":
                scheduler.step()
        if interval == "epoch":
            scheduler.step()
    return np.array(out)


def schedule_lrs(name: str, epochs: int = 20, steps_per_epoch: int = 50, lr: float = 0.1,
                 momentum: float = 0.9) -> np.ndarray:
    """The lr each optimizer step uses under schedule ``name`` (what History.step_lr records)."""
    return _schedule_trace("lr", name, epochs, steps_per_epoch, lr, momentum)


def schedule_momenta(name: str, epochs: int = 20, steps_per_epoch: int = 50,
                     momentum: float = 0.9) -> np.ndarray:
    """The momentum each optimizer step uses under schedule ``name``: constant except for
    one_cycle, whose OneCycleLR (cycle_momentum=True, PyTorch's default) moves it from 0.95 down
    to 0.85 while the lr rises, and back up while the lr falls."""
    return _schedule_trace("momentum", name, epochs, steps_per_epoch, 0.1, momentum)
