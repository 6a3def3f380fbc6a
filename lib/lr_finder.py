"""The learning-rate range test (Smith 2017, "Cyclical learning rates", sec. 3.3; fastai's
``lr_find``): train for one pass of mini-batches while the learning rate grows exponentially,
record the smoothed loss, stop when it explodes, put the model back as it was, pick a value.

    result = lr_range_test(model, F.cross_entropy, torch.optim.SGD(model.parameters(), lr=1e-3),
                           make_loader(x, y, batch_size=64, seed=0))
    result.suggestion            # min/10 rule; result.lr_min / 10, result.lr_steepest
    plt.semilogx(result.lrs, result.losses)
    result = spec_range_test(spec, data)  # a lib.experiments.RunSpec and its data

It runs `lib.train.fit` for one epoch with the `LRRangeTest` callback, so the model, loss,
optimizer and loader are the same objects as for any other run.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from lib.train import Callback, fit

__all__ = ["LRRangeTest", "LRFinderResult", "lr_range_test", "spec_range_test", "RULES"]

RULES = ("min/10", "steepest")


class LRRangeTest(Callback):
    """Set lrᵢ = start·(end/start)^(i/(N−1)) before step i = 0 … N−1 (all param groups), and after
    each step the smoothed loss (an exponential moving average with bias correction, as in Adam):
    aᵢ = β aᵢ₋₁ + (1 − β) lossᵢ, ℓᵢ = aᵢ / (1 − β^(i+1)). Stop once ℓᵢ > diverge_th · minⱼ ℓⱼ
    (the loss exploded) or after N steps."""

    def __init__(self, start_lr, end_lr, num_iter, smooth=0.98, diverge_th=4.0):
        self.start_lr, self.end_lr, self.num_iter = start_lr, end_lr, num_iter
        self.smooth, self.diverge_th = smooth, diverge_th
        self.lrs, self.losses, self.raw_losses = [], [], []
        self.exploded = False

    def lr_at(self, i):
        return self.start_lr * (self.end_lr / self.start_lr) ** (i / max(self.num_iter - 1, 1))

    def _set_lr(self, optimizer, lr):
        for group in optimizer.param_groups:
            group["lr"] = lr

    def on_train_begin(self, state):
        self._avg = 0.0
        self._set_lr(state.optimizer, self.lr_at(0))

    def on_batch_end(self, state):
        i = len(self.losses)
        loss = state.history.step_loss[-1]
        self._avg = self.smooth * self._avg + (1 - self.smooth) * loss
        smoothed = self._avg / (1 - self.smooth ** (i + 1))
        self.lrs.append(state.history.step_lr[-1])
        self.raw_losses.append(loss)
        self.losses.append(smoothed)
        if not math.isfinite(smoothed) or smoothed > self.diverge_th * min(self.losses):
            self.exploded = True
            state.stop = True
        elif i + 1 >= self.num_iter:
            state.stop = True
        else:
            self._set_lr(state.optimizer, self.lr_at(i + 1))


@dataclass
class LRFinderResult:
    """lrs[i], losses[i] (smoothed), raw_losses[i]: step i of the sweep. lr_min: the lr of the
    lowest smoothed loss; lr_steepest: the lr where the smoothed loss falls fastest per decade
    (most negative dℓ/d log lr, before the minimum); suggestion: the value of ``rule``;
    stopped: why the sweep ended."""

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    lr_min: float
    lr_steepest: float
    suggestion: float
    rule: str
    stopped: str


def _positive(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")


def _steepest(lrs, losses, i_min, skip_start, window):
    """The lr where the smoothed loss falls fastest: the most negative slope
    (ℓᵢ − ℓᵢ₋ₖ) / (log₁₀ lrᵢ − log₁₀ lrᵢ₋ₖ) over k steps = ``window`` decades, for the steps
    between skip_start and the minimum i_min; placed at the window's (geometric) middle."""
    log_lr = np.log10(lrs)
    per_step = (log_lr[-1] - log_lr[0]) / (len(lrs) - 1)
    k = max(1, min(round(window / per_step), i_min))  # steps per window, within the descent
    first = min(skip_start, max(i_min - k, 0))  # the earliest window start kept
    starts = np.arange(first, max(i_min - k, first) + 1)
    slope = (losses[starts + k] - losses[starts]) / (log_lr[starts + k] - log_lr[starts])
    j = int(starts[int(np.argmin(slope))])
    return float(10 ** ((log_lr[j] + log_lr[j + k]) / 2))


def lr_range_test(model, loss_fn, optimizer, train_data, start_lr=1e-7, end_lr=10.0,
                  num_iter=None, smooth=0.98, diverge_th=4.0, rule="min/10", skip_start=10,
                  window=0.5, device=None) -> LRFinderResult:
    """Exponential lr sweep from ``start_lr`` to ``end_lr`` over ``num_iter`` mini-batches
    (default: one pass of ``train_data``), see `LRRangeTest`. The model's weights and the
    optimizer's state (its lr included) are restored exactly at the end.

    Two rules to choose a value: "min/10" = lr_min / 10 (fastai's ``lr_min``: the minimum of the
    loss is already close to divergence, a tenth of it is safe) and "steepest" = lr_steepest
    (fastai's ``lr_steep``: the loss falls fastest there; it is noisier). ``suggestion`` is the
    one named by ``rule`` (default "min/10", the more conservative); both are always returned.
    ``smooth`` = β: the average spans ~1/(1 − β) steps (50 for fastai's 0.98), so the smoothed
    curve lags the raw loss; a sweep of a few hundred steps keeps the lag short.
    The slope is measured over ``window`` decades of lr (one step's change is mostly batch
    noise) and ignores the first ``skip_start`` steps (an average of a few batches is noisy).
    """
    _positive("start_lr", start_lr)
    _positive("end_lr", end_lr)
    if not end_lr > start_lr:
        raise ValueError(f"end_lr must be > start_lr, got start_lr={start_lr}, end_lr={end_lr}")
    if not 0 <= smooth < 1:
        raise ValueError(f"smooth (the EMA factor β) must be in [0, 1), got {smooth!r}")
    _positive("diverge_th", diverge_th)
    if diverge_th <= 1:
        raise ValueError(f"diverge_th must be > 1 (a multiple of the best loss), got {diverge_th}")
    if isinstance(skip_start, bool) or not isinstance(skip_start, int) or skip_start < 0:
        raise ValueError(f"skip_start must be an integer >= 0, got {skip_start!r}")
    _positive("window", window)
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; allowed: {', '.join(RULES)}")
    if num_iter is None:
        try:
            num_iter = len(train_data)
        except TypeError:
            raise ValueError("train_data has no len(): give num_iter") from None
    if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 5:
        raise ValueError(f"the sweep needs at least 5 mini-batches (num_iter >= 5), got "
                         f"{num_iter!r}")
    if device is None:
        params = list(model.parameters())
        device = params[0].device if params else "cpu"
    model_state = copy.deepcopy(model.state_dict())
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    finder = LRRangeTest(start_lr, end_lr, num_iter, smooth, diverge_th)
    try:
        history = fit(model, loss_fn, optimizer, train_data, epochs=1, callbacks=[finder],
                      device=device, progress=False)
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
    if len(finder.losses) < 3:
        raise ValueError(f"the loss exploded after {len(finder.losses)} steps: start_lr="
                         f"{start_lr} is already too large; try a smaller start_lr")
    if history.diverged_at is not None:
        stopped = f"loss NaN/inf at step {history.diverged_at}"
    elif finder.exploded:
        stopped = f"loss > {diverge_th} x best at step {len(finder.losses)}"
    else:
        stopped = f"end of sweep ({len(finder.losses)} steps)"
    lrs, losses = np.array(finder.lrs), np.array(finder.losses)
    i_min = int(np.argmin(losses))
    lr_min = float(lrs[i_min])
    lr_steepest = _steepest(lrs, losses, i_min, skip_start, window)
    suggestion = lr_min / 10 if rule == "min/10" else lr_steepest
    return LRFinderResult(lrs=lrs, losses=losses, raw_losses=np.array(finder.raw_losses),
                          lr_min=lr_min, lr_steepest=lr_steepest, suggestion=suggestion,
                          rule=rule, stopped=stopped)


def spec_range_test(spec, data, **kwargs) -> LRFinderResult:
    """`lr_range_test` for a `lib.experiments.RunSpec` on ``data`` (x_train, y_train): the model,
    optimizer, loss and shuffled loader built as `lib.experiments.run` builds them (same seed),
    one pass of the training set. ``kwargs`` go to `lr_range_test`."""
    from lib.data import make_loader
    from lib.experiments import RunSpec

    if not isinstance(spec, RunSpec):
        raise TypeError(f"spec must be a lib.experiments.RunSpec, got {type(spec).__name__}")
    model = spec.model(generator=torch.Generator().manual_seed(spec.seed))
    optimizer = spec.optimizer(model.parameters())
    loader = make_loader(data.x_train, data.y_train, batch_size=spec.batch_size, seed=spec.seed)
    kwargs.setdefault("device", "cpu")
    return lr_range_test(model, spec.loss, optimizer, loader, **kwargs)
