"""Chapter 06 (hyperparameters): its experiments and figures, nothing another chapter needs.

The search algorithms live in `lib.search` (grid, random, log-uniform, coarse-to-fine, importance),
`lib.bayesopt` (GP + expected improvement), `lib.halving` (successive halving), `lib.lr_finder`
(the range test) and `lib.tuning` (the cheap Fashion-MNIST objective, optuna studies); this module
runs them on the chapter's spaces and draws them.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings

import matplotlib as mpl
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
from torch.nn import functional as F

from lib import bayesopt, halving, plots, search, sick_runs, tuning, widgets
from lib.data import fashion_mnist
from lib.doctor import Vitals
from lib.experiments import run
from lib.train import fit

__all__ = [
    "SPACE", "SPACE2", "PARAM_LABELS", "objective", "pool_figure", "importance_figure",
    "optuna_importance", "initial_loss", "overfit_tiny", "lr_range_figure", "update_ratios",
    "GALLERY_KINDS", "gallery", "gallery_figure", "projection_figure", "PROJECTION_CONTROLS",
    "log_sampling", "log_sampling_figure", "coarse_to_fine_figure", "grid_xy", "search_race",
    "race_figure", "BO_STEPS", "bo_steps", "bo_figure", "BO_CONTROLS", "learning_curves",
    "halving_figure", "optuna_pruning", "optuna_figures", "forrester_race",
]

# the chapter's search space: five hyperparameters of an MLP trained with SGD
SPACE = {
    "lr": search.LogUniform(1e-4, 1.0),
    "momentum": search.Uniform(0.0, 0.99),
    "hidden": search.IntUniform(16, 256, log=True),
    "batch_size": search.Categorical([32, 64, 128, 256]),
    "weight_decay": search.LogUniform(1e-6, 1e-2),
}
# the two-dimensional space where grid, random, BO and TPE race
SPACE2 = {"lr": SPACE["lr"], "momentum": SPACE["momentum"]}
PARAM_LABELS = {"lr": "learning rate", "momentum": "momentum", "hidden": "hidden units",
                "batch_size": "batch size", "weight_decay": "weight decay"}
LOG_PARAMS = ("lr", "hidden", "weight_decay")


def objective(config, seed=0, epochs=1, report=None) -> float:
    """`lib.tuning.fashion_objective`: validation accuracy of the config's MLP after ``epochs``
    epochs on 3000 Fashion-MNIST images (0.0 if it diverged)."""
    return tuning.fashion_objective(config, seed=seed, epochs=epochs, report=report)


# ------------------------------------------------------------------------- importance

def pool_figure(result, importance=None) -> Figure:
    """Validation accuracy of every trial of a random search against each hyperparameter (log
    axes where the space is log-scaled); the title gives η² when ``importance`` is given."""
    names = list(result.configs[0])
    fig, axes = plots.new_figure(ncols=len(names), size=(2.6 * len(names), 3.0))
    y = np.asarray(result.values)
    for ax, name in zip(axes, names, strict=True):
        x = [c[name] for c in result.configs]
        ax.scatter(x, y, s=14, alpha=0.7)
        if name in LOG_PARAMS:
            ax.set_xscale("log")
        if name in ("batch_size", "hidden"):
            ax.set_xscale("log", base=2)
            ticks = [32, 64, 128, 256] if name == "batch_size" else [16, 64, 256]
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.minorticks_off()
        title = PARAM_LABELS.get(name, name)
        if importance is not None:
            title += f"\nη² = {importance[name]:.2f}"
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("validation accuracy")
    for ax in axes[1:]:
        ax.set_yticklabels([])
    return fig


def optuna_importance(result, space, seed=0) -> dict:
    """Optuna's fANOVA importances (a random forest fitted to the trials, then the variance of
    its main effects; ``seed`` for the forest) of a `SearchResult`, without re-training."""
    import optuna

    study = tuning.study_from_trials(result.configs, result.values, space)
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        imp = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {name: float(v) for name, v in imp.items()}


def importance_figure(ours: dict, theirs: dict, chance=None) -> Figure:
    """Two bar groups per hyperparameter: our η² (main effect) and optuna's fANOVA share."""
    names = list(ours)
    fig, ax = plots.new_figure(size=(8, 3.2))
    i = np.arange(len(names))
    ax.bar(i - 0.2, [ours[n] for n in names], 0.4, label="η² (main effect, from scratch)")
    ax.bar(i + 0.2, [theirs[n] for n in names], 0.4, label="optuna fANOVA importance")
    if chance is not None:
        ax.axhline(chance, color="0.4", ls="--", lw=1, label=f"η² of a useless parameter ≈ "
                                                              f"{chance:.2f}")
    ax.set_xticks(i, [PARAM_LABELS.get(n, n) for n in names])
    ax.set_ylabel("share of variance")
    ax.legend(fontsize=8)
    return fig


# ------------------------------------------------------------------------------ the recipe

def initial_loss(seed=0, hidden=64, n=1000) -> float:
    """Cross-entropy of the untrained MLP (the chapter's default config) on ``n`` validation
    images: the recipe's step 1 (≈ ln 10 for 10 classes)."""
    spec = tuning.config_spec({"hidden": hidden}, seed=seed)
    model = spec.model(generator=torch.Generator().manual_seed(seed))
    d = fashion_mnist(n_train=n, n_val=n, n_test=1, tensors=True)
    with torch.no_grad():
        return float(F.cross_entropy(model(d.x_val), d.y_val))


def overfit_tiny(seed=0, per_class=5, epochs=40, lr=0.1, momentum=0.0):
    """The recipe's step 2: the default MLP (784-64-10, SGD, no regularization) on only
    ``per_class`` training images of each class, mini-batches of 10, ``epochs`` passes.
    Returns the History (training accuracy per epoch in ``epoch["train_acc"]``)."""
    d = fashion_mnist(n_train=3000, n_val=200, n_test=1, tensors=True)
    y = d.y_train.numpy()
    keep = torch.from_numpy(np.concatenate([np.flatnonzero(y == k)[:per_class]
                                            for k in range(10)]))
    tiny = dataclasses.replace(d, x_train=d.x_train[keep], y_train=d.y_train[keep])
    spec = tuning.config_spec({"lr": lr, "momentum": momentum, "batch_size": 10}, seed=seed,
                              epochs=epochs)
    return run(spec, tiny, device="cpu")


def lr_range_figure(result) -> Figure:
    """The range test's smoothed loss against the learning rate (log axis), its minimum and the
    two suggestions."""
    fig, ax = plots.new_figure(size=(9, 3.4))
    ax.semilogx(result.lrs, result.raw_losses, color="C0", alpha=0.25, lw=1, label="loss per step")
    ax.semilogx(result.lrs, result.losses, color="C0", label="smoothed")
    ax.axvline(result.lr_min, color="0.5", ls=":", label=f"minimum at {result.lr_min:.2g}")
    ax.axvline(result.suggestion, color="C3", ls="--",
               label=f"minimum / 10 = {result.suggestion:.2g}")
    ax.axvline(result.lr_steepest, color="C2", ls="-.",
               label=f"steepest descent {result.lr_steepest:.2g}")
    top = min(float(np.nanmax(result.losses)), 3 * float(result.losses[0]))
    ax.set(xlabel="learning rate (grows every step)", ylabel="training loss",
           ylim=(0, top * 1.05))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def update_ratios(lr, seed=0, steps=40):
    """Median over ``steps`` SGD steps of ‖ΔW‖/‖W‖ per weight layer (`lib.doctor.Vitals`) for the
    default MLP (784-64-10, momentum 0.9) at learning rate ``lr``: {layer name: ratio}."""
    spec = tuning.config_spec({"lr": lr}, seed=seed)
    model = spec.model(generator=torch.Generator().manual_seed(seed))
    d = fashion_mnist(n_train=3000, n_val=100, n_test=1, tensors=True)
    order = np.random.default_rng(seed).permutation(len(d.y_train))[:64 * steps]
    batches = [(d.x_train[torch.from_numpy(i)], d.y_train[torch.from_numpy(i)])
               for i in np.split(order, steps)]
    history = fit(model, F.cross_entropy, spec.optimizer(model.parameters()), batches,
                  epochs=1, callbacks=[Vitals()], device="cpu", progress=False)
    return {name: float(np.median(s["update_ratio"]))
            for name, s in history.layer_stats.items() if "update_ratio" in s}


# the curve shapes worth recognising, from `lib.sick_runs` (real runs), with their cause
GALLERY_KINDS = {
    "healthy_sgd": "healthy: both losses fall together",
    "lr_too_high": "lr too high: climbs, stays high",
    "lr_too_low": "lr too low: a slow, straight descent",
    "bad_init": "bad init (weights ×10): huge start, slow",
    "overfit": "overfitting: val loss turns up",
    "underfit": "underfitting: both plateau high",
}


def gallery(seed=0) -> dict:
    """{kind: History} for `GALLERY_KINDS` (each a few hundred steps of a small MLP)."""
    return {kind: sick_runs.sick_run(kind, seed) for kind in GALLERY_KINDS}


def gallery_figure(histories: dict) -> Figure:
    """One panel per run: the smoothed training loss per step and the validation loss per epoch
    (log scale), titled with the cause."""
    fig, axes = plots.new_figure(ncols=3, nrows=2, size=(12, 6.2))
    for ax, (kind, h) in zip(axes.ravel(), histories.items(), strict=True):
        steps = np.arange(1, len(h.step_loss) + 1)
        loss = np.asarray(h.step_loss, float)
        finite = np.isfinite(loss)
        ax.plot(steps[finite], loss[finite], color="C0", alpha=0.2, lw=1)
        ax.plot(steps[finite], plots.smooth(loss[finite], 0.9), color="C0", label="train")
        val = np.array([np.nan if v is None else v for v in h.epoch["val_loss"]], float)
        ax.plot(h.epoch["step"], val, "o--", color="C1", ms=3, label="validation")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(GALLERY_KINDS[kind], fontsize=10)
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("loss")
    axes[1, 0].set_ylabel("loss")
    axes[0, 0].legend(fontsize=8)
    return fig


# ----------------------------------------------------- grid vs random: the projection argument


def _static_grid(ax, xticks=None, yticks=None) -> None:
    """Fix ax's ticks (the given ones, else those of now), draw its grid as plain lines where
    the axis drew it (same style, same place in the drawing order) and move the axis itself
    (ticks, tick labels, axis label: what a slider never changes) to the bottom of the drawing
    order. The picture is the same; but the
    artists a slider changes (an image at the bottom, a title at the top) no longer enclose the
    tick labels, so a blitted step does not redraw them (they cost 10-30 ms a step)."""
    if xticks is not None:
        ax.set_xticks(xticks)
    if yticks is not None:
        ax.set_yticks(yticks)
    xticks, yticks = ax.get_xticks(), ax.get_yticks()
    style = {"color": mpl.rcParams["grid.color"], "linestyle": mpl.rcParams["grid.linestyle"],
             "linewidth": mpl.rcParams["grid.linewidth"], "alpha": mpl.rcParams["grid.alpha"],
             "zorder": ax.xaxis.get_zorder()}
    if mpl.rcParams["axes.grid"]:
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        for t in xticks:
            if x0 <= t <= x1:
                ax.axvline(t, **style)
        for t in yticks:
            if y0 <= t <= y1:
                ax.axhline(t, **style)
    ax.grid(False)
    ax.xaxis.set_zorder(-1)
    ax.yaxis.set_zorder(-1)


PROJECTION_CONTROLS = {"n_trials": (4, 64, 1), "weight": (0.0, 1.0, 0.05)}
_PX = np.linspace(0, 1, 81)  # the background image: enough for a bump of width 0.05


def _projection_update(fig, n_trials=9, weight=0.05):
    """Redraw `projection_figure`'s figure in place. Only the artists whose parameter changed
    are touched (the image, the points and the titles each depend on one slider): a blitted
    step then redraws only those."""
    res = search.projection_experiment(n_trials, seeds=range(25), weight=weight)
    ax_xy, ax_best = fig.axes[:2]
    art = fig._projection
    shown_n, shown_weight = art.get("shown", (None, None))
    if weight != shown_weight:
        gx, gy = np.meshgrid(_PX, _PX, indexing="xy")
        z = search.projection_objective(gx, gy, res["peak"], weight=weight)
        art["image"].set_data(z)
        art["image"].set_clim(float(z.min()), float(z.max()))
        top = 1 + weight
        art["max"].set_ydata([top, top])
        art["max_label"].set(y=top, text=f"max {top:.2f}")
    if n_trials != shown_n:
        art["grid"].set_offsets(res["grid_xy"])
        art["random"].set_offsets(res["random_xy"])
        art["grid_rug"].set_offsets(np.column_stack([res["grid_xy"][:, 0],
                                                     np.full(len(res["grid_xy"]), -0.035)]))
        art["random_rug"].set_offsets(np.column_stack([res["random_xy"][:, 0],
                                                       np.full(len(res["random_xy"]), -0.085)]))
        ax_xy.set_title(f"{res['grid_trials']} grid trials try {res['grid_distinct_x']} values "
                        f"of x; {res['random_trials']} random trials try "
                        f"{res['random_distinct_x']}", fontsize=10)
    if shown_n is None:  # the bump of the first seed: the same for every n_trials and weight
        art["peak"].set_xdata([res["peak"], res["peak"]])
    for bar, v in zip(art["bars"], (res["grid_best"], res["random_best"]), strict=True):
        bar.set_height(v)
    for text, v in zip(art["labels"], (res["grid_best"], res["random_best"]), strict=True):
        text.set_text(f"{v:.3f}")
        text.set_y(v + 0.02)
    art["shown"] = (n_trials, weight)


@widgets.register_widget(controls=PROJECTION_CONTROLS, update=_projection_update)
def projection_figure(n_trials: int = 9, weight: float = 0.05) -> Figure:
    """Bergstra & Bengio's figure 1, measured: grid vs random search with the same budget on
    f(x, y) = bump(x) + weight·sin(πy), x important, y worth at most ``weight``. Left: the
    objective, the grid (⌊√n⌋² points) and the random points, and their projections onto x
    (below the axis). Right: the best f found, median over 25 positions of the bump."""
    fig = Figure(figsize=(11, 4.2))
    ax_xy, ax_best = fig.subplots(1, 2, width_ratios=[1.7, 1])
    image = ax_xy.imshow(np.zeros((len(_PX), len(_PX))), origin="lower", extent=(0, 1, 0, 1),
                         cmap="Greys", aspect="auto", alpha=0.6)
    grid = ax_xy.scatter([], [], marker="s", s=40, color="C1", label="grid")
    rand = ax_xy.scatter([], [], marker="o", s=18, color="C0", label="random")
    grid_rug = ax_xy.scatter([], [], marker="|", s=50, color="C1")
    random_rug = ax_xy.scatter([], [], marker="|", s=50, color="C0")
    ax_xy.axhline(0, color="0.3", lw=0.8)
    (peak,) = ax_xy.plot([0.5, 0.5], [0, 1], color="C3", lw=1, ls="--", label="best x")
    ax_xy.set(xlim=(0, 1), ylim=(-0.11, 1), xlabel="x (important)", ylabel="y (unimportant)")
    _static_grid(ax_xy, np.linspace(0, 1, 6), np.linspace(0, 1, 6))
    ax_xy.legend(fontsize=8, loc="upper right", framealpha=0.9)
    bars = ax_best.bar([0, 1], [0, 0], color=["C1", "C0"], width=0.6)
    labels = [ax_best.text(i, 0, "", ha="center", fontsize=10) for i in (0, 1)]
    (top,) = ax_best.plot([-0.5, 1.5], [1, 1], color="0.4", ls=":", lw=1)
    max_label = ax_best.text(1.48, 1, "", ha="right", va="bottom", fontsize=8, color="0.4")
    ax_best.set_title("median best f over 25 draws", fontsize=10)
    ax_best.set_xticks([0, 1], ["grid", "random"])
    ax_best.set_xlim(-0.5, 1.5)
    # fixed: room for the largest maximum, 1 + weight = 2 (a step redraws bars and texts only)
    ax_best.set_ylim(0, (1 + PROJECTION_CONTROLS["weight"][1]) * 1.15)
    ax_best.set_ylabel("best f found")
    _static_grid(ax_best, yticks=np.arange(0, 2.1, 0.5))
    fig._projection = {"image": image, "grid": grid, "random": rand, "grid_rug": grid_rug,
                       "random_rug": random_rug, "peak": peak, "bars": bars, "labels": labels,
                       "max": top, "max_label": max_label}
    _projection_update(fig, n_trials, weight)
    return fig


# -------------------------------------------------------------------------- log-scale sampling

def log_sampling(n=10_000, low=1e-5, high=1.0, seed=0) -> dict:
    """``n`` learning rates drawn uniformly and log-uniformly in [low, high]: the samples and the
    share of each that falls in every decade."""
    rng = np.random.default_rng(seed)
    uni = rng.uniform(low, high, n)
    log = search.log_uniform(low, high, size=n, rng=rng)
    edges = 10.0 ** np.arange(round(math.log10(low)), round(math.log10(high)) + 1)
    share = {name: np.histogram(s, edges)[0] / n for name, s in (("uniform", uni),
                                                                 ("log-uniform", log))}
    return {"uniform": uni, "log-uniform": log, "edges": edges, "share": share}


def log_sampling_figure(sampled: dict) -> Figure:
    """Share of samples per decade, uniform vs log-uniform."""
    fig, ax = plots.new_figure(size=(7, 3.2))
    edges = sampled["edges"]
    centres = np.sqrt(edges[:-1] * edges[1:])
    for k, (name, share) in enumerate(sampled["share"].items()):
        ax.bar(np.arange(len(centres)) + (k - 0.5) * 0.4, share, 0.4, label=name)
    ax.set_xticks(np.arange(len(centres)),
                  [f"[1e{int(round(math.log10(a)))}, 1e{int(round(math.log10(b)))})"
                   for a, b in zip(edges[:-1], edges[1:], strict=True)], fontsize=8)
    ax.set(xlabel="decade of the learning rate", ylabel="share of the samples")
    ax.legend(fontsize=8)
    return fig


def coarse_to_fine_figure(coarse, fine) -> Figure:
    """Validation accuracy against the learning rate for the coarse round and the fine round
    (`lib.search.refine`), the fine round's learning-rate range shaded."""
    fig, ax = plots.new_figure(size=(7, 3.4))
    lr = fine.fine_space["lr"]
    ax.axvspan(lr.low, lr.high, color="C1", alpha=0.12, label="round 2's lr range")
    for k, (r, name) in enumerate(((coarse, "round 1 (coarse)"), (fine, "round 2 (fine)"))):
        ax.scatter([c["lr"] for c in r.configs], r.values, s=22, color=f"C{k}", label=name,
                   marker="os"[k])
    ax.set_xscale("log")
    ax.set(xlabel="learning rate", ylabel="validation accuracy", ylim=(0, 1))
    ax.legend(fontsize=8, loc="upper left")
    return fig


# --------------------------------------------------------- grid vs random vs BO vs TPE, real

def grid_xy(k) -> list[dict]:
    """The k × k grid of SPACE2 (lr evenly spaced in log, momentum in [0, 0.99])."""
    return search.grid_configs(SPACE2, k)


def _to_config(x):
    return {"lr": float(10 ** x[0]), "momentum": float(x[1])}


def search_race(budget=10, seeds=range(5), train_seed=0, epochs=1) -> dict:
    """The same budget of trials on SPACE2 (learning rate, momentum) for four searches: a grid
    (the largest k × k ≤ budget), random search, Bayesian optimization (`lib.bayesopt`:
    3 random points, then EI) and optuna's TPE (3 random startup trials), the last three once
    per seed in ``seeds``. Every trial trains the MLP with ``train_seed`` for ``epochs``
    epochs. Returns {"grid": [values], "random" / "bo" / "tpe": [[values per trial], per seed]}
    (values in the order the trials ran) and "configs" of the grid."""
    f = functools.partial(objective, epochs=epochs, seed=train_seed)
    k = math.isqrt(budget)
    grid = search.evaluate(f, grid_xy(k))
    out = {"grid": grid.values, "grid_configs": grid.configs, "random": [], "bo": [], "tpe": []}
    bounds = [(math.log10(SPACE2["lr"].low), math.log10(SPACE2["lr"].high)),
              (SPACE2["momentum"].low, SPACE2["momentum"].high)]
    for s in seeds:
        out["random"].append(search.random_search(f, SPACE2, budget,
                                                  np.random.default_rng(s)).values)
        bo = bayesopt.gp_minimize(lambda x: -f(_to_config(x)), bounds, n_init=3,
                                  n_iter=budget - 3, seed=s)
        out["bo"].append([-v for v in bo.func_vals])
        study = tuning.run_study(lambda c, seed, report: f(c), SPACE2, budget, seed=s,
                                 pruner=None, n_startup_trials=3)
        out["tpe"].append([t.value for t in study.study.trials])
    return out


RACE_STYLE = {"grid": ("C1", "s"), "random": ("C0", "o"), "bo": ("C2", "^"), "tpe": ("C4", "v")}
RACE_NAMES = {"grid": "grid", "random": "random", "bo": "BO (GP + EI)", "tpe": "optuna TPE"}


def race_figure(race: dict, target=None) -> Figure:
    """Best validation accuracy so far against the number of trials: median over seeds (line)
    and every seed (faint) for random / BO / TPE, the grid's best at its size."""
    fig, ax = plots.new_figure(size=(8, 3.8))
    for name in ("random", "bo", "tpe"):
        color, marker = RACE_STYLE[name]
        curves = np.array([search.best_so_far(v) for v in race[name]])
        n = np.arange(1, curves.shape[1] + 1)
        for c in curves:
            ax.plot(n, c, color=color, alpha=0.15, lw=1)
        ax.plot(n, np.median(curves, 0), color=color, marker=marker, ms=4,
                label=f"{RACE_NAMES[name]} (median of {len(curves)})")
    color, marker = RACE_STYLE["grid"]
    ax.plot([len(race["grid"])], [max(race["grid"])], marker=marker, color=color, ms=9, ls="",
            label=f"grid {math.isqrt(len(race['grid']))}×{math.isqrt(len(race['grid']))}")
    if target is not None:
        ax.axhline(target, color="0.4", ls=":", lw=1, label=f"target {target:.2f}")
    ax.set(xlabel="trials", ylabel="best validation accuracy so far")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def forrester_race(budget=15, seeds=range(20)) -> dict:
    """BO vs random search on the Forrester function (cheap): per seed, the evaluations to get
    within 0.1 of the global minimum (None: not within ``budget``)."""
    target = bayesopt.FORRESTER_MIN[1] + 0.1
    out = {"bo": [], "random": []}
    for s in seeds:
        bo = bayesopt.gp_minimize(bayesopt.forrester, [(0, 1)], n_init=3, n_iter=budget - 3,
                                  seed=s)
        rnd = bayesopt.random_minimize(bayesopt.forrester, [(0, 1)], budget, seed=s)
        out["bo"].append(bayesopt.evaluations_to_reach(bo.func_vals, target))
        out["random"].append(bayesopt.evaluations_to_reach(rnd.func_vals, target))
    return out


# ------------------------------------------------------------------------ the BO step-through

BO_STEPS = 10


@functools.lru_cache(maxsize=1)
def bo_steps(n_iter=BO_STEPS, seed=0):
    """`lib.bayesopt.bo_states` on the Forrester function: 3 random points, ``n_iter`` steps."""
    return tuple(bayesopt.bo_states(bayesopt.forrester, (0.0, 1.0), n_init=3, n_iter=n_iter,
                                    seed=seed))


BO_CONTROLS = {"iteration": (1, BO_STEPS, 1)}


def _band(x, lo, hi):
    return [np.column_stack([np.concatenate([x, x[::-1]]), np.concatenate([lo, hi[::-1]])])]


def _bo_update(fig, iteration=1):
    s = bo_steps()[iteration - 1]
    art = fig._bo
    x = s["x_grid"]
    art["mean"].set_data(x, s["mean"])
    art["band"].set_verts(_band(x, s["mean"] - 2 * s["std"], s["mean"] + 2 * s["std"]))
    art["points"].set_data(s["X"], s["y"])
    art["next"].set_data([s["x_next"]], [s["y_next"]])
    # EI shrinks by orders of magnitude as the GP grows sure (1.5 to 1e-6 here): drawn as a
    # share of its maximum on a fixed axis, the maximum itself written at the peak
    ei_max = max(float(s["ei"].max()), 1e-300)
    art["ei"].set_data(x, s["ei"] / ei_max)
    art["ei_next"].set_xdata([s["x_next"], s["x_next"]])
    left = s["x_next"] < 0.5
    art["ei_max"].set(x=s["x_next"] + (0.01 if left else -0.01), ha="left" if left else "right",
                      text=f"max EI {ei_max:.2g}")
    fig.axes[0].set_title(f"iteration {iteration}: {len(s['X'])} evaluations, best "
                          f"{s['y'].min():.3f}; fitted length scale {s['length_scale']:.3f}",
                          fontsize=10)


@widgets.register_widget(controls=BO_CONTROLS, update=_bo_update)
def bo_figure(iteration: int = 1) -> Figure:
    """One step of Bayesian optimization on the Forrester function (minimise): top, the true
    function, the points evaluated so far, the GP posterior mean and its ±2σ band, and the next
    point; bottom, expected improvement as a share of its maximum (written at the peak), whose
    maximum picks that next point. Fixed limits: a step redraws only the curves and texts."""
    s0 = bo_steps()[0]
    fig, (ax_f, ax_ei) = plots.new_figure(nrows=2, size=(9, 5.6))
    x = s0["x_grid"]
    ax_f.plot(x, s0["f"], color="0.3", lw=1, ls="--",
              label=f"f (unknown to BO; minimum {bayesopt.FORRESTER_MIN[1]:.3f})")
    band = ax_f.fill_between(x, s0["mean"] - 1, s0["mean"] + 1, color="C0", alpha=0.2,
                             label="posterior mean ± 2σ")
    (mean,) = ax_f.plot(x, s0["mean"], color="C0", label="posterior mean")
    (points,) = ax_f.plot([], [], "ko", ms=5, label="evaluated")
    (nxt,) = ax_f.plot([], [], "r*", ms=13, label="next (max EI)")
    ax_f.set(xlim=(0, 1), ylim=(-12, 20), ylabel="f(x)")
    _static_grid(ax_f, np.linspace(0, 1, 6), np.arange(-10, 21, 5))
    ax_f.legend(fontsize=8, loc="upper left", ncol=2)
    (ei,) = ax_ei.plot(x, s0["ei"], color="C2")
    (ei_next,) = ax_ei.plot([0, 0], [0, 1.15], color="C3", ls=":", lw=1)
    ei_max = ax_ei.text(0, 1.02, "", fontsize=8, va="bottom")
    ax_ei.set(xlim=(0, 1), ylim=(0, 1.15), xlabel="x", ylabel="EI ÷ its maximum")
    fig._bo = {"mean": mean, "band": band, "points": points, "next": nxt, "ei": ei,
               "ei_next": ei_next, "ei_max": ei_max}
    _bo_update(fig, iteration)
    return fig


# ------------------------------------------------------------------------- successive halving

def learning_curves(configs, epochs=9, seed=0) -> list[list[float]]:
    """Validation accuracy after every epoch of a full ``epochs``-epoch run of each config
    (SPACE's MLP via `lib.tuning.config_spec`; a constant learning rate, so the first b epochs
    are those of a b-epoch run). A diverged run scores 0.0 from the epoch it diverged."""
    data = tuning._data(3000, 1000)
    curves = []
    for c in configs:
        h = run(tuning.config_spec(c, seed=seed, epochs=epochs), data, device="cpu")
        acc = [0.0 if v is None or not math.isfinite(v) else float(v) for v in h.epoch["val_acc"]]
        curves.append(acc + [0.0] * (epochs - len(acc)))
    return curves


def halving_figure(curves, result, configs) -> Figure:
    """Every config's learning curve (faint: the epochs successive halving never trained), the
    rungs as vertical lines, the winner highlighted."""
    fig, ax = plots.new_figure(size=(8, 3.8))
    trained = {}
    for rung in result.rungs:
        for c in rung["configs"]:
            trained[search.config_label(c)] = rung["budget"]
    epochs = np.arange(1, len(curves[0]) + 1)
    best = search.config_label(result.best_config)
    for c, curve in zip(configs, curves, strict=True):
        label = search.config_label(c)
        b = trained[label]
        color = "C3" if label == best else "C0"
        ax.plot(epochs, curve, color=color, alpha=0.2, lw=1)
        ax.plot(epochs[:b], curve[:b], color=color, marker="o", ms=3,
                lw=2 if label == best else 1)
    for rung in result.rungs:
        ax.axvline(rung["budget"], color="0.5", ls=":", lw=1)
        n = len(rung["configs"])
        ax.text(rung["budget"], 0.96, f"{n} config{'s' if n > 1 else ''}", ha="center",
                fontsize=8, color="0.3", backgroundcolor="white")
    ax.plot([], [], color="C3", lw=2, label="the survivor")
    ax.plot([], [], color="C0", marker="o", ms=3, label="epochs trained")
    ax.plot([], [], color="C0", alpha=0.2, label="never trained (shown for reference)")
    ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1.02),
           xlim=(0.5, len(curves[0]) + 0.5))
    ax.legend(fontsize=8, loc="lower right")
    return fig


def optuna_pruning(configs, curves, pruner="successive_halving", eta=3, seed=0) -> dict:
    """The same configs and recorded curves through an optuna study with a pruner
    (`lib.halving.pruned_study`; `lib.halving.CurveTrainer` replays the curves): trials, pruned,
    epochs trained, the best config and value."""
    import optuna

    trainer = halving.CurveTrainer(configs, curves)
    space = {name: SPACE[name] for name in configs[0]}
    study = halving.pruned_study(trainer, configs, space, len(curves[0]), pruner, eta, seed=seed)
    states = [t.state for t in study.trials]
    return {"trials": len(states), "pruned": sum(s == optuna.trial.TrialState.PRUNED
                                                 for s in states),
            "epochs": trainer.spent, "best_value": study.best_value,
            "best_params": study.best_params}


# ------------------------------------------------------------------------------------ optuna

def optuna_figures(study, size=(6.0, 3.6)) -> list:
    """Optuna's own matplotlib plots of a study (``optuna.visualization.matplotlib``, pyplot
    figures): optimization history, parameter importances (fANOVA, seeded) and a slice plot of
    the learning rate. Optuna marks these functions experimental: that warning is silenced."""
    import optuna
    from optuna.visualization import matplotlib as ovm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        axes = [ovm.plot_optimization_history(study),
                ovm.plot_param_importances(study, evaluator=evaluator),
                ovm.plot_slice(study, params=["lr"])]
    figs = []
    for ax in axes:
        ax = np.atleast_1d(ax)[0]
        ax.figure.set_size_inches(*size)
        figs.append(ax.figure)
    return figs
