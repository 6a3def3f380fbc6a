"""Figures, widget and experiments of chapter 08 (the training doctor).

The gallery of broken runs and the doctor live in `lib.sick_runs` and `lib.doctor`; this module
only draws them, runs the chapter's depth and recipe experiments, and does the CNN arithmetic.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn
from torch.nn import functional as F

from lib import data as bookdata
from lib import models, plots, widgets
from lib.doctor import diagnose
from lib.sick_runs import N_TRAIN, NUM_CLASSES, SickRun, run_spec
from lib.train import LayerStats, LRScheduler, fit

# ---------------------------------------------------------------- the hook: five sick runs

HOOK_KINDS = ("lr_far_too_high", "lr_too_low", "bad_init", "overfit", "unshuffled")


def step_curve(history, beta=0.9):
    """The finite step losses of a run, and their exponential moving average (beta)."""
    loss = np.array([v for v in history.step_loss if math.isfinite(v)])
    return loss, plots.smooth(loss, beta)


def hook_figure(histories: dict, labels=None) -> Figure:
    """One panel per run: the step loss (light) and its smoothed curve, with the validation loss
    per epoch as dots; `labels` replaces the titles (e.g. "run A", … before the diagnosis)."""
    names = list(histories)
    labels = labels or names
    fig, axes = plots.new_figure(ncols=len(names), size=(2.6 * len(names), 3.0))
    for i, (ax, name) in enumerate(zip(np.atleast_1d(axes), names, strict=True)):
        h = histories[name]
        loss, smooth = step_curve(h)
        steps = np.arange(1, len(loss) + 1)
        ax.plot(steps, loss, color=plots.COLORS[i % len(plots.COLORS)], alpha=0.25, lw=0.8)
        ax.plot(steps, smooth, color=plots.COLORS[i % len(plots.COLORS)], lw=1.8, label="train")
        val = [v for v in h.epoch.get("val_loss", []) if v is not None and math.isfinite(v)]
        if val:
            ax.plot(h.epoch["step"][:len(val)], val, "o", color="black", ms=3.5,
                    label="validation")
        if h.diverged_at is not None:
            ax.annotate(f"NaN at step {h.diverged_at}", xy=(0.5, 0.9), xycoords="axes fraction",
                        ha="center", fontsize=9, color="crimson")
        ax.set_yscale("log")
        ax.set(title=labels[i], xlabel="step")
        if i == 0:
            ax.set_ylabel("loss (log scale)")
            ax.legend(fontsize=8, loc="lower left")
    return fig


# ---------------------------------------------------------------- the arithmetic of depth

def depth_products(factors=(0.9, 1.0, 1.1), depth=100):
    """{factor: factor ** k for k = 0..depth} (float64): a signal multiplied by the same factor in
    every layer."""
    k = np.arange(depth + 1, dtype=np.float64)
    return {f: np.float64(f) ** k for f in factors}


def layer_grad_norms(history, key="grad_norm"):
    """(names, steps, array[record, layer]) of `key` for the layers with weights (LayerStats'
    non-None gradient records), in model order."""
    stats = history.layer_stats
    names = [n for n, s in stats.items() if s.get(key) and s[key][0] is not None]
    values = np.array([stats[n][key] for n in names], dtype=float).T
    return names, list(stats[names[0]]["step"]), values


def deep_mlp_run(activation, init, seed, depth=20, steps=150, every=50, lr=0.05):
    """A plain MLP of `depth` Linear layers (width 64) on 2000 Fashion-MNIST images, SGD with
    momentum 0.9 at `lr`; LayerStats records the gradients at step 1 and every `every` steps."""
    sizes = (784,) + (64,) * (depth - 1) + (10,)
    spec = SickRun(f"{depth} {activation} layers, {init} init", None, sizes=sizes,
                   activation=activation, init=init, epochs=math.ceil(steps / 40),
                   optimizer=functools.partial(torch.optim.SGD, lr=lr, momentum=0.9))
    return run_spec(spec, seed, callbacks=[LayerStats(every=every, first=True)])


def grad_profile_figure(runs: dict) -> Figure:
    """Per-layer gradient norm (log scale) against the layer index, one panel per run, one curve
    per recorded step."""
    fig, axes = plots.new_figure(ncols=len(runs), size=(5.4 * len(runs), 3.6))
    for ax, (title, h) in zip(np.atleast_1d(axes), runs.items(), strict=True):
        names, steps, values = layer_grad_norms(h)
        for j, step in enumerate(steps):
            ax.plot(np.arange(1, len(names) + 1), values[j], "o-", ms=3,
                    color=plots.COLORS[j % len(plots.COLORS)], label=f"step {step}")
        ax.set_yscale("log")
        ax.set(title=title, xlabel="weight layer (1 = next to the input)",
               ylabel="‖∂L/∂W‖ of the layer")
        ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------- the doctor's confusion table

def confusion_matrix(table: dict, expected: dict):
    """(rows = kinds, cols = finding names, counts array) from sick_runs.confusion_table; the
    columns are the expected findings in the rows' order, then any other finding, then "none"."""
    rows = list(table)
    cols = []
    for kind in rows:
        e = expected.get(kind) or "none"
        if e not in cols:
            cols.append(e)
    for counts in table.values():
        cols += [c for c in counts if c not in cols]
    counts = np.array([[table[r].get(c, 0) for c in cols] for r in rows])
    return rows, cols, counts


def confusion_figure(table: dict, expected: dict) -> Figure:
    """The kind × top-finding counts as a grid of numbers, the expected cell outlined."""
    rows, cols, counts = confusion_matrix(table, expected)
    fig, ax = plots.new_figure(size=(9.5, 0.42 * len(rows) + 2.4))
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, counts.max()), aspect="auto")
    for i, kind in enumerate(rows):
        for j, col in enumerate(cols):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if counts[i, j] > counts.max() / 2 else "black")
            if col == (expected.get(kind) or "none"):
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                                          lw=1.5, ec="crimson"))
    ax.set_xticks(range(len(cols)), cols, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set(xlabel="the doctor's first finding", ylabel="what was broken",
           title="red box: the expected first finding (healthy runs: none, or a mild one)")
    ax.grid(False)
    return fig


# ---------------------------------------------------------------- oscillation vs noise

def residual_stats(history, window=10):
    """How a loss curve scatters around its own trend: (relative std of the step losses around
    their centred moving average of `window` steps; in how many windows of `window` steps the
    mean climbs 25 % above the first window's; the drop from the first window's mean to the
    last's, as a fraction of the first)."""
    loss, _ = step_curve(history)
    trend = np.convolve(loss, np.ones(window) / window, mode="valid")
    resid = loss[window // 2: window // 2 + len(trend)] - trend
    rel = float(np.std(resid / trend))
    n = len(loss) // window * window
    w = loss[:n].reshape(-1, window).mean(axis=1)
    rises = int(np.sum(w[1:] > 1.25 * w[0]))
    return rel, rises, float(1 - w[-1] / w[0])


def oscillation_figure(runs: dict) -> Figure:
    """The step loss of each run (light) with its 10-step moving average, one panel each."""
    fig, axes = plots.new_figure(ncols=len(runs), size=(5.4 * len(runs), 3.4))
    for i, (ax, (title, h)) in enumerate(zip(np.atleast_1d(axes), runs.items(), strict=True)):
        loss, _ = step_curve(h)
        trend = np.convolve(loss, np.ones(10) / 10, mode="valid")
        ax.plot(np.arange(1, len(loss) + 1), loss, color=plots.COLORS[i], alpha=0.35, lw=0.8,
                label="step loss")
        ax.plot(np.arange(len(trend)) + 5.5, trend, color="black", lw=1.5,
                label="10-step moving average")
        ax.set(title=title, xlabel="step", ylabel="training loss")
        ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------- CNN arithmetic

def conv_params(c_in, c_out, k, bias=False):
    """Weights of a k×k convolution from c_in to c_out channels (+ c_out biases)."""
    return c_in * c_out * k * k + (c_out if bias else 0)


def stacked_receptive_field(kernels, strides=None):
    """Receptive field of a stack of convolutions: r = 1 + Σ (k_i − 1)·Π_{j<i} s_j."""
    strides = strides or [1] * len(kernels)
    r, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        r += (k - 1) * jump
        jump *= s
    return r


def one_vs_stack(channels, big=7, small=3):
    """One big×big convolution vs a stack of small×small ones with the same receptive field
    (C channels in and out, no biases): {name: (layers, params, receptive field,
    non-linearities)}."""
    n = (big - 1) // (small - 1)
    return {f"one {big}×{big}": (1, conv_params(channels, channels, big),
                                 stacked_receptive_field([big]), 1),
            f"{n} × {small}×{small}": (n, n * conv_params(channels, channels, small),
                                       stacked_receptive_field([small] * n), n)}


def count_params(module):
    return sum(p.numel() for p in module.parameters())


def block_costs(channels=256, bottleneck=64, size=56):
    """Parameters and multiply-adds (one image, size×size map, stride 1, no biases, BN ignored)
    of He et al.'s two blocks at `channels` in/out: the basic block (two 3×3 convs at C) and the
    bottleneck (1×1 to `bottleneck`, 3×3 at `bottleneck`, 1×1 back to C). Counted by formula and
    checked against torch.nn modules."""
    c, b = channels, bottleneck
    basic = [nn.Conv2d(c, c, 3, padding=1, bias=False), nn.Conv2d(c, c, 3, padding=1, bias=False)]
    neck = [nn.Conv2d(c, b, 1, bias=False), nn.Conv2d(b, b, 3, padding=1, bias=False),
            nn.Conv2d(b, c, 1, bias=False)]
    out = {}
    for name, convs, formula in (("basic (2 × 3×3)", basic, 2 * conv_params(c, c, 3)),
                                 ("bottleneck (1×1, 3×3, 1×1)", neck,
                                  conv_params(c, b, 1) + conv_params(b, b, 3)
                                  + conv_params(b, c, 1))):
        params = sum(count_params(m) for m in convs)
        assert params == formula, (name, params, formula)
        out[name] = (params, params * size * size)  # stride 1: each weight used once per pixel
    return out


# ---------------------------------------------------------------- the degradation problem

DEPTH_BLOCKS = (1, 6)  # resnet(widths=(8, 16), blocks=b): 4·b + 2 weight layers: 6 and 26


@functools.lru_cache(maxsize=2)
def small_images(n_train=2000, n_val=500):
    """Fashion-MNIST average-pooled to 14×14 (4× fewer pixels: the deep CNNs fit the CPU
    budget), as tensors (x_train, y_train, x_val, y_val)."""
    fm = bookdata.fashion_mnist(n_train=n_train, n_val=n_val, flatten=False)

    def down(x):
        return nn.AvgPool2d(2)(torch.as_tensor(x).reshape(-1, 1, 28, 28))

    return (down(fm.x_train), torch.as_tensor(fm.y_train), down(fm.x_val),
            torch.as_tensor(fm.y_val))


class _TensorBatches:
    """Batches of (x, y) tensors in a new order every epoch from np.random.default_rng(seed)."""

    def __init__(self, x, y, batch_size, seed):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed)

    def __iter__(self):
        order = torch.as_tensor(self.rng.permutation(len(self.y)))
        for start in range(0, len(order), self.batch_size):
            i = order[start:start + self.batch_size]
            yield self.x[i], self.y[i]


def train_small_cnn(model, seed, epochs=3, batch_size=64, lr=0.05, momentum=0.9,
                    weight_decay=0.0, milestone=None, every=None):
    """Train `model` on the 14×14 images with SGD; the learning rate is divided by 10 every
    `milestone` epochs (None: constant). When `every` is given, LayerStats records the main
    path's convolutions and Linear layer (not the 1×1 shortcuts) at step 1 and every `every`
    steps."""
    x, y, xv, yv = small_images()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                          weight_decay=weight_decay)
    weights = [n for n, m in model.named_modules()  # the main path's weight layers
               if isinstance(m, (nn.Conv2d, nn.Linear)) and "shortcut" not in n]
    callbacks = [LayerStats(weights, every=every, first=True)] if every else []
    if milestone:
        sched = torch.optim.lr_scheduler.StepLR(opt, milestone, gamma=0.1)
        callbacks.append(LRScheduler(sched, interval="epoch"))
    return fit(model, F.cross_entropy, opt, _TensorBatches(x, y, batch_size, seed), [(xv, yv)],
               epochs=epochs, callbacks=callbacks, device="cpu", progress=False)


def degradation_runs(seed, blocks=DEPTH_BLOCKS, epochs=3, every=30):
    """{(weight layers, "plain" | "residual"): History} for resnet(widths=(8, 16), blocks=b) with
    BatchNorm, He init, residual=False / True, trained with train_small_cnn."""
    out = {}
    for b in blocks:
        for kind in ("plain", "residual"):
            model = models.resnet(widths=(8, 16), blocks=b, residual=kind == "residual",
                                  generator=seed)
            out[(4 * b + 2, kind)] = train_small_cnn(model, seed, epochs=epochs, every=every)
    return out


def final_train_loss(history, last=30):
    """Mean step loss over the last `last` steps (the training loss at the end of the run)."""
    return float(np.mean(history.step_loss[-last:]))


def degradation_figure(runs: dict) -> Figure:
    """Left: smoothed training loss of the four nets; right: per-layer gradient norm at step 1
    (dashed) and at the last record (solid) for the deepest plain and residual nets."""
    fig, (a, b) = plots.new_figure(ncols=2, size=(11.5, 3.8))
    depths = sorted({d for d, _ in runs})
    for (depth, kind), h in runs.items():
        _, smooth = step_curve(h, beta=0.95)
        a.plot(np.arange(1, len(smooth) + 1), smooth,
               color=plots.COLORS[0 if kind == "plain" else 1],
               ls="-" if depth == depths[-1] else ":", label=f"{kind}, {depth} layers")
    a.set(xlabel="step", ylabel="training loss (smoothed)", title="training loss")
    a.legend(fontsize=8)
    deep = depths[-1]
    for kind, color in (("plain", plots.COLORS[0]), ("residual", plots.COLORS[1])):
        names, steps, values = layer_grad_norms(runs[(deep, kind)])
        x = np.arange(1, len(names) + 1)
        b.plot(x, values[0], "o--", ms=3, color=color, label=f"{kind}, step {steps[0]}")
        b.plot(x, values[-1], "o-", ms=3, color=color, label=f"{kind}, step {steps[-1]}")
    b.set_yscale("log")
    b.set(xlabel="weight layer (1 = next to the input)", ylabel="‖∂L/∂W‖",
          title=f"gradient norms, {deep}-layer nets")
    b.legend(fontsize=8, ncols=2)
    return fig


# ---------------------------------------------------------------- the ResNet recipe, in small

RECIPES = {
    "He et al. 2016": {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "norm": "batch",
                       "init": "kaiming_normal", "milestone": 3},
    "naive": {"lr": 0.01, "momentum": 0.0, "weight_decay": 0.0, "norm": None,
              "init": "default", "milestone": None},
}


def recipe_runs(seed, epochs=4, blocks=2):
    """{recipe name: History}: resnet(widths=(8, 16), blocks) on the 14×14 images with each
    recipe of RECIPES (batch 64 instead of 256: 2000 images)."""
    out = {}
    for name, r in RECIPES.items():
        model = models.resnet(widths=(8, 16), blocks=blocks, norm=r["norm"], init=r["init"],
                              generator=seed)
        out[name] = train_small_cnn(model, seed, epochs=epochs, lr=r["lr"],
                                    momentum=r["momentum"], weight_decay=r["weight_decay"],
                                    milestone=r["milestone"])
    return out


# ---------------------------------------------------------------- interactive lab: breakage grid

SGD, Adam = torch.optim.SGD, torch.optim.Adam
HEALTHY_SPEC = SickRun("SGD with momentum 0.9, lr 0.05, batch 50", None)
# breakage -> (what the severity changes, {severity 1..3: SickRun}); severity 0 = the healthy run
BREAKAGES = {
    "learning rate too high": ("SGD lr (momentum 0.9, tanh net)", {
        s: SickRun(f"tanh net, SGD lr {lr:g}", "diverged" if lr >= 3 else "lr_too_high",
                   activation="tanh",
                   optimizer=functools.partial(SGD, lr=lr, momentum=0.9))
        for s, lr in ((1, 0.3), (2, 1.0), (3, 3.0))}),
    "learning rate too low": ("SGD lr (no momentum)", {
        s: SickRun(f"SGD lr {lr:g}", "lr_too_low", optimizer=functools.partial(SGD, lr=lr))
        for s, lr in ((1, 1e-2), (2, 1e-3), (3, 1e-4))}),
    "initial weights too large": ("every weight ×", {
        s: SickRun(f"weights ×{k:g}", "initial_loss", weight_scale=k)
        for s, k in ((1, 3.0), (2, 10.0), (3, 30.0))}),
    "dead ReLUs (negative bias)": ("first-layer bias", {
        s: SickRun(f"first-layer bias {b:g}", "dead_units", first_bias=b)
        for s, b in ((1, -1.0), (2, -3.0), (3, -10.0))}),
    "too little data": ("training images (256-unit net, Adam)", {
        s: SickRun(f"{n} images", "overfitting", sizes=(784, 256, 10), batch_size=20,
                   optimizer=functools.partial(Adam, lr=1e-3), subset=n, epochs=3000 // n)
        for s, n in ((1, 1000), (2, 300), (3, 100))}),
    "batch too small": ("batch size (SGD lr 0.03, 800 images)", {
        s: SickRun(f"batch {b}", "small_batch_noise", batch_size=b, subset=800, epochs=1,
                   optimizer=functools.partial(SGD, lr=0.03))
        for s, b in ((1, 20), (2, 5), (3, 2))}),
}


HEALTHY = ("healthy", 0)


def _run_key(breakage, severity):
    """The grid's key of the run a breakage shows at a severity (0: the healthy run)."""
    return HEALTHY if severity == 0 else (breakage, severity)


def _spec(key) -> SickRun:
    return HEALTHY_SPEC if key == HEALTHY else BREAKAGES[key[0]][1][key[1]]


@functools.lru_cache(maxsize=256)
def breakage_run(key, seed=0):
    """(History, findings) of one run of the grid, `key` = ("healthy", 0) or (breakage,
    severity): trained on first use, then cached (a new seed in the lab trains only the run it
    shows)."""
    h = run_spec(_spec(key), seed)
    return h, diagnose(h, num_classes=NUM_CLASSES)


def breakage_grid(seed=0):
    """{(breakage, severity): (History, findings)} for every breakage of BREAKAGES at severities
    1-3, and ("healthy", 0) for the healthy run (each run computed once per seed, cached)."""
    keys = [HEALTHY] + [(name, s) for name, (_, specs) in BREAKAGES.items() for s in specs]
    return {key: breakage_run(key, seed) for key in keys}


def _steps(spec) -> int:
    """Optimizer steps of a run: batches per epoch × epochs."""
    return math.ceil((spec.subset or N_TRAIN) / spec.batch_size) * spec.epochs


# The loss range (log scale) each breakage is shown in at every severity, 0 included, so the
# severities compare on the same axes: whole decades around the runs of seeds 0-4. A run that
# leaves it (another seed) widens it to the decades that hold its curves.
BREAKAGE_YLIM = {
    "learning rate too high": (0.1, 100.0),
    "learning rate too low": (0.1, 10.0),
    "initial weights too large": (0.1, 1000.0),
    "dead ReLUs (negative bias)": (0.1, 10.0),
    "too little data": (1e-3, 10.0),
    "batch too small": (1e-5, 10.0),
}


def _breakage_limits(breakage, values):
    """((0, x max), (y min, y max)) of the loss panel: x up to the breakage's longest run at any
    severity (5 % margin), y the breakage's range of BREAKAGE_YLIM widened to whole decades if
    `values` (the curves shown) leave it."""
    most = max(_steps(_spec(_run_key(breakage, s))) for s in range(4))
    lo, hi = BREAKAGE_YLIM[breakage]
    positive = values[values > 0]
    if len(positive):
        lo = min(lo, 10.0 ** math.floor(math.log10(positive.min())))
        hi = max(hi, 10.0 ** math.ceil(math.log10(positive.max())))
    return (0.0, 1.05 * most), (lo, hi)


def findings_text(findings, n=3, width=62):
    """The first n findings as short wrapped text (name, severity, symptom)."""
    import textwrap

    if not findings:
        return "no findings: the doctor sees nothing wrong"
    lines = []
    for f in findings[:n]:
        lines.append(f"[{f.severity}] {f.name} ({f.confidence:.0%}) → chapter {f.chapter}")
        lines += textwrap.wrap(f.symptom, width, initial_indent="   ",
                               subsequent_indent="   ")[:4]
    return "\n".join(lines)


def _breakage_update(fig, breakage="learning rate too high", severity=2, seed=0):
    key = _run_key(breakage, severity)
    h, findings = breakage_run(key, seed)
    ax, tx = fig.axes
    loss, smooth = step_curve(h)
    steps = np.arange(1, len(loss) + 1)
    raw, sm, val = ax.lines
    raw.set_data(steps, loss)
    sm.set_data(steps, smooth)
    vs = [v for v in h.epoch.get("val_loss", []) if v is not None and math.isfinite(v)]
    val.set_data(h.epoch["step"][:len(vs)], vs)
    xlim, ylim = _breakage_limits(breakage, np.concatenate([loss, smooth, vs]))
    if ax.get_xlim() != xlim:  # the same limits: the redraw blits
        ax.set_xlim(xlim)
    if ax.get_ylim() != ylim:
        ax.set_ylim(ylim)
    what = (f"{breakage}, severity 0 = the healthy run" if severity == 0
            else f"{breakage}, severity {severity}")
    ax.title.set_text(f"{what}: {_spec(key).what}" + (f" (NaN at step {h.diverged_at})"
                                                      if h.diverged_at is not None else ""))
    tx.texts[0].set_text(findings_text(findings))


BREAKAGE_CONTROLS = {"breakage": list(BREAKAGES), "severity": (0, 3, 1), "seed": (0, 4, 1)}


@widgets.register_widget(controls=BREAKAGE_CONTROLS, update=_breakage_update,
                         continuous_update=False)
def breakage_figure(breakage: str = "learning rate too high", severity: int = 2,
                    seed: int = 0) -> Figure:
    """A run with one breakage at a severity (0 = the healthy run): its step loss, smoothed, and
    validation loss per epoch (left, log scale), and the doctor's first three findings (right).
    Each run is trained once, when first shown (`breakage_run`); the axes keep one range per
    breakage (`_breakage_limits`), so a redraw only changes data and text."""
    fig, (ax, tx) = plots.new_figure(ncols=2, size=(11.5, 3.8))
    ax.plot([], [], color=plots.COLORS[0], alpha=0.3, lw=0.8)
    ax.plot([], [], color=plots.COLORS[0], lw=1.8, label="training loss (smoothed)")
    ax.plot([], [], "o", color="black", ms=4, label="validation loss per epoch")
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="loss (log scale)")
    ax.set_title(" ", fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    tx.axis("off")
    tx.text(0.0, 1.0, "", va="top", ha="left", family="monospace", fontsize=8,
            transform=tx.transAxes)
    _breakage_update(fig, breakage, severity, seed)
    return fig
