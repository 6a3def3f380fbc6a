"""Plotting helpers in one style. Every helper returns a matplotlib `Figure` and never calls show().

Figures are made with `matplotlib.figure.Figure`, not pyplot, so Jupyter's inline backend does not
also draw them at the end of a cell: a notebook shows one by making it the cell's last value (or
with `display(fig)`), and widget callbacks can redraw without leaking figures. Helpers that take
`ax=` draw on that Axes instead and return its figure.
"""

from __future__ import annotations

import math

import matplotlib as mpl
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.ticker import MaxNLocator

__all__ = [
    "compare_runs_figure",
    "note",
    "use_style",
    "new_figure",
    "smooth",
    "plot_history",
    "image_grid",
    "decision_boundary",
    "contour_trajectories",
    "free_corner",
    "place_legend",
    "titles_at",
    "nice_ceil",
    "set_limits",
]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

STYLE = {
    "figure.figsize": (6.0, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.constrained_layout.use": True,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=COLORS),
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Apply the book's matplotlib style (`STYLE`) to the global rcParams.

    Also loads the configured backend now: in Jupyter that registers the inline backend's PNG
    display of figures, which pyplot-free figures need (pyplot otherwise loads it lazily).
    """
    import matplotlib.pyplot as plt

    plt.switch_backend(mpl.get_backend())
    mpl.rcParams.update(STYLE)


def new_figure(ncols=1, nrows=1, size=None):
    """(fig, axes) like `plt.subplots`, but pyplot-free. size=(w, h) inches, default 4.5 x 3.5 each.

    axes: one Axes for 1 x 1, else a NumPy array of Axes squeezed like pyplot's.
    """
    if size is None:
        size = (4.5 * ncols, 3.5 * nrows)
    fig = Figure(figsize=size)
    axes = fig.subplots(nrows, ncols)
    return fig, axes


def note(ax, text, y=0.5, clear=False) -> None:
    """A grey message across the axes at height y (axes coordinates), e.g. "select at least one
    optimizer" where a widget's selection is empty; clear=True also removes the ticks."""
    ax.text(0.5, y, text, transform=ax.transAxes, ha="center", va="center", color="grey",
            fontsize=11)
    if clear:
        ax.set_xticks([])
        ax.set_yticks([])


def smooth(values, beta=0.9) -> np.ndarray:
    """Exponential moving average with bias correction (as in Adam).

    m_t = beta m_{t-1} + (1 - beta) x_t with m_0 = 0, returned as m_t / (1 - beta^t), so the first
    points are not pulled towards 0. beta = 0 returns the values unchanged.
    """
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    values = np.asarray(values, dtype=float)
    out = np.empty_like(values)
    m = 0.0
    for t, x in enumerate(values, start=1):
        m = beta * m + (1 - beta) * x
        out[t - 1] = m / (1 - beta**t)
    return out


HISTORY_KEYS = ("loss", "acc", "lr")


def plot_history(history, keys=("loss", "acc"), smooth_beta=0.9, ax=None, label=None):
    """Training curves of a `lib.train.History`, one axes per key, x = optimizer step.

    "loss": per-step loss faint + its `smooth`-ed version, val loss at each epoch's end;
    "acc": train and val accuracy per epoch; "lr": the learning rate of each step.
    ax: an Axes (one key) or a sequence of Axes (one per key) to draw on, e.g. to overlay runs;
    `label` then prefixes the legend entries.
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    unknown = [k for k in keys if k not in HISTORY_KEYS]
    if unknown or not keys:
        raise ValueError(f"keys must be among {HISTORY_KEYS}, got {keys!r}")
    if ax is None:
        fig, axes = new_figure(ncols=len(keys))
        axes = np.atleast_1d(axes)
    else:
        axes = np.atleast_1d(ax)
        if len(axes) != len(keys):
            raise ValueError(f"got {len(axes)} axes for {len(keys)} keys")
        fig = axes[0].figure
    prefix = f"{label} " if label else ""
    ep = history.epoch
    for a, key in zip(axes, keys, strict=True):
        if key == "loss":
            steps = np.arange(1, len(history.step_loss) + 1)
            (line,) = a.plot(steps, smooth(history.step_loss, smooth_beta), label=f"{prefix}train")
            a.plot(steps, history.step_loss, color=line.get_color(), alpha=0.25, linewidth=1)
            if any(v is not None for v in ep["val_loss"]):
                a.plot(ep["step"], ep["val_loss"], "o--", color=line.get_color(),
                       label=f"{prefix}val")
            a.set_ylabel("loss")
        elif key == "acc":
            (line,) = a.plot(ep["step"], _nan_for_none(ep["train_acc"]), "o-",
                             label=f"{prefix}train")
            if any(v is not None for v in ep["val_acc"]):
                a.plot(ep["step"], _nan_for_none(ep["val_acc"]), "o--", color=line.get_color(),
                       label=f"{prefix}val")
            a.set_ylabel("accuracy")
        else:
            a.plot(np.arange(1, len(history.step_lr) + 1), history.step_lr, label=prefix or None)
            a.set_ylabel("learning rate")
        a.set_xlabel("step")
        if a.get_legend_handles_labels()[0]:
            a.legend()
    return fig


def _nan_for_none(values):
    return [np.nan if v is None else v for v in values]


def _to_numpy(a):
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def image_grid(images, labels=None, classes=None, ncols=10):
    """Images (N, H, W), (N, 1|3, H, W) or (N, H, W, 1|3) in a grid, titled by label/class name."""
    images = _to_numpy(images)
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)  # channels last
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"images must be (N, H, W) or (N, H, W, C) with N > 0, got {images.shape}")
    n = len(images)
    if labels is not None:
        labels = _to_numpy(labels)
        if len(labels) != n:
            raise ValueError(f"got {len(labels)} labels for {n} images")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(1.2 * ncols, 1.35 * nrows))
    for i, img in enumerate(images):
        a = fig.add_subplot(nrows, ncols, i + 1)
        a.imshow(img, cmap="gray" if img.ndim == 2 else None)
        a.set_axis_off()
        if labels is not None:
            label = int(labels[i])
            a.set_title(classes[label] if classes is not None else str(label), fontsize=9)
    return fig


def _class_colors(n):
    return ListedColormap([COLORS[i % len(COLORS)] for i in range(n)])


def _grid(xlim, ylim, resolution):
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    return np.meshgrid(xs, ys)


def decision_boundary(predict_fn, x, y, ax=None, resolution=200, padding=0.5):
    """Class regions of `predict_fn` over the data's range (+ `padding`) with the points on top.

    predict_fn maps an (M, 2) NumPy array to class ids (M,) or class probabilities / scores (M, C)
    (then the argmax is the class).
    """
    x, y = _to_numpy(x), _to_numpy(y).astype(int)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (N, 2), got {x.shape}")
    xx, yy = _grid((x[:, 0].min() - padding, x[:, 0].max() + padding),
                   (x[:, 1].min() - padding, x[:, 1].max() + padding), resolution)
    pred = _to_numpy(predict_fn(np.c_[xx.ravel(), yy.ravel()]))
    if pred.ndim == 2:
        pred = pred.argmax(axis=1)
    n_classes = int(max(pred.max(), y.max())) + 1
    cmap = _class_colors(n_classes)
    if ax is None:
        fig, ax = new_figure(size=(5, 4))
    ax.contourf(xx, yy, pred.reshape(xx.shape), levels=np.arange(n_classes + 1) - 0.5,
                cmap=cmap, alpha=0.3)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap=cmap, vmin=-0.5, vmax=n_classes - 0.5, s=14,
               edgecolors="white", linewidths=0.4)
    ax.set_aspect("equal")
    return ax.figure


def contour_trajectories(f, trajectories, xlim, ylim, levels=30, log_levels=True, ax=None,
                         resolution=200):
    """Contours of f(X, Y) (vectorised over grids) with optimizer paths {name: (T, 2) array}.

    log_levels: levels at z_min + geomspace(1e-3 span, span) with span = z_max - z_min, so the
    valley floor gets as many contours as the walls. Each path starts at a circle, ends at a star.
    """
    xx, yy = _grid(xlim, ylim, resolution)
    zz = np.asarray(f(xx, yy), dtype=float)
    if np.isscalar(levels) and log_levels:
        lo, span = np.nanmin(zz), np.nanmax(zz) - np.nanmin(zz)
        levels = lo + np.geomspace(1e-3 * span, span, int(levels))
    if ax is None:
        fig, ax = new_figure(size=(6, 4.5))
    ax.contour(xx, yy, zz, levels=levels, cmap="Greys", linewidths=0.8, alpha=0.8)
    for name, path in trajectories.items():
        path = _to_numpy(path)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"trajectory {name!r} must have shape (T, 2), got {path.shape}")
        (line,) = ax.plot(path[:, 0], path[:, 1], "-", marker=".", markersize=3, label=name)
        ax.plot(*path[0], "o", color=line.get_color())
        ax.plot(*path[-1], "*", color=line.get_color(), markersize=12)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    if trajectories:
        ax.legend(loc="best")
    return ax.figure


def compare_runs_figure(histories: dict, smooth_beta=0.95, log_loss=True, loss_cap=None):
    """Several `History`s: smoothed training loss per step (left), validation accuracy per
    epoch (right); a diverged run is labelled with its step. loss_cap: draw the loss clipped
    at this value, so that a diverging run does not squash the others into a flat line."""
    fig, (ax_loss, ax_acc) = new_figure(ncols=2, size=(12, 4.2))
    for i, (name, h) in enumerate(histories.items()):
        color = COLORS[i % len(COLORS)]
        label = name if h.diverged_at is None else f"{name} (diverged at step {h.diverged_at})"
        losses = np.array(h.step_loss, dtype=float)
        losses = losses[np.isfinite(losses)]
        shown = smooth(losses, smooth_beta)
        if loss_cap is not None:
            shown = np.minimum(shown, loss_cap)
        ax_loss.plot(np.arange(1, len(losses) + 1), shown, color=color, label=label)
        if h.epoch["val_acc"]:
            ax_acc.plot(h.epoch["epoch"], h.epoch["val_acc"], "o-", color=color, label=name)
    if log_loss:
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    cap = "" if loss_cap is None else f", clipped at {loss_cap:g}"
    ax_loss.set_ylabel(f"training loss (EMA, β = {smooth_beta:g}{cap})")
    ax_acc.set_xlabel("epoch")
    ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_acc.set_ylabel("validation accuracy")
    ax_loss.legend(fontsize=8)
    return fig


# ------------------------------------------- helpers of figures redrawn in place (lib.blitting)


def free_corner(ax, size) -> str:
    """Where to put a legend of `size` (width, height in axes fractions) so that ax's visible
    lines cross it least (the first such place in the order loc="best" tries them): placed by
    the data like loc="best", but decided when the data change, so that an in-place redraw need
    not draw the legend again (`lib.blitting`)."""
    to_axes = ax.transScale + ax.transLimits
    points = [np.zeros((0, 2))]
    for line in ax.lines:
        xy = np.asarray(line.get_xydata(), float)
        if line.get_visible() and len(xy):
            xy = to_axes.transform(xy)
            t = np.linspace(0, 1, 9)[:, None, None]  # points along each segment too
            points += [xy, (xy[:-1] + t * (xy[1:] - xy[:-1])).reshape(-1, 2)]
    x, y = np.concatenate(points).T
    w, h = size
    boxes = {"upper right": (1 - w, 1 - h), "upper left": (0, 1 - h), "lower left": (0, 0),
             "lower right": (1 - w, 0), "center left": (0, (1 - h) / 2),
             "center right": (1 - w, (1 - h) / 2), "lower center": ((1 - w) / 2, 0),
             "upper center": ((1 - w) / 2, 1 - h), "center": ((1 - w) / 2, (1 - h) / 2)}
    crossed = {loc: np.sum((x >= x0) & (x <= x0 + w) & (y >= y0) & (y <= y0 + h))
               for loc, (x0, y0) in boxes.items()}
    return min(crossed, key=crossed.get)


def place_legend(legend, loc) -> None:
    """Move a legend to loc (a name of `Legend.codes`), if it is not there (moving it redraws
    it). `Legend.set_loc` is public from matplotlib 3.8; 3.7 has the same method as `_set_loc`,
    which takes the location's code."""
    if getattr(legend, "corner", None) != loc:
        if hasattr(legend, "set_loc"):
            legend.set_loc(loc)
        else:
            legend._set_loc(Legend.codes[loc])
        legend.corner = loc


def titles_at(ax, zorder: float) -> None:
    """Draw ax's titles at this zorder (all three: `lib.blitting` keeps the centre title in place
    only if the empty left and right titles are in the same layer as it)."""
    for title in (ax.title, ax._left_title, ax._right_title):
        title.set_zorder(zorder)


def nice_ceil(value: float) -> float:
    """The smallest number of the 1-2-5 series (…, 0.5, 1, 2, 5, 10, …) that is ≥ value > 0."""
    decade = 10.0 ** math.floor(math.log10(value))
    return next(m * decade for m in (1, 2, 5, 10) if value <= m * decade * (1 + 1e-9))


def set_limits(ax, xlim=None, ylim=None) -> None:
    """Set an axes' limits where they differ (setting equal ones marks its axis as changed, and
    an in-place redraw would not blit)."""
    if xlim is not None and tuple(ax.get_xlim()) != tuple(map(float, xlim)):
        ax.set_xlim(xlim)
    if ylim is not None and tuple(ax.get_ylim()) != tuple(map(float, ylim)):
        ax.set_ylim(ylim)
