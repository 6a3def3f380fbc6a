"""The Tour's first interactive figure: a small NumPy MLP learning a toy 2-D dataset."""

from __future__ import annotations

import copy
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


def _decision_boundary_update(fig, dataset="spirals", hidden=32, lr=1.0, epochs=300, seed=0):
    """Redraw `decision_boundary_demo`'s figure in place (both axes cleared and drawn again)."""
    model, x, y, history = train_toy_mlp(dataset, hidden, lr, epochs, seed)
    ax_data, ax_loss = fig.axes
    ax_data.cla()
    ax_loss.cla()
    plots.decision_boundary(model.forward, x, y, ax=ax_data, resolution=120)
    if history.diverged_at is not None:
        ax_data.set_title(f"diverged at step {history.diverged_at}")
    else:
        ax_data.set_title(f"{dataset}: {hidden} hidden units, "
                          f"train accuracy {history.epoch['train_acc'][-1]:.2f}")
    ax_loss.plot(np.arange(1, len(history.step_loss) + 1), history.step_loss)
    ax_loss.set(xlabel="step (full batch)", ylabel="cross-entropy loss", yscale="log",
                title=f"SGD, lr = {lr:.3g}")


# Each change retrains the net (about a second): redraw when a slider is released.
@register_widget(update=_decision_boundary_update, continuous_update=False, controls={
    "dataset": list(TOY_SETS), "hidden": (2, 64, 2), "lr": LogRange(0.01, 10.0, 0.1)})
def decision_boundary_demo(dataset="spirals", hidden=32, lr=1.0, epochs=300, seed=0):
    """Left: the trained net's class regions over the data; right: its training loss."""
    fig, _ = plots.new_figure(ncols=2, size=(10, 4))
    _decision_boundary_update(fig, dataset, hidden, lr, epochs, seed)
    return fig
