"""Chapter 05 (normalization): its experiments and figures, nothing another chapter needs.

Training runs use `lib.train.fit`: through `train`, or with a callback where a run is probed step
by step (the Ioffe & Szegedy MNIST figure, the loss-smoothness probe).
"""

from __future__ import annotations

import copy
import functools
import math

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullLocator
from torch import nn
from torch.nn import functional as F

from lib import data as bookdata
from lib import models, plots, widgets
from lib.train import Callback, fit

__all__ = [
    "train", "accuracy", "ioffe_mnist_run", "ioffe_figure", "NoisyBatchNorm1d", "add_bn_noise",
    "smoothness_run", "smoothness_figure", "running_stats_trace", "settle_steps", "ema_noise_std",
    "running_stats_figure",
    "RUNNING_STATS_CONTROLS", "train_mode_accuracy", "placement_cnn", "NORM_LAYERS", "cnn_with",
    "images", "cube_figure", "scaled_init_", "DEEP", "SWEEP_LRS", "lr_sweep", "final_acc",
    "lr_sweep_figure", "LR_SWEEP_CONTROLS", "sweep_figure", "WeightNorms",
    "weight_norms", "dropout_bn_variances", "time_forward", "batch_size_figure",
]


# ----------------------------------------------------------------------------- training helpers

def train(model, prepared, lr, epochs=3, batch_size=64, seed=0, momentum=0.0, weight_decay=0.0,
          callbacks=()):
    """SGD (+ momentum, weight decay) on ``prepared`` with `lib.train.fit`; returns History.
    The model is trained in place (divergence is recorded in the History, not raised)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                          weight_decay=weight_decay)
    loader = bookdata.make_loader(prepared.x_train, prepared.y_train, batch_size=batch_size,
                                  seed=seed)
    val = bookdata.make_loader(prepared.x_val, prepared.y_val, batch_size=1000, shuffle=False)
    return fit(model, F.cross_entropy, opt, loader, val, epochs=epochs, callbacks=callbacks,
               device="cpu", progress=False)


@torch.no_grad()
def accuracy(model, x, y, batch_size=1000, train_mode=False):
    """Accuracy of ``model`` on (x, y) in eval mode, or in train mode (batch statistics!) when
    ``train_mode``; the model's mode is restored afterwards (running statistics are NOT: a
    train-mode pass updates them, which is part of the bug it demonstrates)."""
    was = model.training
    model.train(train_mode)
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    correct = sum((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(y), batch_size))
    model.train(was)
    return correct / len(y)


# ----------------------------------------------------------------- Ioffe & Szegedy (2015), Fig. 1

class _StopAt(Callback):
    """Stop `fit` after `steps` optimizer steps (mid-epoch)."""

    def __init__(self, steps):
        self.steps = steps

    def on_batch_end(self, state):
        if state.step >= self.steps:
            state.stop = True


def _probed_run(model, prepared, lr, steps, batch_size, seed, probe):
    """`steps` steps of SGD(lr) on the training split with `fit`, observed by the callback
    `probe`; returns its records, {name: list} in `probe.out`, as arrays."""
    loader = bookdata.make_loader(prepared.x_train, prepared.y_train, batch_size=batch_size,
                                  seed=seed)
    fit(model, F.cross_entropy, torch.optim.SGD(model.parameters(), lr=lr), loader,
        epochs=max(1, math.ceil(steps / len(loader))), callbacks=[probe, _StopAt(steps)],
        device="cpu", progress=False)
    return {k: np.array(v) for k, v in probe.out.items()}


class _IoffeProbe(Callback):
    """Every `every` steps (and before the first): test accuracy and the 15/50/85th percentiles
    of the input to `sigmoid` over the test images, in eval mode."""

    def __init__(self, sigmoid, x_test, y_test, every, unit):
        self.x, self.y, self.every, self.seen = x_test, y_test, every, {}
        sigmoid.register_forward_hook(lambda m, inp, out: self.seen.update(z=inp[0][:, unit]))
        self.out = {"step": [], "acc": [], "pct": []}

    def record(self, model, step):
        model.eval()
        with torch.no_grad():
            acc = (model(self.x).argmax(1) == self.y).float().mean().item()
        model.train()
        self.out["step"].append(step)
        self.out["acc"].append(acc)
        self.out["pct"].append(np.percentile(self.seen["z"].numpy(), [15, 50, 85]))

    def on_train_begin(self, state):
        self.record(state.model, 0)

    def on_batch_end(self, state):
        if state.step % self.every == 0:
            self.record(state.model, state.step)


def ioffe_mnist_run(batchnorm, prepared, seed=0, steps=1200, lr=0.5, batch_size=60,
                    eval_every=50, unit=0):
    """Their MNIST net: 784-100-100-100-10, sigmoid, batch 60, plain SGD (lr: not given in the
    paper). Every ``eval_every`` steps: test accuracy and the 15th/50th/85th percentiles of the
    input to the sigmoid of one unit of the last hidden layer, over the test images (eval mode).
    Returns {"step", "acc", "pct" (n, 3)} as arrays."""
    model = models.mlp([784, 100, 100, 100, 10], activation="sigmoid",
                       norm="batch" if batchnorm else None, generator=seed)
    last_sigmoid = [m for m in model if isinstance(m, nn.Sigmoid)][-1]
    probe = _IoffeProbe(last_sigmoid, torch.as_tensor(prepared.x_test),
                        torch.as_tensor(prepared.y_test), eval_every, unit)
    return _probed_run(model, prepared, lr, steps, batch_size, seed, probe)


def ioffe_figure(runs: dict) -> Figure:
    """runs: {"without BN": result, "with BN": result} of `ioffe_mnist_run` → their Fig. 1(a–c)."""
    fig, axes = plots.new_figure(ncols=3, size=(13.5, 3.8))
    for i, (name, r) in enumerate(runs.items()):
        axes[0].plot(r["step"], r["acc"], color=plots.COLORS[i], label=name)
    axes[0].set(xlabel="training step", ylabel="test accuracy", title="(a) test accuracy",
                ylim=(0, 1))
    axes[0].legend(loc="lower right")
    lo = min(r["pct"].min() for r in runs.values())
    hi = max(r["pct"].max() for r in runs.values())
    for ax, (name, r), letter in zip(axes[1:], runs.items(), "bc", strict=True):
        for j, q in enumerate((15, 50, 85)):
            ax.plot(r["step"], r["pct"][:, j], color="k", lw=1 + (j == 1), label=f"{q}th pct")
        ax.set(xlabel="training step", ylabel="input to the sigmoid", ylim=(lo - 0.3, hi + 0.3),
               title=f"({letter}) {name}: one unit's input")
        ax.legend(fontsize=8, loc="upper right")
    return fig


# ------------------------------------------------------------ Santurkar et al. (2018): noisy BN

class NoisyBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d, then in training y = s ⊙ BN(x) + m with a per-unit scale s ~ U(1 − a, 1 + a)
    (a = ``scale_noise``) and shift m ~ U(−b, b) (b = ``shift_noise``) drawn anew at EVERY step:
    the next layer's input distribution changes from step to step far more than without BN
    ("noisy BN", Santurkar et al. 2018, Sec. 2.1). E[s] = 1 and E[m] = 0, so eval mode (no
    noise) is plain BatchNorm1d."""

    def __init__(self, num_features, scale_noise=0.5, shift_noise=1.0, generator=None):
        super().__init__(num_features)
        if not 0 <= scale_noise < 1 or not shift_noise >= 0:
            raise ValueError(f"scale_noise must be in [0, 1) and shift_noise >= 0, got "
                             f"{scale_noise!r}, {shift_noise!r}")
        self.scale_noise, self.shift_noise = scale_noise, shift_noise
        self.generator = generator or torch.Generator().manual_seed(0)

    def forward(self, x):
        y = super().forward(x)
        if not self.training:
            return y
        c = self.num_features
        s = 1 + self.scale_noise * (2 * torch.rand(c, generator=self.generator) - 1)
        m = self.shift_noise * (2 * torch.rand(c, generator=self.generator) - 1)
        return y * s + m


def add_bn_noise(model, scale_noise=0.5, shift_noise=1.0, seed=0):
    """A copy of ``model`` with each BatchNorm1d replaced by a NoisyBatchNorm1d (same state)."""
    model = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    for i, m in enumerate(model):
        if isinstance(m, nn.BatchNorm1d):
            noisy = NoisyBatchNorm1d(m.num_features, scale_noise, shift_noise, g)
            noisy.load_state_dict(m.state_dict())
            model[i] = noisy
    return model


# ------------------------------------------- Santurkar et al. (2018): smoothness along the gradient

def _loss_and_grad(model, x, y):
    model.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.item(), torch.cat([p.grad.flatten() for p in model.parameters()])


class _SmoothnessProbe(Callback):
    """Every `every` steps, before the optimizer step: from the weights w and the batch's
    gradient g, the losses L(w − η·g) and gradient changes for η = lr·f, f in `factors`."""

    def __init__(self, lr, every, factors):
        self.lr, self.every, self.factors = lr, every, factors
        self.out = {"step": [], "loss_range": [], "grad_change": [], "loss": []}

    def on_after_backward(self, state):
        if state.step % self.every:
            return
        model, (x, y) = state.model, state.batch
        loss0 = state.history.step_loss[-1]
        g0 = torch.cat([p.grad.flatten() for p in model.parameters()])
        losses, changes = [loss0], []
        for f in self.factors:
            probe = copy.deepcopy(model)
            with torch.no_grad():
                for p, gp in zip(probe.parameters(), model.parameters(), strict=True):
                    p -= self.lr * f * gp.grad
            loss, g = _loss_and_grad(probe, x, y)
            losses.append(loss)
            changes.append(((g - g0).norm() / g0.norm()).item())
        bad = not all(math.isfinite(v) for v in losses + changes)
        self.out["step"].append(state.step)
        self.out["loss"].append(loss0)
        self.out["loss_range"].append(math.inf if bad else max(losses) - min(losses))
        self.out["grad_change"].append(math.inf if bad else max(changes))


def smoothness_run(model, prepared, lr, steps=300, probe_every=30, factors=(0.5, 1, 2, 4),
                   batch_size=64, seed=0):
    """Train ``model`` with SGD(lr); every ``probe_every`` steps, on the current batch with
    gradient g, step to w − η·g for η = lr·f (f in ``factors``, train-mode statistics) and measure

    - the loss variation: max − min of {L(w − ηg)} (with L(w)),
    - the gradient change: max ‖∇L(w − ηg) − ∇L(w)‖ / ‖∇L(w)‖ (Santurkar et al.'s "gradient
      predictiveness", normalised so nets with different gradient scales compare),

    Returns {"step", "loss_range", "grad_change", "loss"} arrays (a NaN probe → inf; the run
    stops where its own loss is not finite)."""
    probe = _SmoothnessProbe(lr, probe_every, factors)
    return _probed_run(model, prepared, lr, steps, batch_size, seed, probe)


def smoothness_figure(runs: dict) -> Figure:
    """Loss variation and gradient change along the gradient, per probe, one line per run."""
    fig, axes = plots.new_figure(ncols=2, size=(11, 3.8))
    for i, (name, r) in enumerate(runs.items()):
        axes[0].plot(r["step"], r["loss_range"], "o-", color=plots.COLORS[i], label=name)
        axes[1].plot(r["step"], r["grad_change"], "o-", color=plots.COLORS[i], label=name)
    axes[0].set(xlabel="training step", ylabel="max − min of L(w − ηg)", yscale="log",
                title="loss variation along the gradient")
    axes[1].set(xlabel="training step", ylabel="max ‖∇L(w − ηg) − ∇L(w)‖ / ‖∇L(w)‖",
                yscale="log", title="gradient change along the gradient")
    for ax in axes:
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_locator(LogLocator(subs=(2, 5)))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    axes[0].legend()
    return fig


# ----------------------------------------------------------------------- running statistics

def running_stats_trace(momentum=0.1, batch_size=32, steps=200, mean=2.0, std=3.0, seed=0):
    """PyTorch's update on batches of N(mean, std²) values, from running_mean = 0, running_var = 1:
    running ← (1 − m)·running + m·batch statistic, with the unbiased batch variance (n − 1).
    Returns (running_mean, running_var) after each step, float64 arrays of length ``steps``."""
    if not 0 < momentum <= 1:
        raise ValueError(f"momentum must be in (0, 1], got {momentum!r}")
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (the unbiased variance divides by n − 1), "
                         f"got {batch_size!r}")
    x = np.random.default_rng(seed).normal(mean, std, (steps, batch_size))  # one batch a row
    batch_means, batch_vars = x.mean(axis=1).tolist(), x.var(axis=1, ddof=1).tolist()
    rm, rv = 0.0, 1.0
    means, variances = [], []
    for xm, xv in zip(batch_means, batch_vars, strict=True):
        rm = (1 - momentum) * rm + momentum * xm
        rv = (1 - momentum) * rv + momentum * xv
        means.append(rm)
        variances.append(rv)
    return np.array(means), np.array(variances)


def settle_steps(momentum, fraction=0.01):
    """Steps t until the initial error has shrunk to ``fraction``: (1 − m)^t ≤ fraction
    (1 for momentum 1: the running value is the last batch's)."""
    if not 0 < momentum <= 1:
        raise ValueError(f"momentum must be in (0, 1], got {momentum!r}")
    if momentum == 1:
        return 1
    return math.ceil(math.log(fraction) / math.log(1 - momentum))


def ema_noise_std(momentum, batch_size, std=3.0):
    """Steady-state std of the running mean: √(m/(2 − m)) · σ/√B (an EMA of i.i.d. batch means)."""
    return math.sqrt(momentum / (2 - momentum)) * std / math.sqrt(batch_size)


STEPS_AXIS = (20, 30, 50, 100, 150, 300, 500, 1000)  # x ends: the data fills ≥ half the width


def _steps_axis(steps):
    """The x axis' right end for ``steps`` steps: the first of STEPS_AXIS that is ≥ steps, so
    the axis (and its tick labels) changes only at a few step counts (200-300 share 300)."""
    return next((end for end in STEPS_AXIS if end >= steps), steps)


def _running_stats_update(fig, momentum=0.1, batch_size=32, steps=200):
    """Show the running statistics for these parameters in `running_stats_figure`'s artists:
    data, the band, the settle line and the title change (the legends never: the settle step is
    in the title, so they are not redrawn); the limits change only when the
    number of steps passes an end of STEPS_AXIS."""
    mean, std = 2.0, 3.0
    rm, rv = running_stats_trace(momentum, batch_size, steps, mean, std)
    t = np.arange(1, steps + 1)
    a, b = fig.axes
    band = 2 * ema_noise_std(momentum, batch_size, std)
    a.patches[0].set_y(mean - band)
    a.patches[0].set_height(2 * band)
    a.lines[0].set_data(t, rm)
    b.lines[0].set_data(t, rv)
    k = settle_steps(momentum)
    for ax in (a, b):
        ax.lines[2].set_xdata([k, k])  # beyond the axis when k > its end
        end = _steps_axis(steps)
        if ax.get_xlim() != (0, end):
            ax.set_xlim(0, end)
    a.set_title(f"momentum {momentum:g}, batch {batch_size}: (1 − m)^t < 1 % at t = {k}")


RUNNING_STATS_CONTROLS = {
    "momentum": widgets.LogRange(0.001, 1.0, 0.1),
    "batch_size": (2, 256, 2),
    "steps": (20, 1000, 20),
}


@widgets.register_widget(controls=RUNNING_STATS_CONTROLS, update=_running_stats_update)
def running_stats_figure(momentum: float = 0.1, batch_size: int = 32, steps: int = 200) -> Figure:
    """Running mean and variance of PyTorch's BatchNorm on batches from N(2, 3²), starting from
    (0, 1); the dashed line marks the step where the start-up error is below 1 %, the band the
    steady-state noise ±2·√(m/(2 − m))·σ/√B of the running mean."""
    fig, (a, b) = plots.new_figure(ncols=2, size=(11, 3.8))
    # the band changes with the sliders: drawn above the grid and the axes' ticks (zorder 1.5),
    # so that a redraw does not draw them again (lib.blitting)
    # (axhspan(0, 1), as a Rectangle: axhspan gives a Polygon, without set_y, before 3.9)
    a.add_patch(Rectangle((0, 0), 1, 1, transform=a.get_yaxis_transform(), color="C0",
                          alpha=0.15, label="±2 noise std", zorder=1.6))
    a.plot([], [], color="C0", label="running_mean")
    a.axhline(2.0, color="k", lw=1, label="true mean 2")
    b.plot([], [], color="C1", label="running_var")
    b.axhline(3.0**2, color="k", lw=1, label="true variance 9")
    for ax in (a, b):
        ax.axvline(0, color="0.4", ls="--", lw=1, label="(1 − m)^t < 1 % (start-up error)")
    _running_stats_update(fig, momentum, batch_size, steps)
    for ax in (a, b):
        ax.set_xlabel("training step")
        ax.legend(fontsize=8, loc="upper right")
    a.set(ylim=(-0.5, 4.5))
    b.set(title="the running variance (unbiased batch variance)", ylim=(0, 22))
    return fig


def train_mode_accuracy(model, x, y, batch_size, sort_by_class=False):
    """Accuracy with the model (wrongly) left in TRAIN mode: each test batch of ``batch_size``
    is normalized by its own statistics. Works on a copy, so the model's running statistics
    are not changed. sort_by_class: the batches are class-sorted (e.g. images arriving grouped)."""
    model = copy.deepcopy(model)
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if sort_by_class:
        order = torch.from_numpy(np.argsort(y.numpy(), kind="stable"))
        x, y = x[order], y[order]
    return accuracy(model, x, y, batch_size=batch_size, train_mode=True)


# --------------------------------------------------------------------------------- BN in CNNs

def images(prepared, pool=2):
    """(N, 784) → (N, 1, 28/pool, 28/pool) float tensors for every split of a Prepared (a new
    Prepared); ``pool`` = 2 averages 2×2 blocks (14×14 images: a CNN trains 4× faster)."""
    if pool not in (1, 2, 4):
        raise ValueError(f"pool must be 1, 2 or 4, got {pool!r}")

    def as_images(x):
        x = torch.as_tensor(x).reshape(-1, 1, 28, 28)
        return nn.AvgPool2d(pool)(x) if pool > 1 else x

    return bookdata.Prepared(as_images(prepared.x_train), torch.as_tensor(prepared.y_train),
                             as_images(prepared.x_val), torch.as_tensor(prepared.y_val),
                             as_images(prepared.x_test), torch.as_tensor(prepared.y_test),
                             prepared.classes, prepared.mean, prepared.std)


def placement_cnn(where="before", channels=(8, 16), generator=0):
    """models.cnn's layout with BatchNorm2d before the ReLU (conv without bias → BN → ReLU, the
    paper's choice) or after it (conv with bias → ReLU → BN)."""
    if where not in ("before", "after"):
        raise ValueError(f"where must be 'before' or 'after', got {where!r}")

    def make():
        layers, c_in = [], 1
        for c in channels:
            conv = nn.Conv2d(c_in, c, 3, padding=1, bias=where == "after")
            unit = [conv, nn.BatchNorm2d(c), nn.ReLU()]
            layers += unit if where == "before" else [conv, nn.ReLU(), nn.BatchNorm2d(c)]
            layers.append(nn.MaxPool2d(2))
            c_in = c
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 10)]
        return nn.Sequential(*layers)

    with torch.random.fork_rng(devices=[]):
        model = make()
    return models.init_weights_(model, "default", generator)


# name -> the layer for C channels (None: none); "instance" = GroupNorm(C, C) = InstanceNorm2d
# with a per-channel affine; "layer" = GroupNorm(1, C) as in models.NORMS
NORM_LAYERS = {
    "none": None,
    "batch": lambda c: nn.BatchNorm2d(c),
    "group": lambda c: nn.GroupNorm(models.GROUPS, c),
    "layer": lambda c: nn.GroupNorm(1, c),
    "instance": lambda c: nn.InstanceNorm2d(c, affine=True),
}


def cnn_with(norm="batch", channels=(8, 16), generator=0):
    """models.cnn(channels) with the norm layer ``norm`` (a NORM_LAYERS name) after every conv."""
    if norm not in NORM_LAYERS:
        raise ValueError(f"unknown norm {norm!r}; allowed: {', '.join(NORM_LAYERS)}")
    model = models.cnn(channels=channels, norm=None if norm == "none" else "batch",
                       generator=generator)
    if norm in ("none", "batch"):
        return model
    for i, m in enumerate(model):
        if isinstance(m, nn.BatchNorm2d):
            model[i] = NORM_LAYERS[norm](m.num_features)
    return model


# ------------------------------------------------------------------------- the axes, as cubes

CUBE_AXES = {  # name -> (which axes of (N, C, HW) one statistic spans; the drawn set)
    "BatchNorm": "statistics per channel over (N, H, W)",
    "LayerNorm": "per sample over (C, H, W)",
    "InstanceNorm": "per sample and channel over (H, W)",
    "GroupNorm": "per sample and group of channels over (C/G, H, W)",
}


def _cube_mask(name, n=4, c=6, hw=5, groups=2):
    """Boolean (N, C, HW) mask of ONE normalization set (the highlighted statistic): channel 0
    for BatchNorm, the last sample for the others (the faces the cube figure shows)."""
    mask = np.zeros((n, c, hw), dtype=bool)
    if name == "BatchNorm":
        mask[:, 0, :] = True
    elif name == "LayerNorm":
        mask[-1, :, :] = True
    elif name == "InstanceNorm":
        mask[-1, 0, :] = True
    elif name == "GroupNorm":
        mask[-1, : c // groups, :] = True
    else:
        raise ValueError(f"unknown normalization {name!r}; allowed: {', '.join(CUBE_AXES)}")
    return mask


def cube_figure() -> Figure:
    """Wu & He (2018), Fig. 2, drawn from the masks: the (N, C, H·W) block of activations, and in
    blue the values that share one mean and variance."""
    fig = Figure(figsize=(13, 3.8))
    for i, name in enumerate(CUBE_AXES):
        ax = fig.add_subplot(1, 4, i + 1, projection="3d")
        mask = _cube_mask(name)  # axes x = N, y = C, z = H·W
        colors = np.where(mask, "#4c72b0", "#e8e8e8")
        ax.voxels(np.ones_like(mask), facecolors=colors, edgecolor="0.55", linewidth=0.4)
        ax.set_xlabel("N", labelpad=-12)
        ax.set_ylabel("C", labelpad=-12)
        ax.set_zlabel("H, W", labelpad=-12)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
        ax.set_box_aspect(mask.shape)
        ax.view_init(elev=22, azim=-58)
        ax.set_title(f"{name}\n{CUBE_AXES[name]}", fontsize=9)
    return fig


# ---------------------------------------------------------------- effects: learning rate, init

@torch.no_grad()
def scaled_init_(model, scale):
    """Multiply every Linear/Conv2d weight by ``scale`` (a deliberately bad initial scale)."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.weight.mul_(scale)
    return model


DEEP = [784] + [100] * 9 + [10]  # the chapter's deep MLP: 10 Linear layers
SWEEP_LRS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def _sweep_data(n_train):
    return bookdata.fashion_mnist(n_train=n_train, n_val=1000)


@functools.lru_cache(maxsize=16)  # chapter 05 trains the seed slider's sweeps up front
def _lr_sweep(seed, n_train, epochs):
    prepared = _sweep_data(n_train)
    out = {}
    for norm in (None, "batch"):
        for lr in SWEEP_LRS:
            model = models.mlp(DEEP, norm=norm, init="kaiming_normal", generator=seed)
            h = train(model, prepared, lr, epochs=epochs, seed=seed)
            curve = np.array(h.epoch["val_acc"] + [np.nan] * (epochs - len(h.epoch["val_acc"])))
            loss = np.array(h.step_loss, dtype=float)
            loss.setflags(write=False)
            curve.setflags(write=False)
            out[(norm or "none", lr)] = {"val_acc": curve, "step_loss": loss,
                                         "diverged_at": h.diverged_at}
    return out


def lr_sweep(seed=0, n_train=3000, epochs=2):
    """{(norm, lr): {"val_acc" per epoch (NaN after divergence), "step_loss", "diverged_at"}} for
    the 10-layer ReLU MLP (He init) without / with BatchNorm, SGD at each lr of SWEEP_LRS.
    Cached (read-only arrays): the widget and the chapter share one sweep per seed."""
    return _lr_sweep(seed, n_train, epochs)


def final_acc(result):
    """Last validation accuracy of a sweep entry, 0.1 (chance) if it diverged."""
    acc = result["val_acc"][-1]
    return 0.1 if result["diverged_at"] is not None or not np.isfinite(acc) else float(acc)


LR_SWEEP_CONTROLS = {"lr": widgets.Values(SWEEP_LRS), "seed": (0, 4, 1)}
LOSS_LIM = (0.5, 12)  # the left panel's y range: every smoothed loss of seeds 0-4 is in 0.63-10
_NORM_LABELS = {"none": "no normalization", "batch": "BatchNorm"}


def _lr_sweep_update(fig, lr=0.3, seed=0):
    """Show the runs at ``lr`` (the nearest of SWEEP_LRS) of ``seed``'s sweep in the artists of
    `lr_sweep_figure`: only data, labels and texts change (the limits are fixed), so a redraw
    blits."""
    sweep = lr_sweep(seed)
    lr = min(SWEEP_LRS, key=lambda v: abs(math.log(v / lr)))
    a, b = fig.axes
    legend = a.get_legend()
    for i, norm in enumerate(("none", "batch")):
        r = sweep[(norm, lr)]
        loss = r["step_loss"][np.isfinite(r["step_loss"])]
        label = _NORM_LABELS[norm]
        if r["diverged_at"] is not None:
            label += f" (diverged at step {r['diverged_at']})"
        a.lines[i].set_data(np.arange(1, len(loss) + 1), np.minimum(plots.smooth(loss, 0.9), 10))
        a.lines[i].set_label(label)
        if legend is not None:
            legend.get_texts()[i].set_text(label)
        b.lines[i].set_ydata([final_acc(sweep[(norm, v)]) for v in SWEEP_LRS])
    b.lines[2].set_xdata([lr, lr])
    a.set_title(f"SGD, lr = {lr:g}, seed {seed}")


@widgets.register_widget(controls=LR_SWEEP_CONTROLS, continuous_update=False,
                         update=_lr_sweep_update)
def lr_sweep_figure(lr: float = 0.3, seed: int = 0) -> Figure:
    """Training loss of the 10-layer MLP without and with BatchNorm at one learning rate of the
    sweep (left), and the final validation accuracy against the learning rate (right). Fixed
    axes (all runs of seeds 0-4 fit), so learning rates and seeds compare at a glance."""
    fig, (a, b) = plots.new_figure(ncols=2, size=(11, 3.8))
    steps = 2 * math.ceil(3000 / 64)  # lr_sweep's runs: 2 epochs of 3000 images, batch 64
    for i, norm in enumerate(("none", "batch")):
        a.plot([], [], color=plots.COLORS[i])
        b.plot(SWEEP_LRS, np.zeros(len(SWEEP_LRS)), "o-", color=plots.COLORS[i],
               label=_NORM_LABELS[norm])
    b.axvline(lr, color="0.5", ls="--", lw=1)
    _lr_sweep_update(fig, lr, seed)
    pad = 0.05 * (steps - 1)  # matplotlib's default margins around steps 1..steps
    a.set(xlabel="step", ylabel="training loss (EMA 0.9, clipped at 10)", yscale="log",
          xlim=(1 - pad, steps + pad), ylim=LOSS_LIM)
    a.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    a.yaxis.set_minor_locator(LogLocator(subs=(2, 5)))
    a.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    a.legend(fontsize=8, loc="upper right")
    b.set(xscale="log", xlabel="learning rate", ylabel="final validation accuracy",
          ylim=(0, 1), title="after 2 epochs (diverged = 0.1)")
    b.set_xlim(b.get_xlim())  # fixed: the learning rates of the sweep
    b.legend(fontsize=8, loc="upper right")
    return fig


def sweep_figure(xs, results: dict, xlabel, title) -> Figure:
    """Final accuracy against a swept value, one line per {label: [acc per x]}."""
    fig, ax = plots.new_figure(size=(5.5, 3.8))
    for i, (label, accs) in enumerate(results.items()):
        ax.plot(xs, accs, "o-", color=plots.COLORS[i], label=label)
    ax.set(xscale="log", xlabel=xlabel, ylabel="final validation accuracy", ylim=(0, 1),
           title=title)
    ax.legend(fontsize=8)
    return fig


# ------------------------------------------------------- scale invariance and the weight norm

class WeightNorms(Callback):
    """The norm of each hidden Linear weight after every epoch."""

    def __init__(self):
        self.norms = []

    def on_epoch_end(self, state):
        self.norms.append([m.weight.norm().item() for m in state.model
                           if isinstance(m, nn.Linear)][1:-1])


def weight_norms(model, prepared, lr, epochs, weight_decay=0.0, seed=0):
    """Train ``model`` (momentum 0.9) and return (History, array (epochs + 1, layers) of the
    hidden Linear weights' norms, starting with the initial ones)."""
    first = [m.weight.norm().item() for m in model if isinstance(m, nn.Linear)][1:-1]
    cb = WeightNorms()
    h = train(model, prepared, lr, epochs=epochs, seed=seed, momentum=0.9,
              weight_decay=weight_decay, callbacks=[cb])
    return h, np.array([first] + cb.norms)


# ------------------------------------------------------------ dropout before BN: variance shift

@torch.no_grad()
def dropout_bn_variances(model, x):
    """For each BatchNorm1d that follows a Dropout (through a Linear): the per-unit variance of
    its input in TRAIN mode (dropout on, what its running_var estimates) and in EVAL mode
    (dropout off, what it meets at test time). Returns a list of (var_train, var_eval) arrays."""
    inputs = {}
    bns = [m for m in model if isinstance(m, nn.BatchNorm1d)][1:]  # the first sees no dropout
    hooks = [bn.register_forward_hook(lambda m, inp, out, i=i: inputs.__setitem__(i, inp[0]))
             for i, bn in enumerate(bns)]
    was = model.training
    model = copy.deepcopy(model)  # a train-mode pass must not touch the original's statistics
    out = []
    for mode in (True, False):
        model.train(mode)
        model(torch.as_tensor(x))
        out.append([inputs[i].var(0).numpy() for i in range(len(bns))])
    model.train(was)
    for h in hooks:
        h.remove()
    return list(zip(*out, strict=True))


# ---------------------------------------------------------------------------------- timings

def time_forward(model, x, repeat=7):
    """Best-of-``repeat`` seconds for one no-grad forward pass of ``model`` on ``x``."""
    import time

    best = math.inf
    with torch.no_grad():
        model(x)
        for _ in range(repeat):
            t = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t)
    return best


def batch_size_figure(batch_sizes, results: dict) -> Figure:
    """Validation error against batch size, one line per norm ({label: [acc per batch size]})."""
    fig, ax = plots.new_figure(size=(5.5, 3.8))
    for i, (label, accs) in enumerate(results.items()):
        ax.plot(batch_sizes, 100 * (1 - np.asarray(accs)), "o-", color=plots.COLORS[i],
                label=label)
    ax.set(xscale="log", xlabel="batch size (images per GPU in Wu & He)",
           ylabel="validation error (%)", title="error against batch size")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(batch_sizes)
    ax.set_xticklabels([str(b) for b in batch_sizes])
    ax.invert_xaxis()
    ax.legend(fontsize=8)
    return fig
