"""The Tour's first interactive figure: a small NumPy MLP learning a toy 2-D dataset."""

from __future__ import annotations

import copy
import math
from functools import lru_cache

import numpy as np

from lib import data, plots
from lib.numpy_ref.mlp import make_mlp, train_numpy
from lib.numpy_ref.optim import SGD
from lib.widgets import LogRange, register_widget

TOY_SETS = {
    "moons": data.make_moons,
    "circles": data.make_circles,
    "spirals": data.make_spirals,
    "xor": data.make_xor,
}


@lru_cache(maxsize=64)
def _train_toy_mlp(dataset, hidden, lr, epochs, seed):
    if dataset not in TOY_SETS:
        raise ValueError(f"unknown dataset {dataset!r}; allowed: {sorted(TOY_SETS)}")
    x, y = TOY_SETS[dataset](seed=seed)
    rng = np.random.default_rng(seed)
    model = make_mlp([2, hidden, int(y.max()) + 1], activation="relu",
                     init="kaiming_normal", rng=rng)
    history = train_numpy(model, SGD(model.params, lr=lr), x, y, epochs=epochs,
                          batch_size=len(x), rng=rng)
    model.eval()
    return model, x, y, history


def train_toy_mlp(dataset="spirals", hidden=32, lr=1.0, epochs=300, seed=0):
    """Train Linear(2, hidden) → ReLU → Linear(hidden, C) with full-batch SGD on a toy set.

    Returns (model, x, y, history), history the `History` of `train_numpy`. The training is
    cached (the same arguments train once), and every call returns fresh deep copies: changing
    the returned model, arrays or history never changes a later call's result.
    """
    return copy.deepcopy(_train_toy_mlp(dataset, hidden, lr, epochs, seed))


def _log_limits(values):
    """Limits of a log axis holding the finite positive `values`: the nearest 1-2-5 steps around
    them (so most slider steps keep the limits and the redraw blits)."""
    v = values[np.isfinite(values) & (values > 0)]
    if not len(v):
        return 0.1, 10.0
    low, high = 10.0 ** math.floor(math.log10(v.min())), 10.0 ** math.floor(math.log10(v.max()))
    lo = max(m * low for m in (1, 2, 5) if m * low <= v.min())
    hi = min(m * high for m in (1, 2, 5, 10) if m * high >= v.max())
    return lo, (hi if hi > lo else 2 * lo)


def _decision_boundary_update(fig, dataset="spirals", hidden=32, lr=1.0, epochs=300, seed=0):
    """Redraw `decision_boundary_demo`'s figure in place: new class regions and points, the new
    loss curve and titles (the axes and their ticks are kept)."""
    model, x, y, history = _train_toy_mlp(dataset, hidden, lr, epochs, seed)  # (read only)
    ax_data, ax_loss = fig.axes
    for artist in [*ax_data.collections]:  # the previous regions and points
        artist.remove()
    plots.decision_boundary(model.forward, x, y, ax=ax_data, resolution=120)
    for z, artist in enumerate(ax_data.collections):  # above the grid: a redraw leaves the
        artist.set_zorder(1.6 + 0.1 * z)                 # ticks in the stored background
    limits = ((x[:, 0].min() - 0.5, x[:, 0].max() + 0.5),
              (x[:, 1].min() - 0.5, x[:, 1].max() + 0.5))  # decision_boundary's grid (tight)
    if (ax_data.get_xlim(), ax_data.get_ylim()) != limits:
        ax_data.set(xlim=limits[0], ylim=limits[1])
    if history.diverged_at is not None:
        ax_data.title.set_text(f"diverged at step {history.diverged_at}")
    else:
        ax_data.title.set_text(f"{dataset}: {hidden} hidden units, "
                               f"train accuracy {history.epoch['train_acc'][-1]:.2f}")
    loss = np.asarray(history.step_loss, dtype=float)
    ax_loss.lines[0].set_data(np.arange(1, len(loss) + 1), loss)
    if ax_loss.get_ylim() != (ylim := _log_limits(loss)):
        ax_loss.set_ylim(ylim)
    ax_loss.title.set_text(f"SGD, lr = {lr:.3g}")


# Each change retrains the net (about a second): redraw when a slider is released.
@register_widget(update=_decision_boundary_update, continuous_update=False, controls={
    "dataset": list(TOY_SETS), "hidden": (2, 64, 2), "lr": LogRange(0.01, 10.0, 0.1)})
def decision_boundary_demo(dataset="spirals", hidden=32, lr=1.0, epochs=300, seed=0):
    """Left: the trained net's class regions over the data; right: its training loss (log
    scale, limits at 1-2-5 steps; the step axis spans all `epochs` full-batch steps)."""
    fig, (ax_data, ax_loss) = plots.new_figure(ncols=2, size=(10, 4))
    ax_data.set_title(" ")
    ax_loss.plot([], [])
    ax_loss.set(xlabel="step (full batch)", ylabel="cross-entropy loss", yscale="log",
                xlim=(1 - 0.05 * (epochs - 1), epochs + 0.05 * (epochs - 1)), title=" ")
    _decision_boundary_update(fig, dataset, hidden, lr, epochs, seed)
    return fig
