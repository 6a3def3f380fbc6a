"""Chapter 01 (activation functions): plain functions behind its figures, widgets and experiments.

Each figure function returns a `matplotlib.figure.Figure` (pyplot-free, see `lib.plots`) and has a
default for every parameter, so `lib.widgets.interactive_figure` can wrap it and tests and
benchmarks can call it directly.
"""

from __future__ import annotations

import functools
import math

import matplotlib as mpl
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import MaxNLocator
from torch import nn

from lib import data, models, plots, widgets
from lib.numpy_ref import activations as npa
from lib.numpy_ref.layers import Linear as NpLinear
from lib.numpy_ref.losses import cross_entropy as np_cross_entropy
from lib.numpy_ref.module import Sequential as NpSequential
from lib.numpy_ref.optim import SGD as NpSGD
from lib.torch_impl.activations import Maxout
from lib.widgets import register_widget

__all__ = [
    "ELEMENTWISE",
    "GALLERY",
    "LABELS",
    "INITS",
    "GRAD_NORM_ACTIVATIONS",
    "activation_curve",
    "autograd_curve",
    "gallery_figure",
    "peak_derivative",
    "gradient_regions",
    "saturation_figure",
    "layer_grad_norms",
    "grad_norms_at_init",
    "grad_norms_figure",
    "zigzag_problem",
    "sgd_path",
    "steps_to_reach",
    "zigzag_figure",
    "relu_toy",
    "relu_toy_figure",
    "never_active_units",
    "signal_through_layers",
    "zigzag_best_lr",
    "comparison_figure",
]

ELEMENTWISE = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "softplus")
GALLERY = (*ELEMENTWISE, "maxout")
LABELS = {
    "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "leaky_relu": "Leaky ReLU (0.01)",
    "prelu": "PReLU (a = 0.25)", "elu": "ELU (α = 1)", "gelu": "GELU", "silu": "SiLU / Swish",
    "softplus": "Softplus", "maxout": "Maxout",
}
# The gallery's 1-D maxout unit: max(−0.5x − 1, 0.3x, 1.5x − 1), a convex piecewise-linear bowl.
MAXOUT_SLOPES = np.array([-0.5, 0.3, 1.5])
MAXOUT_INTERCEPTS = np.array([-1.0, 0.0, -1.0])
# grad_norms_figure's init choices -> the `lib.models` init they use (biases 0 but for default)
INITS = {"default": "default", "xavier": "xavier_normal", "kaiming": "kaiming_normal"}
GRAD_NORM_ACTIVATIONS = ("sigmoid", "tanh", "relu", "gelu")  # grad_norms_figure's solid lines


def _check_name(name, allowed=GALLERY):
    if name not in allowed:
        raise ValueError(f"unknown activation {name!r}; allowed: {', '.join(allowed)}")


# ----------------------------------------------------------------------------- f and f′


def activation_curve(name: str, x) -> tuple[np.ndarray, np.ndarray]:
    """(f(x), f′(x)) from the NumPy reference; f′ = `backward(ones)`, the hand-written backward."""
    _check_name(name)
    x = np.asarray(x, dtype=np.float64)
    if name == "maxout":
        unit = npa.Maxout(1, 1, pieces=len(MAXOUT_SLOPES), rng=np.random.default_rng(0))
        unit.params["weight"][:, 0] = MAXOUT_SLOPES
        unit.params["bias"][...] = MAXOUT_INTERCEPTS
        f = unit.forward(x.reshape(-1, 1))
        return f.reshape(x.shape), unit.backward(np.ones_like(f)).reshape(x.shape)
    module = npa.get_activation(name)
    f = module.forward(x)
    return f, module.backward(np.ones_like(x))


def autograd_curve(name: str, x) -> tuple[np.ndarray, np.ndarray]:
    """(f(x), f′(x)) from PyTorch's built-in functions and autograd, in float64 (maxout: a tensor
    max over the gallery unit's pieces, since torch has no built-in maxout)."""
    _check_name(name)
    F = torch.nn.functional
    builtin = {
        "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
        "prelu": lambda t: F.prelu(t, torch.tensor([0.25], dtype=t.dtype)),
        "elu": F.elu, "gelu": F.gelu, "silu": F.silu, "softplus": F.softplus,
        "maxout": lambda t: (t[..., None] * torch.as_tensor(MAXOUT_SLOPES)
                             + torch.as_tensor(MAXOUT_INTERCEPTS)).amax(dim=-1),
    }[name]
    t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    f = builtin(t)
    f.sum().backward()
    return f.detach().numpy(), t.grad.numpy()


@functools.cache
def peak_derivative(name: str) -> float:
    """max |f′(x)| over x in [−20, 20] (fine grid): 1/4 for the sigmoid, 1 for tanh and ReLU."""
    return float(np.abs(activation_curve(name, np.linspace(-20, 20, 400_001))[1]).max())


def gallery_figure(xmax: float = 4.0) -> Figure:
    """f (solid) and f′ (dashed) of every activation of the chapter, on x in [−xmax, xmax]."""
    x = np.linspace(-xmax, xmax, 801)
    fig, axes = plots.new_figure(ncols=5, nrows=2, size=(15, 6))
    for ax, name in zip(axes.flat, GALLERY, strict=True):
        f, df = activation_curve(name, x)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.plot(x, f, color=plots.COLORS[0], label="f(x)")
        ax.plot(x, df, "--", color=plots.COLORS[3], label="f′(x)")
        ax.set_title(LABELS[name] + (" (3 pieces)" if name == "maxout" else ""))
        ax.set_ylim(-1.6, 3.2)
        if name == "leaky_relu":  # at this scale it looks like ReLU: zoom into the negative side
            inset = ax.inset_axes([0.22, 0.54, 0.34, 0.34])
            neg = x[x <= 0]
            f_neg, df_neg = activation_curve(name, neg)
            inset.plot(neg, f_neg, color=plots.COLORS[0])
            inset.plot(neg, df_neg, "--", color=plots.COLORS[3])
            inset.axhline(0, color="0.6", lw=0.8)
            inset.set(ylim=(-0.045, 0.018), yticks=[-0.04, -0.02, 0], xticks=[-4, -2, 0])
            inset.tick_params(labelsize=7)
            inset.set_title("x < 0, zoomed", fontsize=7)
    for ax in axes[1]:
        ax.set_xlabel("x")
    axes[0, 0].legend(loc="upper left")
    return fig


# ----------------------------------------------------------------------------- saturation


def gradient_regions(name: str, z, flat_tol: float = 0.1) -> dict:
    """Fractions of the inputs z where the activation passes little gradient back:
    "flat": |f′(z)| < flat_tol · max|f′| (saturated, or ReLU's flat side); "zero": f′(z) = 0."""
    if not 0 < flat_tol < 1:
        raise ValueError(f"flat_tol must be in (0, 1), got {flat_tol!r}")
    return _regions(name, activation_curve(name, z)[1], flat_tol)


def _regions(name, df, flat_tol=0.1):
    df = np.abs(df)
    return {"flat": float(np.mean(df < flat_tol * peak_derivative(name))),
            "zero": float(np.mean(df == 0))}


# Output ranges of the bounded activations: their output histogram keeps these x limits.
_BOUNDED_OUTPUTS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def _output_range(activation: str, f: np.ndarray) -> tuple[float, float]:
    """x limits (and histogram range) of the outputs f: the activation's range if bounded, else
    [lo, hi] with the data's min and max rounded outwards to the 1-2-5 series (0 if one side is
    empty), so the limits change only when the outputs cross such a value."""
    if activation in _BOUNDED_OUTPUTS:
        return _BOUNDED_OUTPUTS[activation]
    fmin, fmax = float(f.min()), float(f.max())
    lo = -plots.nice_ceil(-fmin) if fmin < 0 else 0.0
    hi = plots.nice_ceil(fmax) if fmax > 0 else 0.0
    return (lo, hi) if hi > lo else (0.0, 1.0)


def _spans(x, where, y0, y1) -> list:
    """The polygons `fill_between(x, y0, y1, where=where)` fills: one rectangle per run of
    True in `where`, from its first x to its last (for `PolyCollection.set_verts`)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], where.astype(int), [0]])))
    return [np.array([(x[a], y0), (x[a], y1), (x[b - 1], y1), (x[b - 1], y0)])
            for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _saturation_update(fig, activation="sigmoid", mean=0.0, std=1.0, n=20_000, seed=0):
    """Redraw `saturation_figure`'s figure in place: artists keep their identity, the input panel
    its limits; the output panel's limits follow the 1-2-5 series (`_output_range`, counts)."""
    _check_name(activation)
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std!r}")
    z = np.random.default_rng(seed).normal(mean, std, n)
    f, dz = activation_curve(activation, z)
    regions = _regions(activation, dz)

    ax_in, ax_out = fig.axes
    inputs, outputs = ax_in.patches[0], ax_out.patches[0]
    (flat,) = ax_in.collections
    if getattr(flat, "activation", None) != activation:  # the f′ curve and flat regions
        grid = np.linspace(-12, 12, 1201)
        df = activation_curve(activation, grid)[1] / peak_derivative(activation)
        flat.set_verts(_spans(grid, np.abs(df) < 0.1, 0.0, 1.05))
        flat.activation = activation
        ax_in.lines[0].set_ydata(df)
    counts, edges = np.histogram(np.clip(z, -12, 12), bins=120, range=(-12, 12))
    inputs.set_data(counts / counts.max(), edges)
    ax_in.title.set_text(f"inputs z ~ N({mean:g}, {std:g}²)")  # (set_title touches all 3 titles)
    lo, hi = _output_range(activation, f)
    counts, edges = np.histogram(f, bins=80, range=(lo, hi))
    outputs.set_data(counts, edges)
    ax_out.xaxis.label.set_text(f"output {LABELS[activation]}(z)")
    ax_out.title.set_text(f"flat: {regions['flat']:.0%} of inputs · f′ = 0: {regions['zero']:.0%}")
    pad = 0.02 * (hi - lo)
    if ax_out.get_xlim() != (lo - pad, hi + pad):
        ax_out.set_xlim(lo - pad, hi + pad)
    top = min(plots.nice_ceil(1.25 * counts.max()), 1.05 * n)
    if ax_out.get_ylim() != (0, top):
        ax_out.set_ylim(0, top)


@register_widget(update=_saturation_update, controls={
    "activation": list(ELEMENTWISE), "mean": (-6.0, 6.0, 0.25),
    "std": widgets.LogRange(0.1, 8.0, 0.05)})
def saturation_figure(activation: str = "sigmoid", mean: float = 0.0, std: float = 1.0,
                      n: int = 20_000, seed: int = 0) -> Figure:
    """Inputs z ~ N(mean, std²) through one activation: where they land on f′ (flat regions shaded)
    and the histogram of the outputs f(z) (80 bins over the activation's range, or over the
    outputs' range rounded to 1-2-5 values), titled with the flat / zero-gradient fractions."""
    fig, (ax_in, ax_out) = plots.new_figure(ncols=2, size=(11, 3.8))
    edges = np.linspace(-12, 12, 121)
    grid = np.linspace(-12, 12, 1201)
    ax_in.stairs(np.zeros(120), edges, fill=True, color="0.75", label="inputs z (scaled)")
    ax_in.plot(grid, np.zeros(1201), color=plots.COLORS[0], label="f′(z) / peak f′")
    ax_in.fill_between(grid, 0, 1.05, where=np.zeros(grid.shape, bool), color=plots.COLORS[3],
                       alpha=0.12, lw=0, zorder=0.5, label="flat: |f′| < 10% of peak")
    ax_in.set(xlim=(-12, 12), ylim=(-0.15, 1.35), xlabel="pre-activation z")
    ax_out.stairs(np.zeros(80), np.linspace(0, 1, 81), fill=True, color=plots.COLORS[2])
    ax_out.set(xlabel=" ", ylabel="count")
    for ax in (ax_in, ax_out):  # titles drawn right below the histograms (they change together),
        plots.titles_at(ax, 0.9)  # not after the ticks: a redraw then skips the tick labels
    _saturation_update(fig, activation, mean, std, n, seed)
    ax_in.legend(loc="upper left", fontsize=9, ncols=2)
    return fig


# ----------------------------------------------------------------------------- gradient flow


def _weight_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Linear, Maxout))]


def layer_grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """‖∂L/∂W_l‖ (Frobenius) of every weight layer l = 1 (input side) … L for one cross-entropy
    forward/backward on the batch (x, y); the model's gradients are left zeroed."""
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    norms = np.array([m.weight.grad.norm().item() for m in _weight_layers(model)])
    model.zero_grad()
    return norms


def _read_only(array: np.ndarray) -> np.ndarray:
    """The array, flagged read-only: what a cache hands out must not be changed by a caller."""
    array.setflags(write=False)
    return array


@functools.lru_cache(maxsize=1)
def _fashion_arrays(n: int):
    prepared = data.fashion_mnist(n_train=n, n_val=1, n_test=1)
    return _read_only(prepared.x_train), _read_only(prepared.y_train)


def _fashion_batch(n: int = 256):
    """First n training images of the book's Fashion-MNIST (`data.fashion_mnist`: flattened,
    standardised with the training split's statistics) and their labels, as fresh tensors."""
    x, y = _fashion_arrays(n)
    return torch.tensor(x), torch.tensor(y)


class _GradPrefix:
    """The hidden layers of `lib.models.mlp([784, *[width] * depth, 10], activation, INITS[init],
    generator=seed)` and their forward pass on the batch, grown layer by layer on demand (autograd
    graph kept): the generator draws W_1, b_1, W_2, … in order, so hidden layer l is the same in
    every deeper net. Only the output layer depends on the depth: it is drawn from the generator
    as it is after hidden layer `depth` (its state is kept for every layer)."""

    def __init__(self, activation, init, width, seed):
        self.activation, self.init, self.width = activation, INITS[init], width
        self.generator = models.as_generator(seed)
        self.x, self.y = _fashion_batch()
        self.h, self.weights, self.states = [self.x], [], []

    def _new(self, cls, *args, **kwargs):
        with torch.random.fork_rng(devices=[]):  # construction must not touch the global RNG
            module = cls(*args, **kwargs)
        return models.init_weights_(module, self.init, self.generator)

    def grow(self, depth):
        while len(self.weights) < depth:
            fan_in = self.h[-1].shape[1]
            if self.activation == "maxout":
                layer = self._new(Maxout, fan_in, self.width, pieces=models.MAXOUT_PIECES)
                self.h.append(layer(self.h[-1]))
            else:
                layer = self._new(nn.Linear, fan_in, self.width)
                self.h.append(models.activation_layer(self.activation)(layer(self.h[-1])))
            self.weights.append(layer.weight)
            self.states.append(self.generator.get_state())
        return self

    def norms(self, depth):
        """`layer_grad_norms` of the net with `depth` hidden layers."""
        generator = torch.Generator()
        generator.set_state(self.states[depth - 1])
        with torch.random.fork_rng(devices=[]):
            out = nn.Linear(self.width, 10)
        models.init_weights_(out, self.init, generator)
        loss = nn.functional.cross_entropy(out(self.h[depth]), self.y)
        grads = torch.autograd.grad(loss, [*self.weights[:depth], out.weight], retain_graph=True)
        return np.array([g.norm().item() for g in grads])


@functools.lru_cache(maxsize=32)
def _grad_prefix(activation, init, width, seed):
    return _GradPrefix(activation, init, width, seed)


@functools.lru_cache(maxsize=1024)
def grad_norms_at_init(activation: str, depth: int, init: str = "default", width: int = 128,
                       seed: int = 0) -> np.ndarray:
    """`layer_grad_norms` of a fresh `lib.models.mlp` (784 → depth × width → 10, init INITS[init],
    generator seed) on the first 256 Fashion-MNIST training images (cached: read-only). The same
    numbers, computed fast: the hidden layers' forward pass is shared by all depths
    (`_GradPrefix`), so a new depth only runs an output layer and the backward pass."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; allowed: {', '.join(INITS)}")
    _check_name(activation)
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth!r}")
    return _read_only(_grad_prefix(activation, init, width, seed).grow(depth).norms(depth))


GRAD_NORMS_LEGEND = (0.22, 0.36)  # its legend's size (axes fractions, 5 entries), with a margin
DEPTH_BLOCK = 4  # grad_norms_figure: depths 2-5, 6-9, 10-13, … share their axes limits


def _depth_block(depth: int) -> range:
    """The depths whose figures share limits with `depth`'s (its block of DEPTH_BLOCK)."""
    first = 2 + (depth - 2) // DEPTH_BLOCK * DEPTH_BLOCK
    return range(first, first + DEPTH_BLOCK)


def _grad_norms_build(fig, activations):
    """grad_norms_figure's artists, data to come: a solid line per activation, a dashed one for
    `also`, the two notes (hidden)."""
    (ax,) = fig.axes
    ax.cla()
    ax.set_axisbelow(True)  # grid and ticks under the lines, the title right above them: a
    plots.titles_at(ax, 1.9)  # redraw of the lines then skips the tick labels (lib.blitting)
    for name in activations:
        ax.semilogy([], [], "-", marker="o", ms=3, label=LABELS[name])
    ax.semilogy([], [], "--", marker="o", ms=3, label="_also", visible=False)
    plots.note(ax, "select at least one activation")
    plots.note(ax, "", y=0.06)
    for note in ax.texts:
        note.set_visible(False)
    ax.set(xlabel="weight layer (1 = next to the input, last = output layer)", ylabel="‖∂L/∂W‖")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.grad_norms_activations = tuple(activations)


def _grad_norms_update(fig, depth=10, init="default", also="none",
                       activations=GRAD_NORM_ACTIVATIONS, width=128):
    """Redraw `grad_norms_figure`'s figure in place: same artists, new data. The axes limits
    are those of the whole block of depths (`_depth_block`: the layers of its deepest net, whole
    decades around all its norms), so they change once every DEPTH_BLOCK depths."""
    for name in (*activations, *([] if also == "none" else [also])):
        _check_name(name)
    if getattr(fig, "grad_norms_activations", None) != tuple(activations):
        _grad_norms_build(fig, activations)
    (ax,) = fig.axes
    names = list(activations) + ([] if also in ("none", *activations) else [also])
    empty, drawn = ax.texts
    empty.set_visible(not names)
    drawn.set_visible(also in activations)
    if also in activations:
        drawn.set_text(f"{LABELS[also]} is already drawn (solid line)")
    *solid, dashed = ax.lines
    dashed.set_visible(len(names) > len(activations))
    label = LABELS[also] if dashed.get_visible() else "_also"
    relabel = dashed.get_label() != label
    dashed.set_label(label)
    ax.title.set_text(f"gradient reaching each layer at init ({depth} hidden layers, {init} init)"
                      if names else "")
    if not names:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        return
    for line, name in zip([*solid, dashed], names, strict=False):
        norms = grad_norms_at_init(name, depth, init, width)
        line.set_data(np.arange(1, len(norms) + 1), norms)
    block = [d for d in _depth_block(depth) if d <= 30 or d == depth]
    values = np.concatenate([grad_norms_at_init(name, d, init, width)
                             for name in names for d in block])
    values = values[np.isfinite(values) & (values > 0)]
    lo, hi = (values.min(), values.max()) if values.size else (1e-3, 1.0)
    ylim = (10.0 ** math.floor(math.log10(lo / 1.5)), 10.0 ** math.ceil(math.log10(hi * 1.5)))
    xlim = (0.5, max(block) + 1.5)
    if ax.get_xlim() != xlim:
        ax.set_xlim(xlim)
    if ax.get_ylim() != ylim:
        ax.set_ylim(ylim)
    if ax.get_legend() is None or relabel:
        ax.legend(fontsize=9)
    plots.place_legend(ax.get_legend(), plots.free_corner(ax, GRAD_NORMS_LEGEND))


@register_widget(update=_grad_norms_update, controls={
    "depth": (2, 30, 1), "init": list(INITS),
    # `also` offers only the activations not already drawn as solid lines
    "also": ["none", *(n for n in GALLERY if n not in GRAD_NORM_ACTIVATIONS)]})
def grad_norms_figure(depth: int = 10, init: str = "default", also: str = "none",
                      activations: tuple = GRAD_NORM_ACTIVATIONS,
                      width: int = 128) -> Figure:
    """Per-layer weight-gradient norms at initialization (one batch of 256 Fashion-MNIST images),
    one line per activation (plus `also`, drawn dashed, unless "none"), log scale: how much
    gradient reaches each layer. Nothing selected: a note instead of blank axes; an `also` that
    is already drawn: a note saying so. Depths 2-5, 6-9, 10-13, … share the axes limits."""
    fig, _ = plots.new_figure(size=(7, 4))
    _grad_norms_update(fig, depth, init, also, activations, width)
    return fig


def signal_through_layers(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                          activation: str = "sigmoid") -> dict:
    """How much of the input's variation and of the loss's gradient each hidden layer passes on.

    For every hidden layer l of a `lib.models.mlp` (Linear → activation pairs): "flat", the share of
    pre-activations z_l on a flat part of f (`gradient_regions`); "spread", the mean over units
    of std over the images of z_l (how differently the layer sees different images); "grad",
    ‖∂L/∂z_l‖ (Frobenius, one cross-entropy backward on (x, y)). Also "logit_spread" (the same
    spread for the logits) and "loss"."""
    model.zero_grad()
    hidden = [m for m in model if isinstance(m, nn.Linear)][:-1]
    saved = []

    def keep(module, inputs, out):
        out.retain_grad()
        saved.append(out)

    hooks = [m.register_forward_hook(keep) for m in hidden]
    try:
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        loss.backward()
    finally:
        for h in hooks:
            h.remove()
    model.zero_grad()
    z = [t.detach().double().numpy() for t in saved]
    return {"flat": np.array([gradient_regions(activation, zl)["flat"] for zl in z]),
            "spread": np.array([zl.std(axis=0).mean() for zl in z]),
            "grad": np.array([t.grad.norm().item() for t in saved]),
            "logit_spread": float(logits.detach().double().std(dim=0).mean()),
            "loss": loss.item()}


# ----------------------------------------------------------------------------- zero-centring


def zigzag_problem(n: int = 200, centred: bool = False, seed: int = 0):
    """Least squares with a bias-free neuron: x = σ(z), z ~ N(0, I₂) (all-positive, like a sigmoid
    layer's outputs), or those x minus their mean; y = x·w*, w* = (1, −1). Returns (x, y, w*)."""
    x = npa.sigmoid(np.random.default_rng(seed).standard_normal((n, 2)))
    if centred:
        x = x - x.mean(axis=0)
    w_star = np.array([1.0, -1.0])
    return x, x @ w_star, w_star


def sgd_path(x, y, lr: float, steps: int, batch_size: int | None = 1, seed: int = 0,
             w0=(0.0, 0.0)) -> np.ndarray:
    """Weights visited by SGD on L(w) = ½·mean_batch (x·w − y)², starting at w0: shape (T+1, d).
    batch_size=None: full-batch gradient descent (every step uses all examples, in order).

    Stops early (shorter path) once |w| > 1e6: the run diverged.
    """
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    full_batch = batch_size is None
    rng = np.random.default_rng(seed)
    w = np.array(w0, dtype=np.float64)
    path = [w.copy()]
    for _ in range(steps):
        i = slice(None) if full_batch else rng.integers(len(x), size=batch_size)
        w = w - lr * ((x[i] @ w - y[i]) @ x[i]) / (len(x) if full_batch else batch_size)
        path.append(w.copy())
        if np.abs(w).max() > 1e6:
            break
    return np.array(path)


def steps_to_reach(path, target, tol: float = 0.05) -> int | None:
    """First step t with ‖w_t − target‖ < tol, or None if the path never gets there."""
    close = np.linalg.norm(np.asarray(path) - np.asarray(target), axis=1) < tol
    return int(np.argmax(close)) if close.any() else None


ZIGZAG_LRS = np.geomspace(0.1, 100, 31)  # the learning rates `zigzag_best_lr` tries


def zigzag_best_lr(centred: bool = False, seed: int = 0, steps: int = 300, tol: float = 0.05,
                   lrs=ZIGZAG_LRS) -> tuple[float, int]:
    """Full-batch gradient descent on `zigzag_problem(centred, seed)` with each lr of `lrs`:
    (the lr that gets within tol of w* in the fewest steps, that number of steps)."""
    x, y, w_star = zigzag_problem(centred=centred, seed=seed)
    reached = {}
    for lr in lrs:
        t = steps_to_reach(sgd_path(x, y, float(lr), steps, batch_size=None), w_star, tol)
        if t is not None:
            reached[float(lr)] = t
    if not reached:
        raise ValueError(f"no learning rate in lrs reaches w* within {steps} steps")
    best = min(reached, key=lambda lr: (reached[lr], lr))
    return best, reached[best]


def zigzag_figure(lr: float | None = None, steps: int = 40, seed: int = 0) -> Figure:
    """Full-batch gradient descent towards w* = (1, −1) with all-positive vs zero-centred inputs,
    each at its own best learning rate (`zigzag_best_lr`) unless `lr` is given, on the contours
    of the loss (log-spaced levels, so the valley floor is visible)."""
    fig, axes = plots.new_figure(ncols=2, size=(11, 4.6))
    w1, w2 = np.meshgrid(np.linspace(-0.6, 1.6, 160), np.linspace(-1.6, 0.6, 160))
    for ax, centred in zip(axes, (False, True), strict=True):
        x, y, w_star = zigzag_problem(centred=centred, seed=seed)
        step = zigzag_best_lr(centred, seed)[0] if lr is None else lr
        path = sgd_path(x, y, step, steps, batch_size=None)
        r = x[:, 0, None, None] * w1 + x[:, 1, None, None] * w2 - y[:, None, None]
        loss = 0.5 * (r**2).mean(axis=0)
        ax.contour(w1, w2, loss, levels=np.geomspace(1e-3, loss.max(), 14), colors="0.55",
                   linewidths=0.8)
        ax.plot(path[:, 0], path[:, 1], "-", marker=".", ms=4, color=plots.COLORS[0],
                label=f"gradient descent, lr = {step:.2g}")
        ax.plot(*path[0], "o", color=plots.COLORS[0])
        ax.plot(*w_star, "P", color="k", ms=10, label="w* = (1, −1)")
        eig = np.linalg.eigvalsh(x.T @ x / len(x))
        reach = steps_to_reach(path, w_star)
        ax.set(xlim=(-0.6, 1.6), ylim=(-1.6, 0.6), xlabel="w₁", ylabel="w₂", aspect="equal",
               xticks=np.arange(-0.5, 1.6, 0.5), yticks=np.arange(-1.5, 0.6, 0.5),
               title=("zero-centred inputs" if centred else "all-positive inputs (x = σ(z))")
               + f": κ = {eig[-1] / eig[0]:.1f}, "
               + (f"> {steps} steps" if reach is None else f"{reach} step{'s' * (reach != 1)}"))
        ax.legend(loc="lower left", fontsize=9)
    return fig


# ----------------------------------------------------------------------------- dead ReLUs


def relu_toy(bias: float = 0.0, lr: float = 0.1, steps: int = 200, width: int = 8,
             seed: int = 0) -> dict:
    """A 2 → width ReLU → 2 NumPy net on 200 two-moons points, hidden biases set to `bias`, trained
    by full-batch SGD for `steps` steps. Returns the data, the hidden layer's (W, b) at init and at
    the end, which units are dead (w·x + b ≤ 0 on every point), the final loss and accuracy.
    Cached: a fresh dict each call, its arrays read-only."""
    return dict(_relu_toy(bias, lr, steps, width, seed))


@functools.lru_cache(maxsize=256)
def _relu_toy(bias, lr, steps, width, seed):
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    x, y = data.make_moons(200, noise=0.1, seed=seed)
    rng = np.random.default_rng(seed)
    net = NpSequential(NpLinear(2, width, rng=rng), npa.ReLU(), NpLinear(width, 2, rng=rng))
    hidden = net[0].params
    hidden["bias"][...] = bias
    start = (hidden["weight"].copy(), hidden["bias"].copy())
    opt = NpSGD(net.params, lr=lr)
    loss = float("nan")
    for _ in range(steps):
        loss, dlogits = np_cross_entropy(net(x), y)
        if not math.isfinite(loss):
            break
        net.backward(dlogits)
        opt.step(net.grads)

    def dead(w, b):
        return np.all(x @ w.T + b <= 0, axis=0)

    end = (hidden["weight"].copy(), hidden["bias"].copy())
    run = {"x": x, "y": y, "start": start, "end": end, "dead_start": dead(*start),
           "dead_end": dead(*end)}
    for value in run.values():
        for array in value if isinstance(value, tuple) else (value,):
            _read_only(array)
    return {**run, "loss": loss, "acc": float(np.mean(net(x).argmax(axis=1) == y))}


RELU_TOY_LIM = (-2.0, 3.0, -1.6, 2.1)  # relu_toy_figure's fixed view (x₁ from, to, x₂ from, to)


def _draw_units(ax, x, y, w, b, dead, lim=RELU_TOY_LIM):
    """The data and each hidden unit's line w·x + b = 0, with a tick towards its active side."""
    for c, marker in ((0, "o"), (1, "s")):
        ax.scatter(*x[y == c].T, s=12, marker=marker, color=plots.COLORS[2 * c], alpha=0.6,
                   edgecolors="none")
    for _ in range(len(w)):
        ax.plot([], [], lw=1.2)
        ax.annotate("", xy=(0, 0), xytext=(0, 0), arrowprops={"arrowstyle": "->", "lw": 1.2})
    _set_units(ax, x, w, b, dead)
    x0, x1, y0, y1 = lim
    ax.set(xlim=(x0, x1), ylim=(y0, y1), aspect="equal", xlabel="x₁", ylabel="x₂")


def _set_units(ax, x, w, b, dead):
    """Move `_draw_units`' lines and ticks to the units (w, b); red and dashed if dead; a unit
    with w = 0 (no line) is hidden."""
    t = np.linspace(-10, 10, 3)
    center = x.mean(axis=0)
    arrows = [a for a in ax.texts if isinstance(a, Annotation)]
    for line, arrow, wi, bi, is_dead in zip(ax.lines, arrows, w, b, dead, strict=True):
        norm = np.linalg.norm(wi)
        line.set_visible(norm != 0)
        arrow.set_visible(norm != 0)
        if norm == 0:
            continue
        n = wi / norm
        p = center - (n @ center + bi / norm) * n  # the line's point closest to the data's centre
        d = np.array([-n[1], n[0]])
        color, style = (plots.COLORS[3], "--") if is_dead else ("0.25", "-")
        line.set(data=(p[0] + t * d[0] * 10, p[1] + t * d[1] * 10), linestyle=style, color=color)
        arrow.xy = tuple(p + 0.35 * n)
        arrow.set_position(tuple(p))
        arrow.arrowprops["color"] = color
        arrow.arrow_patch.set_color(color)
        arrow.stale = True  # (setting xy does not flag it)


def _relu_toy_update(fig, bias=0.0, lr=0.1, steps=200):
    """Redraw `relu_toy_figure`'s figure in place (same artists and limits, the units moved)."""
    run = relu_toy(bias, lr, steps)
    for ax, when in zip(fig.axes, ("start", "end"), strict=True):
        dead = run[f"dead_{when}"]
        if not ax.lines:  # a new figure: draw the data and the units' artists
            _draw_units(ax, run["x"], run["y"], *run[when], dead)
            plots.titles_at(ax, 0.9)  # drawn with the units (they change together), not after
            ax.set_axisbelow(True)  # the tick labels: a redraw then skips them (lib.blitting)
        else:
            _set_units(ax, run["x"], *run[when], dead)
        title = "at initialization" if when == "start" else f"after {steps} steps, lr = {lr:g}"
        ax.title.set_text(f"{title}: {dead.sum()} of {len(dead)} units dead")
    end = fig.axes[1]
    notes = [t for t in end.texts if not isinstance(t, Annotation)]
    note = notes[0] if notes else end.text(0.02, 0.02, "", transform=end.transAxes)
    if not math.isfinite(run["loss"]):
        note.set(text="diverged (loss NaN/inf)", position=(0.5, 0.5), ha="center",
                 color=plots.COLORS[3])
    else:
        note.set(text=f"train accuracy {run['acc']:.0%}", position=(0.02, 0.02), ha="left",
                 color=mpl.rcParams["text.color"])


# Each change retrains the net; the chapter redraws when a slider is released.
@register_widget(update=_relu_toy_update, continuous_update=False, controls={
    "bias": (-2.0, 1.0, 0.25), "lr": widgets.LogRange(0.01, 30.0)})
def relu_toy_figure(bias: float = 0.0, lr: float = 0.1, steps: int = 200) -> Figure:
    """The hidden ReLU units of `relu_toy` as lines over the data, at init and after training;
    arrows point to each unit's active side, dead units (no point on it) are red and dashed."""
    fig, _ = plots.new_figure(ncols=2, size=(11, 4.4))
    _relu_toy_update(fig, bias, lr, steps)
    return fig


def comparison_figure(experiment: dict, smoothing: float = 0.95) -> Figure:
    """Small multiples: one panel per activation, its training loss (smoothed) drawn over the
    others' in grey, titled with its validation accuracy. experiment: {name: {"history": History,
    "val_acc": float}} (keys from GALLERY)."""
    if not experiment:
        raise ValueError("experiment is empty: give at least one {name: {history, val_acc}}")
    curves = {name: plots.smooth(run["history"].step_loss, smoothing)
              for name, run in experiment.items()}
    ncols = min(5, len(curves))
    nrows = math.ceil(len(curves) / ncols)
    fig, axes = plots.new_figure(ncols=ncols, nrows=nrows, size=(2.8 * ncols, 2.5 * nrows))
    axes = np.atleast_2d(np.asarray(axes, dtype=object))
    for ax, name in zip(axes.flat, curves, strict=False):
        for other, curve in curves.items():
            if other != name:
                ax.plot(np.arange(1, len(curve) + 1), curve, color="0.82", lw=0.8)
        curve = curves[name]
        ax.plot(np.arange(1, len(curve) + 1), curve, color=plots.COLORS[0], lw=1.6)
        ax.set_title(f"{LABELS[name]}: val acc {experiment[name]['val_acc']:.2f}", fontsize=10)
        ax.set_ylim(0.3, 2.4)
    for ax in axes.flat[len(curves):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("optimizer step")
    for ax in axes[:, 0]:
        ax.set_ylabel("training loss")
    return fig


@torch.no_grad()
def never_active_units(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Per hidden `nn.Linear` (all but the last): how many units have pre-activation ≤ 0 on every
    row of x. Behind a ReLU these are dead: output 0 and gradient 0 for all these inputs."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]
    counts = []
    hooks = [m.register_forward_hook(lambda m, i, out: counts.append(int((out <= 0).all(0).sum())))
             for m in linears]
    try:
        model.eval()
        model(x.to(next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    return np.array(counts)
