"""Chapter 02 (preprocessing and weight initialization): the plain functions behind its figures,
widgets and experiments. Figures are pyplot-free ``matplotlib.figure.Figure`` objects.

Signal propagation notation: inputs h₀ ~ N(0, 1), pre-activations y_l = h_{l−1} W_lᵀ (no bias),
activations h_l = φ(y_l), back-propagated errors δ_l = ∂L/∂y_l for a N(0, 1) gradient ∂L/∂h_L.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from matplotlib.figure import Figure

from lib import plots
from lib.numpy_ref import init
from lib.numpy_ref.activations import get_activation
from lib.numpy_ref.losses import cross_entropy
from lib.numpy_ref.mlp import make_mlp, train_numpy
from lib.numpy_ref.optim import SGD
from lib.plots import COLORS
from lib.preprocessing import PCA, Standardizer, ZCAWhitener
from lib.widgets import register_widget

__all__ = [
    "SCHEMES",
    "ACTIVATIONS",
    "propagate",
    "mean_field_stds",
    "explorer_data",
    "explorer_figure",
    "layer_histograms_figure",
    "correlated_cloud",
    "preprocessing_figure",
    "image_rows_figure",
    "gd_steps_to_converge",
    "train_mlp",
    "dead_unit_fraction",
]

# name -> f(shape, *, rng): weight of shape (fan_out, fan_in)
SCHEMES = {
    "N(0, 0.01²)": functools.partial(init.normal, std=0.01),
    "N(0, 1)": functools.partial(init.normal, std=1.0),
    "PyTorch default": functools.partial(init.kaiming_uniform, a=math.sqrt(5)),
    "LeCun normal": init.lecun_normal,
    "Xavier uniform": init.xavier_uniform,
    "Xavier normal": init.xavier_normal,
    "He normal": functools.partial(init.kaiming_normal, nonlinearity="relu"),
    "orthogonal": init.orthogonal,
}
ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")


def _phi(activation: str):
    """(f, f′) of an activation name in ACTIVATIONS ("linear" is the identity)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; allowed: {list(ACTIVATIONS)}")
    if activation == "linear":
        return (lambda y: y), np.ones_like
    module = get_activation(activation)
    return module.function, module.derivative


def _weight_fn(scheme):
    """A scheme name of SCHEMES, or a number σ meaning N(0, σ²)."""
    if isinstance(scheme, (int, float)) and not isinstance(scheme, bool):
        if scheme < 0:
            raise ValueError(f"a weight std must be >= 0, got {scheme}")
        return functools.partial(init.normal, std=float(scheme))
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; allowed: {list(SCHEMES)} or a std")
    return SCHEMES[scheme]


def propagate(
    scheme="Xavier normal",
    activation="tanh",
    depth=10,
    width=256,
    n_samples=200,
    seed=0,
    keep=(),
    backward=True,
) -> dict:
    """Send N(0, 1) inputs through ``depth`` bias-free width×width layers h_l = φ(h_{l−1} W_lᵀ),
    then (``backward=True``) a N(0, 1) gradient ∂L/∂h_L back from the top:
    δ_l = (δ_{l+1} W_{l+1}) ⊙ φ′(y_l).

    Returns {"pre_std", "act_std", "act_rms", "grad_std": arrays over layers 1..depth (grad_std
    is NaN without backward), "activations": {l: h_l for l in keep}}.
    """
    if depth < 1 or width < 1 or n_samples < 2:
        raise ValueError(
            f"need depth, width >= 1 and n_samples >= 2, got {depth}, {width}, {n_samples}"
        )
    f, df = _phi(activation)
    weight = _weight_fn(scheme)
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n_samples, width))
    pre_std, act_std, act_rms, kept, weights, pres = [], [], [], {}, [], []
    for layer in range(1, depth + 1):
        w = weight((width, width), rng=rng)
        y = h @ w.T
        h = f(y)
        pre_std.append(y.std())
        act_std.append(h.std())
        act_rms.append(np.sqrt(np.mean(h**2)))
        if layer in keep:
            kept[layer] = h
        if backward:
            weights.append(w)
            pres.append(y)
    grad_std = np.full(depth, np.nan)
    if backward:
        g = rng.standard_normal(h.shape)
        for layer in range(depth, 0, -1):
            delta = g * df(pres[layer - 1])
            grad_std[layer - 1] = delta.std()
            g = delta @ weights[layer - 1]
    return {
        "pre_std": np.array(pre_std),
        "act_std": np.array(act_std),
        "act_rms": np.array(act_rms),
        "grad_std": grad_std,
        "activations": kept,
    }


def _gauss_moments(activation: str, q: float) -> tuple[float, float]:
    """(E[φ(y)], E[φ(y)²]) for y ~ N(0, q): closed form for relu/linear, else Gauss–Hermite."""
    if activation == "relu":
        return math.sqrt(q / (2 * math.pi)), q / 2
    if activation == "linear":
        return 0.0, q
    z, w = np.polynomial.hermite_e.hermegauss(101)
    w = w / w.sum()
    v = _phi(activation)[0](math.sqrt(q) * z)
    return float(w @ v), float(w @ v**2)


def mean_field_stds(activation: str, n_var: float, depth: int, input_m2: float = 1.0) -> np.ndarray:
    """Infinite-width prediction of std(h_l), l = 1..depth, for weights with n·Var(w) = ``n_var``:
    q_l = n_var·E[h_{l−1}²] is the variance of y_l, E[h_l²] = E[φ(y)²] with y ~ N(0, q_l)."""
    m2, stds = input_m2, []
    for _ in range(depth):
        mean, m2 = _gauss_moments(activation, n_var * m2)
        stds.append(math.sqrt(max(m2 - mean**2, 0.0)))
    return np.array(stds)


def _hist_layers(depth: int) -> tuple[int, ...]:
    return tuple(sorted({1, (depth + 1) // 2, depth}))


def _read_only(arrays):
    """Mark every array in a (nested) dict read-only, so a cached result cannot be changed."""
    for value in arrays.values():
        if isinstance(value, dict):
            _read_only(value)
        else:
            value.setflags(write=False)
    return arrays


class _Prefix:
    """The forward pass of `propagate` for one (scheme, activation, width), grown layer by layer
    on demand: layer l's weights, pre-activations and activations do not depend on the depth (one
    random stream draws the inputs, then W_1, W_2, …), so every depth shares them. Only the
    backward pass depends on the depth: its top gradient is drawn from the stream as it is
    after W_depth (kept for every layer)."""

    def __init__(self, scheme, activation, width, n_samples, seed):
        self.f, self.df = _phi(activation)
        self.weight, self.width = _weight_fn(scheme), width
        self.rng = np.random.default_rng(seed)
        self.h = [self.rng.standard_normal((n_samples, width))]  # h_0, h_1, …
        self.w, self.y, self.states, self.act_std = [], [], [], []

    def grow(self, depth):
        while len(self.w) < depth:
            w = self.weight((self.width, self.width), rng=self.rng)
            y = self.h[-1] @ w.T
            self.w.append(w)
            self.y.append(y)
            self.h.append(self.f(y))
            self.act_std.append(self.h[-1].std())
            self.states.append(self.rng.bit_generator.state)
        return self

    def grad_std(self, depth):
        """std of δ_l, l = 1..depth, for the net of `depth` layers (as `propagate` draws it)."""
        rng = np.random.Generator(type(self.rng.bit_generator)())
        rng.bit_generator.state = self.states[depth - 1]
        g = rng.standard_normal(self.h[depth].shape)
        out = np.full(depth, np.nan)
        for layer in range(depth, 0, -1):
            delta = g * self.df(self.y[layer - 1])
            out[layer - 1] = delta.std()
            g = delta @ self.w[layer - 1]
        return out


@functools.lru_cache(maxsize=6)
def _explorer_prefix(scheme, activation, width):
    return _Prefix(scheme, activation, width, n_samples=64, seed=0)


@functools.lru_cache(maxsize=64)
def explorer_data(scheme, activation, depth, width):
    """propagate(scheme, activation, depth, width, n_samples=64, keep=first, middle and last
    layer)'s "act_std", "grad_std" and "activations" (the same numbers), computed fast: the
    forward pass is shared by all depths (`_Prefix`), so a new depth only runs the backward
    pass. Cached: the arrays are shared between calls, so they are read-only."""
    if depth < 1 or width < 1:
        raise ValueError(f"need depth, width >= 1, got {depth}, {width}")
    prefix = _explorer_prefix(scheme, activation, width).grow(depth)
    return _read_only({"act_std": np.array(prefix.act_std[:depth]),
                       "grad_std": prefix.grad_std(depth),
                       "activations": {layer: prefix.h[layer] for layer in _hist_layers(depth)}})


def _clear_explorer_caches():
    _explorer_data_cache_clear()
    _explorer_prefix.cache_clear()


# `measure_latency` clears a function's cache before timing it: clear the shared forward passes too
_explorer_data_cache_clear = explorer_data.cache_clear
explorer_data.cache_clear = _clear_explorer_caches

EXPLORER_MAX_DEPTH = 30  # the depth slider's end


def _explorer_layers(depth: int) -> tuple[float, float]:
    """The left panel's x range: layers 1..15, or 1..30 for a deeper net (so that depths of
    one range compare on the same axes, and a depth step rarely changes them)."""
    last = 15 if depth <= 15 else EXPLORER_MAX_DEPTH
    return 0.5 - 0.05 * last, last + 0.05 * last


def _std_limits(stds) -> tuple[float, float]:
    """The left panel's y limits: whole decades around [min/2, 2·max], at least 1e-2 … 10 (so that
    small changes do not look dramatic); limits change only when the data crosses a decade."""
    finite = stds[np.isfinite(stds) & (stds > 0)]
    if not finite.size:
        return 1e-2, 10.0
    lo = min(finite.min() / 2, 1e-2)
    hi = max(finite.max() * 2, 10.0)
    return (10.0 ** max(math.floor(math.log10(lo)), -300),
            10.0 ** min(math.ceil(math.log10(hi)), 300))


def _hist_range(hs) -> tuple[float, float]:
    """The histograms' range: the activations' min and max rounded outwards to the 1-2-5 series
    (0 if all values are on one side of it), so it changes only when they cross such a value."""
    lo = min(float(h.min()) for h in hs)
    hi = max(float(h.max()) for h in hs)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return -1.0, 1.0
    lo = -plots.nice_ceil(-lo) if lo < 0 else 0.0
    hi = plots.nice_ceil(hi) if hi > 0 else 0.0
    return (lo, hi) if hi > lo else (-1.0, 1.0)


def _explorer_update(fig, scheme="Xavier normal", activation="tanh", depth=10, width=256):
    """Redraw `explorer_figure`'s figure in place: same artists, new data; limits change only
    when the data crosses a decade (left) or a 1-2-5 value (right)."""
    data = explorer_data(scheme, activation, int(depth), int(width))
    layers = np.arange(1, depth + 1)
    ax, bx = fig.axes
    act, grad = ax.lines
    act.set_data(layers, data["act_std"])
    grad.set_data(layers, data["grad_std"])
    plots.set_limits(ax, xlim=_explorer_layers(depth),
                     ylim=_std_limits(np.concatenate([data["act_std"], data["grad_std"]])))
    ax.title.set_text(f"{scheme}, {activation}, width {width}")
    hs = data["activations"]
    lo, hi = _hist_range(hs.values())
    bins = np.linspace(lo, hi, 61)
    top = 0.0
    for i, stairs in enumerate(bx.patches):
        shown = i < len(hs)
        stairs.set_visible(shown)
        if shown:
            layer, h = list(hs.items())[i]
            counts, _ = np.histogram(h, bins=bins)
            stairs.set_data(counts / h.size, bins)
            stairs.set_label(f"layer {layer}: std {h.std():.2g}")
            top = max(top, counts.max() / h.size)
        else:
            stairs.set_label("_hidden")
    pad = 0.05 * (hi - lo)
    plots.set_limits(bx, xlim=(lo - pad, hi + pad),
                     ylim=(0.0, min(plots.nice_ceil(1.25 * top), 1.05)))
    legend = bx.get_legend()
    labels = [p.get_label() for p in bx.patches if p.get_visible()]
    if legend is None or len(legend.get_texts()) != len(labels):
        bx.legend(loc="best", fontsize=9)
    else:
        for text, label in zip(legend.get_texts(), labels, strict=True):
            text.set_text(label)
    plots.place_legend(ax.get_legend(), plots.free_corner(ax, (0.36, 0.24)))
    bx.get_legend().stale = True  # "best" places it away from the data: draw it again with them


@register_widget(update=_explorer_update, controls={
    "scheme": list(SCHEMES), "activation": list(ACTIVATIONS), "depth": (2, 30, 1),
    "width": (32, 256, 32)})
def explorer_figure(scheme="Xavier normal", activation="tanh", depth=10, width=256) -> Figure:
    """Left: per-layer std of activations h_l and of back-propagated errors δ_l (log scale, layers
    1..15, or 1..30 for deeper nets). Right: histograms of h_l for the first, middle
    and last layer (N(0, 1) inputs), over their range rounded to 1-2-5 values."""
    fig = Figure(figsize=(10, 3.8))
    ax, bx = fig.subplots(1, 2)
    for a in (ax, bx):
        a.set_axisbelow(True)  # grid and ticks under the data, titles right above them: a
        plots.titles_at(a, 0.9)  # redraw of the data then skips the tick labels (lib.blitting)
    ax.plot([], [], "o-", ms=3, label="activations $h_l$")
    ax.plot([], [], "s--", ms=3, label=r"gradients $\delta_l$")
    ax.set_yscale("log")
    ax.set(xlabel="layer $l$", ylabel="standard deviation (log scale)")
    ax.legend()
    for i in range(3):
        bx.stairs(np.zeros(60), np.linspace(-1, 1, 61), lw=1.8, color=COLORS[i])
    bx.set(xlabel="activation value $h_l$", ylabel="fraction of values",
           title="activation histograms")
    _explorer_update(fig, scheme, activation, depth, width)
    return fig


def layer_histograms_figure(activations: dict, title: str = "", bins=51) -> Figure:
    """One histogram per layer (dict layer -> h_l), shared x range (an odd number of bins puts
    0 at a bin centre), each titled by its std."""
    n = len(activations)
    ncols = min(n, 5)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(2.1 * ncols, 1.9 * nrows + 0.4))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True)).ravel()
    top = max(float(np.abs(h).max()) for h in activations.values())
    edges = np.linspace(-top, top, bins + 1)
    for a, (layer, h) in zip(axes, activations.items(), strict=False):
        a.hist(h.ravel(), bins=edges, weights=np.full(h.size, 1.0 / h.size), color=COLORS[0])
        a.set_title(f"layer {layer}: std {h.std():.2g}", fontsize=9)
    for a in axes[n:]:
        a.set_visible(False)
    for a in axes[(nrows - 1) * ncols :]:
        a.set_xlabel("$h_l$")
    for a in axes[::ncols]:
        a.set_ylabel("fraction")
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------ preprocessing on 2-D data


def correlated_cloud(n=500, seed=0) -> np.ndarray:
    """n points of a shifted, badly scaled, correlated 2-D Gaussian:
    x₁ = 10 + 4 z₁, x₂ = 3 + 0.8 z₁ + 0.6 z₂ with z ~ N(0, I) (std 4 and 1, correlation 0.8)."""
    z = np.random.default_rng(seed).standard_normal((n, 2))
    return np.column_stack([10 + 4 * z[:, 0], 3 + 0.8 * z[:, 0] + 0.6 * z[:, 1]])


def preprocessing_figure(x) -> Figure:
    """The 2-D cloud x: original, zero-centred, standardised / PCA-rotated, PCA- and ZCA-whitened,
    each on square axes centred on 0 (mind each panel's scale). Statistics are fitted on x."""
    panels = {
        "original": np.asarray(x, dtype=float),
        "zero-centred": Standardizer(scale=False).fit_transform(x),
        "standardised": Standardizer().fit_transform(x),
        "decorrelated (PCA)": PCA().fit_transform(x),
        "PCA-whitened": PCA(whiten=True, eps=0.0).fit_transform(x),
        "ZCA-whitened": ZCAWhitener(eps=0.0).fit_transform(x),
    }
    fig = Figure(figsize=(11, 7.2))
    axes = fig.subplots(2, 3).ravel()
    for a, (name, p) in zip(axes, panels.items(), strict=True):
        lim = 1.1 * float(np.abs(p).max())
        a.scatter(p[:, 0], p[:, 1], s=4, alpha=0.5, color=COLORS[0])
        a.axhline(0, color="k", lw=0.8)
        a.axvline(0, color="k", lw=0.8)
        a.set_xlim(-lim, lim)
        a.set_ylim(-lim, lim)
        a.set_aspect("equal")
        a.set_title(name)
    return fig


def image_rows_figure(rows: dict, size=1.25) -> Figure:
    """One row per entry of ``rows`` (name -> k images of shape (H, W)), the name on the left.
    Each image gets its own grey scale (darkest value black, brightest white), so whitened images
    with values far outside [0, 1] stay visible."""
    if not rows:
        raise ValueError("rows must hold at least one entry name -> images")
    images = {name: np.asarray(imgs) for name, imgs in rows.items()}
    counts = {len(imgs) for imgs in images.values()}
    if len(counts) != 1 or any(imgs.ndim != 3 for imgs in images.values()):
        raise ValueError("every row must hold the same number of (H, W) images")
    nrows, ncols = len(images), counts.pop()
    fig = Figure(figsize=(size * ncols + 1.2, size * nrows), layout="constrained")
    axes = np.array(fig.subplots(nrows, ncols, squeeze=False))
    for row, (name, imgs) in zip(axes, images.items(), strict=True):
        for a, img in zip(row, imgs, strict=True):
            a.imshow(img, cmap="gray")
            a.set_xticks([])
            a.set_yticks([])
        row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    return fig


def gd_steps_to_converge(x, y, tol=1e-6, max_steps=1_000_000) -> dict:
    """Full-batch gradient descent on least squares L(w, b) = ‖x w + b − y‖² / (2N) from zero,
    with the best constant step size 2 / (λ_max + λ_min) of the Hessian H = [x 1]ᵀ[x 1] / N.

    The error shrinks by at most ρ = (κ − 1)/(κ + 1) per step in every eigendirection, so the loss
    gap obeys L_k − L* ≤ ρ^(2k) (L₀ − L*). L* = L(w*) is computed in closed form from the normal
    equations H w* = [x 1]ᵀ y / N.

    Returns {"steps" until L − L* ≤ tol·(L₀ − L*), "kappa" = λ_max / λ_min, "rate" ρ, "lr",
    "losses" (L₀, L₁, …), "loss_star" L*}.
    """
    a = np.column_stack([np.asarray(x, dtype=float), np.ones(len(x))])
    y = np.asarray(y, dtype=float)
    n = len(a)
    hess = a.T @ a / n
    lam = np.linalg.eigvalsh(hess)
    lr = 2.0 / (lam[-1] + lam[0])
    w_star = np.linalg.solve(hess, a.T @ y / n)

    def loss(w):
        return float(np.sum((a @ w - y) ** 2) / (2 * n))

    best = loss(w_star)
    w = np.zeros(a.shape[1])
    losses = [loss(w)]
    gap0 = losses[0] - best
    while losses[-1] - best > tol * gap0 and len(losses) <= max_steps:
        w -= lr * (hess @ w - a.T @ y / n)
        losses.append(loss(w))
    kappa = float(lam[-1] / lam[0])
    return {
        "steps": len(losses) - 1,
        "kappa": kappa,
        "rate": (kappa - 1) / (kappa + 1),
        "lr": float(lr),
        "losses": np.array(losses),
        "loss_star": best,
    }


# ------------------------------------------------------------------ training experiments


def train_mlp(
    x,
    y,
    sizes,
    activation="relu",
    init="kaiming_normal",
    lr=0.05,
    momentum=0.9,
    epochs=1,
    batch_size=128,
    seed=0,
    x_val=None,
    y_val=None,
):
    """make_mlp(sizes, activation, init) trained with SGD(lr, momentum) by train_numpy.
    ``init`` is a name of ``make_mlp``'s INITS or f(shape, *, rng). Returns (model, history)."""
    rng = np.random.default_rng(seed)
    model = make_mlp(sizes, activation=activation, init=init, rng=rng)
    opt = SGD(model.params, lr=lr, momentum=momentum)
    history = train_numpy(
        model,
        opt,
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        rng=rng,
        loss_fn=cross_entropy,
        x_val=x_val,
        y_val=y_val,
    )
    return model, history


def dead_unit_fraction(pre_activations) -> float:
    """Fraction of ReLU units whose pre-activation is ≤ 0 for every sample (rows): they output 0
    and get no gradient for any of these inputs."""
    pre = np.asarray(pre_activations)
    return float(np.mean(np.all(pre <= 0, axis=0)))
