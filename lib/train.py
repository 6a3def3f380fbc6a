"""One training loop for the whole book: `fit(...)` with callbacks, returning a `History`.

Per step: forward, loss, backward, callbacks' `on_after_backward` (clipping goes here),
`optimizer.step()`, then `on_batch_end` (step schedulers go here). A NaN/inf loss ends the run and
is recorded as "diverged at step k" instead of raising. Steps and epochs are counted from 1.
"""

from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass

import torch
from torch import nn

from lib.history import EPOCH_KEYS, History, check_mode
from lib.numpy_ref.module import is_real
from lib.numpy_ref.optim import check_norm_type

__all__ = [
    "History",
    "TrainState",
    "Callback",
    "EarlyStopping",
    "LRScheduler",
    "GradientClipping",
    "LayerStats",
    "Vitals",
    "fit",
]

@dataclass
class TrainState:
    """What callbacks see: the run's objects, counters and a `stop` flag they may set."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History
    has_val: bool
    epoch: int = 0  # the current epoch (1-based)
    step: int = 0  # optimizer steps taken so far
    stop: bool = False
    batch: tuple | None = None  # the current (inputs, targets), on the device


class Callback:
    """Base class; override the hooks you need. Each hook gets the `TrainState`."""

    def on_train_begin(self, state: TrainState) -> None: ...

    def on_epoch_begin(self, state: TrainState) -> None: ...

    def on_after_backward(self, state: TrainState) -> None: ...

    def on_batch_end(self, state: TrainState) -> None: ...

    def on_epoch_end(self, state: TrainState) -> None: ...

    def on_train_end(self, state: TrainState) -> None: ...


def _check_monitor(monitor: str) -> None:
    if monitor not in EPOCH_KEYS:
        raise ValueError(f"unknown monitor {monitor!r}; available keys: {', '.join(EPOCH_KEYS)}")


def _monitored_value(state: TrainState, monitor: str) -> float:
    value = state.history.epoch[monitor][-1]
    if value is None:
        why = ("accuracy needs integer class targets and (N, C) outputs" if monitor.endswith("acc")
               else "no batch was evaluated")
        raise ValueError(f"monitor {monitor!r} was not computed: {why}")
    return value


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    Improvement: value < best - min_delta (mode "min") or value > best + min_delta (mode "max");
    a NaN/inf value is never one. With `restore_best_weights`, a deep copy of the best epoch's
    `state_dict` is loaded at the end (also after a divergence).
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="min",
                 restore_best_weights=True):
        _check_monitor(monitor)
        check_mode(mode)
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 1:
            raise ValueError(f"patience must be a positive int, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.monitor, self.patience, self.min_delta, self.mode = monitor, patience, min_delta, mode
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, state):
        if self.monitor.startswith("val_") and not state.has_val:
            raise ValueError(f"monitor {self.monitor!r} needs val_data")
        self.best_value, self.best_epoch, self.best_state, self.wait = None, None, None, 0

    def _improved(self, value):
        if not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def on_epoch_end(self, state):
        value = _monitored_value(state, self.monitor)
        if self._improved(value):
            self.best_value, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best_weights:
                self.best_state = copy.deepcopy(state.model.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience:
            state.stop = True

    def on_train_end(self, state):
        if self.best_epoch is None:
            return
        # after a divergence the weights have moved on since the last recorded epoch
        moved = (state.history.diverged_at is not None
                 or self.best_epoch != state.history.epoch["epoch"][-1])
        restore = self.restore_best_weights and moved
        if restore:
            state.model.load_state_dict(self.best_state)
        if state.stop and state.history.diverged_at is None:
            detail = "restored weights of" if self.restore_best_weights else "best"
            state.history.events.append(
                f"early stop at epoch {state.epoch}; {detail} epoch {self.best_epoch}")
        elif restore:
            state.history.events.append(f"restored weights of epoch {self.best_epoch}")


class LRScheduler(Callback):
    """Call `scheduler.step()` after every optimizer step (interval "step") or epoch ("epoch").

    Works with `torch.optim.lr_scheduler` and any object with `.step()`. For schedulers that need a
    metric (`ReduceLROnPlateau`), give `monitor`: then `scheduler.step(value)` at each epoch's end.
    """

    def __init__(self, scheduler, interval="step", monitor=None):
        if not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"scheduler must have a .step() method, got {type(scheduler).__name__}")
        if interval not in ("step", "epoch"):
            raise ValueError(f"interval must be 'step' or 'epoch', got {interval!r}")
        if monitor is None and _needs_metric(scheduler):
            raise ValueError(
                f"{type(scheduler).__name__}.step needs a metric: give monitor=, e.g. "
                f"LRScheduler(scheduler, interval='epoch', monitor='val_loss'); "
                f"allowed monitors: {', '.join(EPOCH_KEYS)}")
        if monitor is not None:
            _check_monitor(monitor)
            if interval != "epoch":
                raise ValueError("a monitored scheduler steps once per epoch: use interval='epoch'")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor

    def on_batch_end(self, state):
        if self.interval == "step":
            self.scheduler.step()

    def on_epoch_end(self, state):
        if self.interval == "epoch":
            if self.monitor is None:
                self.scheduler.step()
            else:
                self.scheduler.step(_monitored_value(state, self.monitor))


def _needs_metric(scheduler) -> bool:
    """Whether `scheduler.step` has a required argument (the metric, as in ReduceLROnPlateau)."""
    try:
        params = inspect.signature(scheduler.step).parameters.values()
    except (TypeError, ValueError):  # no signature to read: assume step() takes no metric
        return False
    return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in params)


class GradientClipping(Callback):
    """Clip gradients before each optimizer step; record the pre-clip norm in `history.grad_norm`.

    By norm: g <- g * min(1, max_norm / ||g||) with ||g|| the `norm_type`-norm over all parameters
    (`torch.nn.utils.clip_grad_norm_`). By value: each entry clamped to [-max_value, max_value]
    (`clip_grad_value_`). Give exactly one of the two.
    """

    def __init__(self, max_norm=None, max_value=None, norm_type=2.0):
        if (max_norm is None) == (max_value is None):
            raise ValueError("give exactly one of max_norm or max_value")
        for name, v in (("max_norm", max_norm), ("max_value", max_value)):
            if v is not None and (not is_real(v) or not v > 0):
                raise ValueError(f"{name} must be > 0 (0 would freeze training), got {v!r}")
        self.max_norm, self.max_value = max_norm, max_value
        self.norm_type = check_norm_type(norm_type)

    def on_after_backward(self, state):
        params = [p for p in state.model.parameters() if p.grad is not None]
        if self.max_norm is not None:
            total = nn.utils.clip_grad_norm_(params, self.max_norm, self.norm_type)
        else:
            # ‖g‖ over all gradients (clip_grad_norm_ with max_norm=inf only measures it)
            total = nn.utils.clip_grad_norm_(params, float("inf"), self.norm_type)
            nn.utils.clip_grad_value_(params, self.max_value)
        state.history.grad_norm.append(total.item())


class LayerStats(Callback):
    """Every `every` steps, record per layer the activation mean/std (forward hooks, training mode)
    and the norm / std of the gradient of the layer's own parameters (None if it has none).

    modules: layer names as in `model.named_modules()` (e.g. ["0", "2"]); None = all leaf modules
    (a model without sub-modules is its own only layer, named "").
    first: also record step 1 (the initial weights) when every > 1: steps 1, every, 2·every, …
    (default False: steps every, 2·every, …).
    Results: `history.layer_stats[name]` = {key: list} for the keys in `LayerStats.KEYS`.
    """

    KEYS = ("step", "act_mean", "act_std", "grad_norm", "grad_std")

    def __init__(self, modules=None, every=1, first=False):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        if not isinstance(first, bool):
            raise TypeError(f"first must be True or False, got {first!r}")
        if modules is not None and (isinstance(modules, str) or
                                    not all(isinstance(m, str) for m in modules)):
            raise TypeError(f"modules must be a list of layer names or None, got {modules!r}")
        self.names, self.every, self.first = modules, every, first

    def on_train_begin(self, state):
        named = dict(state.model.named_modules())
        if self.names is None:
            self.modules = {n: m for n, m in named.items() if not any(m.children())}
        else:
            unknown = [n for n in self.names if n not in named]
            if unknown:
                available = ", ".join(repr(n) for n in named)
                raise ValueError(f"unknown layer names {unknown}; available: {available}")
            self.modules = {n: named[n] for n in self.names}
        for name in self.modules:
            state.history.layer_stats[name] = {k: [] for k in self.KEYS}
        self.activations = {}
        self.recording = self.every == 1 or self.first  # whether the coming step is recorded
        self.handles = [m.register_forward_hook(self._hook(n)) for n, m in self.modules.items()]

    def _hook(self, name):
        def hook(module, inputs, output):
            if self.recording and module.training and isinstance(output, torch.Tensor):
                out = output.detach().float()
                self.activations[name] = (out.mean().item(), out.std().item())
        return hook

    def on_after_backward(self, state):
        if not self.recording:
            return
        for name, module in self.modules.items():
            stats = state.history.layer_stats[name]
            act_mean, act_std = self.activations.get(name, (None, None))
            grads = [p.grad.detach().flatten() for p in module.parameters(recurse=False)
                     if p.grad is not None]
            g = torch.cat(grads).float() if grads else None
            stats["step"].append(state.step + 1)
            stats["act_mean"].append(act_mean)
            stats["act_std"].append(act_std)
            stats["grad_norm"].append(None if g is None else g.norm().item())
            stats["grad_std"].append(None if g is None else g.std().item())
        self.activations = {}

    def on_batch_end(self, state):
        self.recording = (state.step + 1) % self.every == 0

    def on_train_end(self, state):
        for handle in self.handles:
            handle.remove()


# Where an activation's output counts as saturated: within this distance of its bounds
# (tanh: |y| > 0.99, where tanh' = 1 − y² < 0.02; sigmoid: y < 0.01 or y > 0.99, σ' < 0.01).
SATURATION_MARGIN = 0.01
SATURATING = {nn.Tanh: (-1.0, 1.0), nn.Sigmoid: (0.0, 1.0)}  # activation -> its bounds


class Vitals(Callback):
    """Every `every` steps, record in `history.layer_stats[name]` (the steps in "vitals_step"):

    - "update_ratio" for each layer with a weight matrix: ‖W_after − W_before‖ / ‖W_before‖
      over one optimizer step (CS231n's rule of thumb: about 1e-3; the healthy runs of
      lib.sick_runs measure about 2e-3 with Adam and 2e-2 with SGD + momentum);
    - "dead_frac" for each ReLU: the share of units whose output is 0 for every example of the
      batch (such a unit passes no gradient to its weights);
    - "saturated_frac" for each Tanh / Sigmoid: the share of outputs within SATURATION_MARGIN of
      the bounds (where the derivative is nearly 0).
    """

    def __init__(self, every=1):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        self.every = every

    def on_train_begin(self, state):
        named = [(n, m) for n, m in state.model.named_modules() if not any(m.children())]
        self.weighted = {n: m.weight for n, m in named
                         if isinstance(getattr(m, "weight", None), torch.Tensor)
                         and m.weight.dim() >= 2}
        self.handles = [m.register_forward_hook(self._hook(n)) for n, m in named
                        if isinstance(m, (nn.ReLU, *SATURATING))]
        self.recording, self.units, self.before = self.every == 1, {}, {}

    def _hook(self, name):
        def hook(module, inputs, output):
            if not (self.recording and module.training):
                return
            out = output.detach().flatten(1)
            if isinstance(module, nn.ReLU):
                self.units[name] = ("dead_frac", 1.0 - (out > 0).any(dim=0).float().mean().item())
            else:
                low, high = SATURATING[type(module)]
                near = (out < low + SATURATION_MARGIN) | (out > high - SATURATION_MARGIN)
                self.units[name] = ("saturated_frac", near.float().mean().item())
        return hook

    def on_after_backward(self, state):
        if self.recording:
            self.before = {n: w.detach().clone() for n, w in self.weighted.items()}

    def on_batch_end(self, state):
        if self.recording:
            records = {n: {"update_ratio": ((w.detach() - self.before[n]).norm()
                                            / self.before[n].norm()).item()}
                       for n, w in self.weighted.items()}
            for name, (key, value) in self.units.items():
                records.setdefault(name, {})[key] = value
            for name, values in records.items():
                # created here, after every on_train_begin: LayerStats resets its own entries
                stats = state.history.layer_stats.setdefault(name, {})
                stats.setdefault("vitals_step", []).append(state.step)
                for key, value in values.items():
                    stats.setdefault(key, []).append(value)
        self.units, self.before = {}, {}
        self.recording = (state.step + 1) % self.every == 0

    def on_train_end(self, state):
        for handle in self.handles:
            handle.remove()


def _is_classification(outputs, targets) -> bool:
    return (outputs.ndim == 2 and targets.ndim == 1 and not targets.is_floating_point()
            and not targets.is_complex() and targets.dtype != torch.bool)


class _Meter:
    """Batch-size-weighted mean loss and accuracy over an epoch."""

    def __init__(self):
        self.n, self.loss_sum, self.correct, self.classification = 0, 0.0, 0, True

    def add(self, loss, outputs, targets):
        n = targets.shape[0]
        self.n += n
        self.loss_sum += loss * n
        self.classification = self.classification and _is_classification(outputs, targets)
        if self.classification:
            self.correct += (outputs.argmax(dim=1) == targets).sum().item()

    def result(self):
        if self.n == 0:
            return None, None
        return self.loss_sum / self.n, (self.correct / self.n if self.classification else None)


def _to(batch, dev):
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError("each batch must be an (inputs, targets) pair")
    return batch[0].to(dev), batch[1].to(dev)


@torch.no_grad()
def _evaluate(model, loss_fn, data, dev):
    model.eval()
    meter = _Meter()
    for batch in data:
        x, y = _to(batch, dev)
        out = model(x)
        meter.add(loss_fn(out, y).item(), out, y)
    return meter.result()


def _check_optimizer_trains(model, optimizer) -> None:
    """ValueError unless the optimizer updates at least one of the model's parameters."""
    own = {id(p) for p in model.parameters()}
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list):
        raise TypeError("optimizer must be a torch.optim.Optimizer, "
                        f"got {type(optimizer).__name__}")
    if not any(id(p) in own for group in groups for p in group["params"]):
        raise ValueError(
            "the optimizer holds none of the model's parameters, so fit would train nothing; "
            "build it from this model, e.g. torch.optim.SGD(model.parameters(), lr=0.1)")


def _penalty_value(penalty, model):
    """penalty(model), checked to be a real scalar tensor."""
    value = penalty(model)
    if not (isinstance(value, torch.Tensor) and value.numel() == 1
            and value.is_floating_point()):
        got = (f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
               if isinstance(value, torch.Tensor) else type(value).__name__)
        raise TypeError("penalty(model) must return a floating-point scalar tensor, e.g. "
                        "1e-4 * sum(p.abs().sum() for p in model.parameters()); got " + got)
    return value.reshape(())


def fit(model, loss_fn, optimizer, train_data, val_data=None, epochs=1, callbacks=(),
        device=None, progress=True, penalty=None) -> History:
    """Train `model` for `epochs` epochs over `train_data` (iterable of (x, y) batches).

    `loss_fn(outputs, targets)` must return the batch mean. Epoch losses are batch-size-weighted
    means; train metrics are averaged over the epoch while the weights change; val metrics are
    computed in eval mode under no_grad. Accuracy = mean(argmax(outputs) == targets), only for
    integer class targets and (N, C) outputs (else None). device=None -> `lib.device()`.

    penalty: None or a function model -> scalar tensor R(θ), e.g. an L1 term
    λ·Σ|w| = ``lambda m: lam * sum(p.abs().sum() for p in m.parameters())``. Each step then
    minimises J(θ) = loss + R(θ), so ∇J = ∇loss + ∇R; `step_loss` records J, the epoch losses
    the data loss alone (comparable with val_loss, which never includes R).
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not callable(loss_fn):
        raise TypeError("loss_fn must be callable: loss_fn(outputs, targets) -> scalar tensor")
    if penalty is not None and not callable(penalty):
        raise TypeError("penalty must be None or a function model -> scalar tensor, got "
                        f"{type(penalty).__name__}")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
    _check_optimizer_trains(model, optimizer)
    if device is None:
        from lib import device as best_device

        device = best_device()
    dev = torch.device(device)
    model.to(dev)

    history = History()
    state = TrainState(model, optimizer, history, has_val=val_data is not None)

    def call(hook):
        for cb in callbacks:
            getattr(cb, hook)(state)

    from tqdm.auto import tqdm

    call("on_train_begin")
    bar = tqdm(range(1, epochs + 1), desc="epoch", disable=not progress)
    for epoch in bar:
        state.epoch = epoch
        call("on_epoch_begin")
        model.train()
        meter = _Meter()
        batches = 0
        for batch in train_data:
            batches += 1
            x, y = state.batch = _to(batch, dev)
            outputs = model(x)
            loss = data_loss = loss_fn(outputs, y)
            if penalty is not None:
                loss = data_loss + _penalty_value(penalty, model)
            history.step_lr.append(optimizer.param_groups[0]["lr"])
            history.step_loss.append(loss.item())
            if not math.isfinite(history.step_loss[-1]):
                history.diverge(state.step + 1)
                state.stop = True
                break
            optimizer.zero_grad()
            loss.backward()
            call("on_after_backward")
            optimizer.step()
            state.step += 1
            step_data_loss = history.step_loss[-1] if penalty is None else data_loss.item()
            meter.add(step_data_loss, outputs.detach(), y)
            call("on_batch_end")
            if state.stop:
                break
        if history.diverged_at is not None:
            history.stopped_epoch = epoch
            break
        if batches == 0:
            raise ValueError(f"train_data gave no batches in epoch {epoch}; fit needs at least one "
                             "(inputs, targets) batch per epoch (an empty dataset, drop_last=True "
                             "with fewer samples than batch_size, or a used-up iterator?)")
        train_loss, train_acc = meter.result()
        val_loss, val_acc = (None, None)
        if val_data is not None:
            val_loss, val_acc = _evaluate(model, loss_fn, val_data, dev)
            if val_loss is None:
                raise ValueError("val_data gave no batches; give at least one (inputs, targets) "
                                 "batch, or val_data=None")
        row = {"epoch": epoch, "step": state.step, "train_loss": train_loss, "train_acc": train_acc,
               "val_loss": val_loss, "val_acc": val_acc}
        history.add_epoch(**row)
        bar.set_postfix({k: v for k, v in row.items() if k.endswith("loss") and v is not None})
        if val_loss is not None and not math.isfinite(val_loss):
            history.diverge(state.step, f"val_loss {val_loss} after epoch {epoch}")
            history.stopped_epoch = epoch
            state.stop = True
            break
        call("on_epoch_end")
        if state.stop:
            history.stopped_epoch = epoch
            break
    bar.close()
    call("on_train_end")
    return history
