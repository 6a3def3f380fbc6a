"""Learning-rate schedules that reproduce ``torch.optim.lr_scheduler``, framework-free.

They only read and write ``optimizer.param_groups[i]["lr"]`` (and, for OneCycleLR, ``"momentum"``
or ``"betas"``), so they drive any optimizer with ``param_groups``: the NumPy ones in
``lib.numpy_ref.optim``, the tensor ones in ``lib.torch_impl.optim`` and ``torch.optim``'s.

Usage, as in PyTorch: build the schedule after the optimizer (that sets each group's lr to its
value at step 0 and records ``initial_lr``), then call ``optimizer.step()`` and ``schedule.step()``
once per epoch (or per batch for OneCycleLR). ``last_epoch`` counts the ``step()`` calls;
base_lr below is the group's ``initial_lr`` and e is ``last_epoch``.

PyTorch computes most schedules recursively from the current lr ("chainable" forms). Where the
closed form gives the same sequence (StepLR, MultiStepLR, ExponentialLR, LinearLR: equal to
~1e-15 relative) it is used here, as it is easier to read; they would part ways only if something
else rewrote ``group["lr"]`` between steps. CosineAnnealingLR keeps PyTorch's recursion.
"""

from __future__ import annotations

import math
from bisect import bisect_right

from lib.numpy_ref.module import is_real

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "SequentialLR",
]


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_positive(name: str, value) -> None:
    if not is_real(value) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


class LRScheduler:
    """Base class: records ``initial_lr``, sets the step-0 lr; ``step()`` writes ``get_lr()``."""

    def __init__(self, optimizer):
        if not getattr(optimizer, "param_groups", None):
            raise TypeError(
                "optimizer must have a non-empty param_groups list (a lib.numpy_ref, "
                f"lib.torch_impl or torch.optim optimizer), got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each param group at step ``last_epoch``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step (epoch, or batch for OneCycleLR) and set each group's lr."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the latest ``step()`` (one per param group)."""
        return list(self._last_lr)


class StepLR(LRScheduler):
    """lr = base_lr · γ^⌊e / step_size⌋."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        _check_positive_int("step_size", step_size)
        _check_positive("gamma", gamma)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def get_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = base_lr · γ^(number of milestones ≤ e)."""

    def __init__(self, optimizer, milestones, gamma=0.1):
        milestones = sorted(milestones)
        for m in milestones:
            _check_positive_int("each milestone", m)
        _check_positive("gamma", gamma)
        self.milestones, self.gamma = milestones, gamma
        super().__init__(optimizer)

    def get_lr(self):
        passed = bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma**passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr · γ^e  (e.g. γ = 0.98: ×0.98 per epoch)."""

    def __init__(self, optimizer, gamma):
        _check_positive("gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self):
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Linear warm-up: lr = base_lr · (s + (f − s)·min(e, total_iters)/total_iters).

    s = start_factor, f = end_factor; lr stays at base_lr·f after total_iters steps.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        if not is_real(start_factor) or not 0 < start_factor <= 1:
            raise ValueError(f"start_factor must be in (0, 1], got {start_factor!r}")
        if not is_real(end_factor) or not 0 <= end_factor <= 1:
            raise ValueError(f"end_factor must be in [0, 1], got {end_factor!r}")
        _check_positive_int("total_iters", total_iters)
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer)

    def get_lr(self):
        progress = min(self.last_epoch, self.total_iters) / self.total_iters
        factor = self.start_factor + (self.end_factor - self.start_factor) * progress
        return [base * factor for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing (Loshchilov & Hutter, 2017, without restarts):

    lr = η_min + (base_lr − η_min)·(1 + cos(π e / T_max))/2   (for 0 ≤ e ≤ T_max; periodic after).

    PyTorch computes it recursively from the current lr ("chainable form"), which drifts from the
    closed form by rounding; to reproduce its sequence exactly this does the same:
    lr_e = η_min + (lr_{e−1} − η_min)·(1 + cos(π e/T_max))/(1 + cos(π (e − 1)/T_max)),
    except at e ≡ T_max + 1 (mod 2 T_max), where the ratio is 0/0 and the increment
    (base_lr − η_min)(1 − cos(π/T_max))/2 is added instead.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        _check_positive_int("T_max", T_max)
        if not is_real(eta_min) or not eta_min >= 0:
            raise ValueError(f"eta_min must be >= 0, got {eta_min!r}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def get_lr(self):
        e, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if e == 0:
            return list(self.base_lrs)
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        if (e - 1 - T) % (2 * T) == 0:
            return [
                lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                for lr, base in zip(lrs, self.base_lrs, strict=True)
            ]
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [eta_min + (lr - eta_min) * ratio for lr in lrs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2017), stepped once per batch, as in PyTorch.

    Phase 1 (steps 0 … pct_start·total_steps − 1): lr anneals from max_lr/div_factor up to max_lr;
    phase 2 (to total_steps − 1): down to max_lr/(div_factor·final_div_factor).
    three_phase=True: up, back down to max_lr/div_factor symmetrically, then down to the minimum.
    Annealing from a to b at fraction x of a phase: 'cos': b + (a − b)(1 + cos πx)/2; 'linear':
    a + (b − a)x. With cycle_momentum, the momentum (or β1 for Adam-like optimizers) moves the
    opposite way between max_momentum and base_momentum.
    """

    def __init__(
        self,
        optimizer,
        max_lr,
        total_steps=None,
        epochs=None,
        steps_per_epoch=None,
        pct_start=0.3,
        anneal_strategy="cos",
        cycle_momentum=True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
    ):
        if total_steps is not None:
            _check_positive_int("total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            _check_positive_int("epochs", epochs)
            _check_positive_int("steps_per_epoch", steps_per_epoch)
            total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"pct_start must be a float in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', got {anneal_strategy!r}"
            )
        _check_positive("div_factor", div_factor)
        _check_positive("final_div_factor", final_div_factor)
        groups = getattr(optimizer, "param_groups", None) or []
        self.total_steps, self.anneal_strategy = total_steps, anneal_strategy
        # (end step, start lr key, end lr key, start momentum key, end momentum key) per phase
        up_end = pct_start * total_steps - 1
        if three_phase:
            self.phases = [
                (up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (
                    2 * pct_start * total_steps - 2,
                    "max_lr",
                    "initial_lr",
                    "base_momentum",
                    "max_momentum",
                ),
                (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self.phases = [
                (up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        start_step = 0.0
        for i, (end_step, *_) in enumerate(self.phases):
            if end_step == start_step:  # the phase's annealing fraction would divide by 0
                raise ValueError(
                    f"pct_start={pct_start!r} with total_steps={total_steps} leaves phase {i + 1} "
                    "of the cycle 0 steps long; use pct_start < 1 with pct_start·total_steps != 1"
                    + (" and != (total_steps + 1)/2" if three_phase else "")
                )
            start_step = end_step
        max_lrs = self._per_group("max_lr", max_lr, groups)
        for top in max_lrs:
            _check_positive("max_lr", top)
        for group, top in zip(groups, max_lrs, strict=True):
            group["initial_lr"] = top / div_factor
            group["max_lr"] = top
            group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = "betas" in groups[0]
            if not self.use_beta1 and "momentum" not in groups[0]:
                raise ValueError(
                    "optimizer must support momentum or beta1 with `cycle_momentum` option "
                    "enabled (use cycle_momentum=False for e.g. Adagrad)"
                )
            tops = self._per_group("max_momentum", max_momentum, groups)
            bottoms = self._per_group("base_momentum", base_momentum, groups)
            for group, top, bottom in zip(groups, tops, bottoms, strict=True):
                self._set_momentum(group, top)
                group["max_momentum"], group["base_momentum"] = top, bottom
        super().__init__(optimizer)

    @staticmethod
    def _per_group(name, value, groups):
        if not groups:
            raise TypeError("optimizer must have a non-empty param_groups list")
        if isinstance(value, (list, tuple)):
            if len(value) != len(groups):
                raise ValueError(
                    f"expected {len(groups)} values for {name} (one per param group), "
                    f"got {len(value)}"
                )
            return list(value)
        return [value] * len(groups)

    def _set_momentum(self, group, momentum):
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"Tried to step {step} times. The specified number of total steps is "
                f"{self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, lr_a, lr_b, mom_a, mom_b) in enumerate(self.phases):
                if step <= end_step or i == len(self.phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[lr_a], group[lr_b], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[mom_a], group[mom_b], pct))
                    break
                start_step = end_step
        return lrs


class SequentialLR(LRScheduler):
    """Run ``schedulers[i]`` from ``milestones[i − 1]`` on (e.g. LinearLR warm-up, then cosine).

    Each scheduler counts its own steps from 0, starting at its milestone, as in PyTorch.
    """

    def __init__(self, optimizer, schedulers, milestones):
        if len(schedulers) < 1:
            raise ValueError("SequentialLR expects at least one scheduler, but got none")
        for i, scheduler in enumerate(schedulers):
            if getattr(scheduler, "optimizer", None) is not optimizer:
                raise ValueError(
                    f"SequentialLR expects all schedulers to belong to the same optimizer, but "
                    f"scheduler {type(scheduler).__name__} at index {i} has another one"
                )
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "SequentialLR expects one milestone fewer than schedulers, but got "
                f"{len(schedulers)} schedulers and {len(milestones)} milestones"
            )
        if any(not isinstance(m, int) or m <= 0 for m in milestones) or milestones != sorted(
            set(milestones)
        ):
            raise ValueError(f"milestones must be increasing positive integers, got {milestones}")
        self.optimizer, self.schedulers, self.milestones = optimizer, list(schedulers), milestones
        for group in optimizer.param_groups:  # undo what the schedulers' constructors did
            group["lr"] = group["initial_lr"]
        for scheduler in self.schedulers:  # none has started yet
            scheduler.last_epoch = -1
        self.last_epoch = 0
        self.schedulers[0].step()
        self._last_lr = self.schedulers[0].get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        scheduler = self.schedulers[bisect_right(self.milestones, self.last_epoch)]
        scheduler.step()  # at its milestone a scheduler is still at last_epoch = -1: it starts at 0
        self._last_lr = scheduler.get_last_lr()
