"""Plain functions behind chapter 03 (optimizers): runs on 2-D surfaces, figures, experiments.

Every figure function returns a `matplotlib.figure.Figure` and has defaults for all its
parameters (the widgets in the chapter are thin wrappers made with `lib.widgets`). The 2-D runs
come from `lib.optim2d`; the real-data runs are `lib.experiments.RunSpec`s.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import matplotlib
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lib import experiments, plots, widgets
from lib.experiments import SCHEDULES, RunSpec, schedule_lrs
from lib.numpy_ref import schedules as sched
from lib.numpy_ref.optim import Adam
from lib.optim2d import SGD_FAMILY, make_optimizer, run_optimizer
from lib.surfaces import LeastSquares2D, Quadratic, Saddle, Surface, get_surface
from lib.torch_impl import optim as lib_optim

__all__ = [
    "RACE_OPTIMIZERS",
    "RACE_DEFAULTS",
    "race_runs",
    "race_figure",
    "RACE_CONTROLS",
    "race_widget",
    "measured_rate",
    "momentum_rates",
    "rates_figure",
    "momentum_forms_with_lr_drop",
    "effective_lr_trace",
    "effective_lr_figure",
    "ema_trace",
    "ema_figure",
    "first_step_sizes",
    "eps_figure",
    "positive_definite_fraction",
    "saddle_escape",
    "paths_figure",
    "weight_decay_runs",
    "gradient_noise",
    "drunkard_figure",
    "schedule_figure",
    "EMA_CONTROLS",
    "SCHEDULE_CONTROLS",
    "TORCH_OPTIMIZERS",
    "optimizer_specs",
    "batch_size_runs",
    "batch_size_figure",
]

# ----------------------------------------------------------------------------- 2-D optimizer runs

RACE_OPTIMIZERS = ("SGD", "Momentum", "Nesterov", "Adagrad", "RMSprop", "Adam", "AdamW")

# per surface: learning rate of the SGD family, of the adaptive family, number of steps
RACE_DEFAULTS = {
    "quadratic": dict(lr=0.025, adaptive_lr=0.3, steps=100),
    "rosenbrock": dict(lr=1e-3, adaptive_lr=0.1, steps=300),
    "saddle": dict(lr=0.1, adaptive_lr=0.05, steps=80),
    "multiple_minima": dict(lr=0.01, adaptive_lr=0.3, steps=100),
}


def _surface_f(surface):
    return lambda xx, yy: surface.f(np.stack([xx, yy], axis=-1))


def _draw_race(surface, runs, ax_path, ax_loss):
    plots.contour_trajectories(
        _surface_f(surface),
        {},
        surface.xlim,
        surface.ylim,
        log_levels=surface.log_scale,
        ax=ax_path,
        resolution=120,
    )
    for m in surface.minima:
        ax_path.plot(*m, "P", color="black", markersize=9, zorder=3)
    tops = []
    for i, (name, run) in enumerate(runs.items()):
        color = plots.COLORS[i % len(plots.COLORS)]
        label = (
            name
            if run["diverged_at"] is None
            else f"{name} (diverged at step {run['diverged_at']})"
        )
        xy = run["xy"]
        ax_path.plot(xy[:, 0], xy[:, 1], "-", marker=".", markersize=3, color=color, lw=1.4)
        ax_path.plot(*xy[-1], "*", color=color, markersize=11)
        gap = np.maximum(run["loss"] - surface.f_min, 1e-16)
        ax_loss.plot(np.arange(len(gap)), gap, color=color, label=label)
        tops.append(gap[0])
    ax_path.plot(*surface.start, "o", color="black", markersize=6)
    ax_path.set_xlim(surface.xlim)
    ax_path.set_ylim(surface.ylim)
    ax_path.set_xlabel("x")
    ax_path.set_ylabel("y")
    ax_loss.set_yscale("log")
    if tops:  # diverging runs leave the plot at the top instead of squashing the others
        ax_loss.set_ylim(top=10 * max(tops))
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("f − f_min (log scale)")


def race_runs(
    surface: str = "quadratic",
    optimizers=RACE_OPTIMIZERS,
    lr: float = 0.025,
    adaptive_lr: float = 0.3,
    momentum: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    steps: int = 100,
    condition_number: float = 50.0,
    angle: float = 0.0,
) -> tuple[Surface, dict]:
    """(surface, {name: run}) of the race: what `race_figure` draws, for cells that check it.

    At momentum 0, Nesterov's update is plain SGD's (PyTorch refuses ``nesterov=True`` with
    momentum 0), so it is run as SGD.
    """
    return _race_runs({}, surface, optimizers, lr, adaptive_lr, momentum, beta1, beta2, steps,
                      condition_number, angle)


def _race_runs(memo, surface, optimizers, lr, adaptive_lr, momentum, beta1, beta2, steps,
               condition_number, angle):
    """`race_runs`, re-using the paths kept in ``memo`` (a dict: one figure's widget keeps
    it): a run is the same whatever the optimizers or lr of the other family, and the first
    ``steps`` steps of a longer run are the run of ``steps`` steps. Returns fresh arrays."""
    unknown = [n for n in optimizers if n not in RACE_OPTIMIZERS]
    if unknown:
        raise ValueError(f"unknown optimizers {unknown}; choose from {list(RACE_OPTIMIZERS)}")
    quadratic = {"condition_number": condition_number, "angle": angle}
    s = get_surface(surface, **(quadratic if surface == "quadratic" else {}))
    runs = {}
    for name in optimizers:
        if name == "SGD" or (name == "Nesterov" and momentum == 0):
            args = ("SGD", lr, ())
        elif name in SGD_FAMILY:
            args = (name, lr, (("momentum", momentum),))
        elif name in ("Adam", "AdamW"):
            args = (name, adaptive_lr, (("betas", (beta1, beta2)),))
        else:
            args = (name, adaptive_lr, ())
        key = (_surface_key(s), *args)
        kept = memo.get(key)
        if kept is None or (kept["diverged_at"] is None and len(kept["xy"]) <= steps):
            # a longer run than asked, once the slider moves past what was kept
            length = steps if kept is None else max(steps, _race_step_top(steps))
            kept = run_optimizer(s, args[0], args[1], length, **dict(args[2]))
            memo[key] = kept
        xy = kept["xy"][: steps + 1].copy()
        diverged = kept["diverged_at"]
        runs[name] = {"xy": xy, "loss": s.f(xy),
                      "diverged_at": diverged if diverged is not None and diverged <= steps
                      else None}
    return s, runs


def _race_update(fig, surface="quadratic", optimizers=RACE_OPTIMIZERS, lr=0.025, adaptive_lr=0.3,
                 momentum=0.9, beta1=0.9, beta2=0.999, steps=100, condition_number=50.0,
                 angle=0.0):
    """Redraw `race_figure`'s figure in place. The artists are made once per surface (one path,
    end star and loss curve per optimizer, hidden when not selected); a slider step only sets
    their data, so the redraw blits. condition_number and angle re-contour the quadratic (its
    contour data kept per value). Limits are fixed per surface (the loss panel's top, the path
    panel, the quadratic's loss floor) or change rarely: steps snap to `_RACE_STEP_TOPS`, the
    other surfaces' loss floor to 4-decade bins."""
    state = getattr(fig, "_race", None)
    if state is None or state["surface"] != surface:
        quadratic = {"condition_number": condition_number, "angle": angle}
        state = _race_build(fig, get_surface(surface, **(quadratic if surface == "quadratic"
                                                          else {})))
    if len(state["memo"]) > 1000:  # runs and contours kept for this figure: a bounded memory
        state["memo"].clear()
    s, runs = _race_runs(state["memo"], surface, optimizers, lr, adaptive_lr, momentum, beta1,
                         beta2, steps, condition_number, angle)
    ax_path, ax_loss = fig.axes
    key = _surface_key(s)
    if state["key"] != key:  # the quadratic's κ or angle: new contours, same limits
        _quadratic_contours(state["contour"], s, state["memo"])
        state["key"] = key
    lowest = []
    for name, (path, end, loss) in state["artists"].items():
        run = runs.get(name)
        for artist in (path, end, loss):
            _show(artist, run is not None)
        if run is None:
            continue
        xy = run["xy"]
        path.set_data(xy[:, 0], xy[:, 1])
        end.set_data(xy[-1:, 0], xy[-1:, 1])
        gap = np.maximum(run["loss"] - s.f_min, 1e-16)
        loss.set_data(np.arange(len(gap)), gap)
        loss.set_label(name if run["diverged_at"] is None
                       else f"{name} (diverged at step {run['diverged_at']})")
        lowest.append(np.nanmin(gap))
    floor = _RACE_LOSS_FLOOR.get(surface) or _race_loss_floor(min(lowest, default=1e-16))
    plots.set_limits(ax_loss, (0, _race_step_top(steps)), (floor, state["top"]))
    _set_title(ax_loss, f"lr = {lr:.3g} (SGD family), {adaptive_lr:.3g} (adaptive)")
    _show(state["note"], not runs)
    _race_legend(fig, state, [state["artists"][n][2] for n in RACE_OPTIMIZERS if n in runs])


def _set_title(ax, text, **kwargs) -> None:
    """Set an axes' title where its text differs (`set_title` re-applies the title's font and
    marks it as changed even when equal: the title would be redrawn at every blit)."""
    if ax.get_title() != text:
        if ax.get_title():
            ax.title.set_text(text)
        else:
            ax.set_title(text, **kwargs)


def _show(artist, visible) -> None:
    """set_visible where it changes (set_visible marks an artist as changed even when equal)."""
    if artist.get_visible() != visible:
        artist.set_visible(visible)


# the loss panel's bottom: the quadratic's runs reach the 1e-16 floor of the gaps (RMSprop at
# the defaults), so its panel always shows down to it; the other surfaces' panels use
# `_race_loss_floor`
_RACE_LOSS_FLOOR = {"quadratic": 1e-17}

# the loss panel's x axis ends at the first of these ≥ steps (so most steps keep the limits)
_RACE_STEP_TOPS = (20, 50, 150, 300, 500)


def _race_step_top(steps) -> int:
    return next((top for top in _RACE_STEP_TOPS if steps <= top), int(steps))


def _race_loss_floor(lowest) -> float:
    """The loss panel's bottom: a decade below the 4-decade bin of the lowest gap shown (gaps
    are floored at 1e-16, so at most 1e-17); it changes only when a run crosses a bin."""
    return 10.0 ** (4 * np.floor(np.log10(lowest) / 4 + 1e-9) - 1)


def _surface_key(s) -> tuple:
    return (s.name, getattr(s, "condition_number", None), getattr(s, "angle", None))


def _race_contour(ax, s, memo):
    """The surface's contour lines (as `plots.contour_trajectories` draws them), below the paths.
    The quadratic's are exact ellipses in one LineCollection, so that a new κ or angle only
    sets its segments (`_quadratic_contours`); its levels are those a contour plot picks."""
    if not isinstance(s, Quadratic):
        xx, yy = plots._grid(s.xlim, s.ylim, 120)
        zz = np.asarray(_surface_f(s)(xx, yy), dtype=float)
        levels = 30
        if s.log_scale:
            lo, span = np.nanmin(zz), np.nanmax(zz) - np.nanmin(zz)
            levels = lo + np.geomspace(1e-3 * span, span, 30)
        return ax.contour(xx, yy, zz, levels=levels, cmap="Greys", linewidths=0.8, alpha=0.8,
                          zorder=1.9)
    lines = LineCollection([], linewidths=0.8, zorder=1.9)
    ax.add_collection(lines, autolim=False)
    _quadratic_contours(lines, s, memo)
    return lines


def _quadratic_contours(lines, q, memo) -> None:
    """Set ``lines`` to the contours of the quadratic ``q``: the ellipses ½ pᵀAp = c at the
    levels that a 30-level contour plot of its window picks and draws (`MaxNLocator`), coloured
    like it (Greys over the levels, alpha 0.8). Kept per (κ, angle) in ``memo``."""
    key = ("contours", *_surface_key(q))
    if key not in memo:
        xx, yy = plots._grid(q.xlim, q.ylim, 120)
        zz = q.f(np.stack([xx, yy], axis=-1))
        lo, hi = float(zz.min()), float(zz.max())
        levels = MaxNLocator(31, min_n_ticks=1).tick_values(lo, hi)
        under, over = np.flatnonzero(levels < lo), np.flatnonzero(levels > hi)
        levels = levels[(under[-1] if len(under) else 0):(over[0] + 1 if len(over) else None)]
        shade = (levels - levels.min()) / (levels.max() - levels.min())  # as ContourSet's norm
        drawn = (levels > lo) & (levels < hi)  # the levels the grid's contour plot draws
        levels, shade = levels[drawn], shade[drawn]
        t = np.linspace(0, 2 * np.pi, 181)
        c, s = np.cos(np.radians(q.angle)), np.sin(np.radians(q.angle))
        unit = np.stack([np.cos(t), np.sin(t) / np.sqrt(q.condition_number)], axis=1)
        unit = unit @ np.array([[c, s], [-s, c]])  # rows: R (cos t, sin t / √κ)
        segments = [np.sqrt(2 * level) * unit for level in levels]
        memo[key] = (segments, matplotlib.colormaps["Greys"](shade, alpha=0.8))
    segments, colors = memo[key]
    lines.set_segments(segments)
    lines.set_color(colors)


def _race_build(fig, s: Surface) -> dict:
    """Make the race's artists for the surface ``s`` (a new surface: new limits, one full
    redraw)."""
    surface = s.name
    ax_path, ax_loss = fig.axes
    for ax in (ax_path, ax_loss):
        ax.cla()
    for legend in list(fig.legends):
        legend.remove()
    memo = getattr(fig, "_race", {}).get("memo", {})
    state = {"surface": surface, "memo": memo, "key": _surface_key(s), "legend": None}
    state["contour"] = _race_contour(ax_path, s, memo)
    for m in s.minima:
        ax_path.plot(*m, "P", color="black", markersize=9, zorder=3)
    state["artists"] = {}
    for i, name in enumerate(RACE_OPTIMIZERS):
        color = plots.COLORS[i % len(plots.COLORS)]
        (path,) = ax_path.plot([], [], "-", marker=".", markersize=3, color=color, lw=1.4)
        (end,) = ax_path.plot([], [], "*", color=color, markersize=11)
        (loss,) = ax_loss.plot([], [], color=color, label=name)
        state["artists"][name] = (path, end, loss)
    ax_path.plot(*s.start, "o", color="black", markersize=6)
    ax_path.set_xlim(s.xlim)
    ax_path.set_ylim(s.ylim)
    ax_path.set_xlabel("x")
    ax_path.set_ylabel("y")
    ax_path.set_title(f"{surface}: paths (● start, ✚ minima, ★ end)")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("f − f_min (log scale)")
    # a diverging run leaves the plot at the top instead of squashing the others: 10 × the
    # start's gap (the quadratic: its largest over the sliders, κ ≤ 1000 and any angle)
    if surface == "quadratic":
        kappa = RACE_CONTROLS["condition_number"].max
        start_gap = 0.5 * kappa * float(s.start @ s.start)
    else:
        start_gap = float(s.f(s.start)) - s.f_min
    state["top"] = 10 * start_gap
    ax_loss.text(0.5, 0.5, "select at least one optimizer", transform=ax_loss.transAxes,
                 ha="center", va="center", color="grey", fontsize=11, visible=False)
    state["note"] = ax_loss.texts[-1]
    fig._race = state
    return state


def _race_legend(fig, state, lines) -> None:
    """One legend under both panels for the shown loss curves: made again only when the
    selection changes; otherwise only its texts follow the labels (a diverged run's step)."""
    names = tuple(id(line) for line in lines)
    legend = state["legend"]
    if legend is None or state["legend_lines"] != names:
        if legend is not None:
            legend.remove()
        legend = fig.legend(lines, [line.get_label() for line in lines],
                            loc="outside lower center", ncols=max(1, min(4, len(lines))),
                            fontsize=9) if lines else None
        state["legend"], state["legend_lines"] = legend, names
        return
    for text, line in zip(legend.get_texts(), lines, strict=True):
        if text.get_text() != line.get_label():
            text.set_text(line.get_label())


# the race's controls; choosing a surface loads its RACE_DEFAULTS (lr, adaptive_lr, steps)
RACE_CONTROLS = {
    "surface": list(RACE_DEFAULTS),
    "optimizers": widgets.Many(RACE_OPTIMIZERS),
    "lr": widgets.LogRange(1e-4, 1.0, 0.05),
    "adaptive_lr": widgets.LogRange(1e-3, 3.0, 0.05),
    "momentum": (0.0, 0.99, 0.01),
    "beta1": (0.0, 0.99, 0.01),
    "beta2": (0.9, 0.9999, 0.0001),
    "steps": (10, 500, 10),
    "condition_number": widgets.LogRange(1.0, 1000.0, 0.1),
    "angle": (0, 90, 5),
}


@widgets.register_widget(controls=RACE_CONTROLS, update=_race_update,
                         links={"surface": RACE_DEFAULTS})
def race_figure(
    surface: str = "quadratic",
    optimizers=RACE_OPTIMIZERS,
    lr: float = 0.025,
    adaptive_lr: float = 0.3,
    momentum: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    steps: int = 100,
    condition_number: float = 50.0,
    angle: float = 0.0,
):
    """Optimizer race on a 2-D surface: paths on the contours (left) and f − f_min per step (right).

    lr drives SGD, Momentum and Nesterov; adaptive_lr drives Adagrad, RMSprop, Adam and AdamW
    (their step is about lr in parameter units, so the two families need different values).
    momentum: Momentum and Nesterov; (beta1, beta2): Adam and AdamW. condition_number and angle
    (rotation of the valley, degrees): quadratic only. A diverged run is labelled with its step.
    """
    fig = Figure(figsize=(10, 4.2), layout="none")  # a fixed layout: every surface's labels fit
    fig.subplots(ncols=2, gridspec_kw=dict(left=0.07, right=0.99, top=0.93, bottom=0.25,
                                           wspace=0.22))
    _race_update(fig, surface, optimizers, lr, adaptive_lr, momentum, beta1, beta2, steps,
                 condition_number, angle)
    return fig


def race_widget():
    """The race with its controls in three columns, so that the figure and its controls fit a
    laptop screen. Choosing a surface loads that surface's `RACE_DEFAULTS` (one redraw)."""
    columns = [["surface", "optimizers"], ["lr", "adaptive_lr", "momentum", "steps"],
               ["condition_number", "angle", "beta1", "beta2"]]
    return widgets.interactive_figure(race_figure, columns=columns)


def _legend_below(fig, ax, ncols=4):
    """One legend for the whole figure, under the axes (keeps both panels full width)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(
            handles, labels, loc="outside lower center", ncols=min(ncols, len(handles)), fontsize=9
        )


# ----------------------------------------------------------------------------- momentum


def measured_rate(errors, floor=1e-12) -> float:
    """Per-step contraction over the second half of a run: (e_T / e_{T/2})^(1/(T − T/2)).

    The run is cut where the error first falls below floor·e_0 (beyond, rounding takes over).
    """
    e = np.asarray(errors, dtype=float)
    small = np.flatnonzero(e < floor * e[0])
    if small.size:
        e = e[: small[0] + 1]
    half = (len(e) - 1) // 2
    return float((e[-1] / e[half]) ** (1 / (len(e) - 1 - half)))


def momentum_rates(condition_numbers=(2, 5, 10, 30, 100, 300, 1000), steps=400) -> dict:
    """Measured vs theoretical convergence rates on Quadratic(κ) with the optimal settings.

    GD: lr = 2/(L + μ), rate (κ − 1)/(κ + 1). Heavy ball (SGD momentum):
    lr = 4/(√L + √μ)², momentum = ((√κ − 1)/(√κ + 1))², rate (√κ − 1)/(√κ + 1).
    Rates are measured on the distance to the minimum by `measured_rate`; the minimum is at
    exactly 0, so rounding errors stay relative and the runs can go down to 1e-150 (below that,
    squaring inside the norm underflows).
    """
    out = {k: [] for k in ("kappa", "gd", "gd_theory", "momentum", "momentum_theory")}
    for kappa in condition_numbers:
        q = get_surface("quadratic", condition_number=kappa)
        mu, L = q.eigenvalues
        rk = np.sqrt(kappa)
        gd = run_optimizer(q, "SGD", 2 / (L + mu), steps)
        hb = run_optimizer(
            q,
            "Momentum",
            4 / (np.sqrt(L) + np.sqrt(mu)) ** 2,
            steps,
            momentum=((rk - 1) / (rk + 1)) ** 2,
        )
        out["kappa"].append(kappa)
        out["gd"].append(measured_rate(np.linalg.norm(gd["xy"], axis=1), floor=1e-150))
        out["gd_theory"].append((kappa - 1) / (kappa + 1))
        out["momentum"].append(measured_rate(np.linalg.norm(hb["xy"], axis=1), floor=1e-150))
        out["momentum_theory"].append((rk - 1) / (rk + 1))
    return {k: np.array(v) for k, v in out.items()}


def rates_figure(rates: dict):
    """1 − rate vs κ on log-log axes: measured points on the theoretical lines 2/(κ+1), 2/(√κ+1)."""
    fig, ax = plots.new_figure(size=(6, 4))
    k = rates["kappa"]
    ax.loglog(
        k, 1 - rates["gd_theory"], "-", color=plots.COLORS[0], label="GD theory: 1 − (κ−1)/(κ+1)"
    )
    ax.loglog(k, 1 - rates["gd"], "o", color=plots.COLORS[0], label="GD measured")
    ax.loglog(
        k,
        1 - rates["momentum_theory"],
        "-",
        color=plots.COLORS[1],
        label="momentum theory: 1 − (√κ−1)/(√κ+1)",
    )
    ax.loglog(k, 1 - rates["momentum"], "s", color=plots.COLORS[1], label="momentum measured")
    ax.set_xlabel("condition number κ")
    ax.set_ylabel("1 − rate  (error shrinks by this\nfraction per step; higher is faster)")
    ax.legend(fontsize=9)
    return fig


def momentum_forms_with_lr_drop(
    surface: Surface, lr: float, momentum: float, steps: int, drop_at: int, factor: float = 0.1
) -> dict:
    """PyTorch's momentum vs the textbook form when lr is multiplied by ``factor`` after step
    ``drop_at``. Returns {"pytorch": (T+1, 2), "textbook": (T+1, 2)} paths; until the drop they
    coincide."""
    def drop(opt):
        return sched.MultiStepLR(opt, milestones=[drop_at], gamma=factor)

    return {key: run_optimizer(surface, name, lr, steps, schedule=drop, momentum=momentum)["xy"]
            for key, name in (("pytorch", "Momentum"), ("textbook", "Momentum (textbook form)"))}


# ----------------------------------------------------------------------------- Adagrad / RMSprop


def effective_lr_trace(gradients, optimizers: dict) -> dict:
    """Feed one parameter the gradient sequence ``gradients``; return each optimizer's
    effective learning rate |Δθ_t| / |g_t| per step.

    optimizers: {label: (name in lib.optim2d.OPTIMIZERS, hyper-parameters incl. lr)}.
    """
    gradients = np.asarray(gradients, dtype=np.float64)
    out = {}
    for label, (name, hyper) in optimizers.items():
        theta = np.zeros(1)
        opt = make_optimizer(name, {"w": theta}, **hyper)
        eff = []
        for g in gradients:
            before = theta[0]
            opt.step({"w": np.array([g])})
            eff.append(abs(theta[0] - before) / abs(g))
        out[label] = np.array(eff)
    return out


def effective_lr_figure(gradients, traces: dict):
    """The gradient magnitude (top) and each optimizer's effective lr (bottom), log scales."""
    fig, (ax_g, ax_lr) = plots.new_figure(nrows=2, size=(7, 5))
    steps = np.arange(1, len(gradients) + 1)
    ax_g.semilogy(steps, np.abs(gradients), color="black")
    ax_g.set_ylabel("|gradient|")
    for label, eff in traces.items():
        ax_lr.semilogy(steps, eff, label=label)
    ax_lr.set_ylabel("effective lr |Δθ| / |g|")
    ax_lr.set_xlabel("step")
    ax_lr.legend(fontsize=9)
    return fig


# ----------------------------------------------------------------------------- Adam


def _ema_gradients(steps, mean=1.0, noise=0.5, seed=0) -> np.ndarray:
    """The noisy gradients g_t ~ N(mean, noise²) of `ema_trace` (the first ``steps`` of one
    sequence: more steps add gradients, they do not change the first ones)."""
    return mean + noise * np.random.default_rng(seed).standard_normal(steps)


def ema_trace(beta1=0.9, beta2=0.999, steps=50, mean=1.0, noise=0.5, seed=0) -> dict:
    """Adam's moment estimates for noisy scalar gradients g_t ~ N(mean, noise²).

    Returns g, m (raw), m_hat = m/(1 − β1^t), v, v_hat = v/(1 − β2^t) and the Adam direction
    m/√v and m_hat/√v_hat (ε = 0), computed with `lib.numpy_ref.optim.Adam`'s state.
    """
    g = _ema_gradients(steps, mean, noise, seed)
    theta = np.zeros(1)
    opt = Adam({"w": theta}, lr=1e-3, betas=(beta1, beta2))  # ε does not enter m or v
    rows = []
    for t, gt in enumerate(g, start=1):
        opt.step({"w": np.array([gt])})
        m, v = opt.state["w"]["exp_avg"][0], opt.state["w"]["exp_avg_sq"][0]
        rows.append((m, m / (1 - beta1**t), v, v / (1 - beta2**t)))
    m, m_hat, v, v_hat = map(np.array, zip(*rows, strict=True))
    return {
        "g": g,
        "m": m,
        "m_hat": m_hat,
        "v": v,
        "v_hat": v_hat,
        "direction_raw": m / np.sqrt(v),
        "direction": m_hat / np.sqrt(v_hat),
    }


# the x axis ends at the first of these ≥ steps (most steps of the slider keep the limits)
_EMA_STEP_TOPS = (10, 20, 40, 70, 100, 150, 200)


def _ema_limits(tr, steps) -> tuple:
    """(x limits, first-moment panel's y limits, step panel's y limits) of `ema_figure`.

    Left: fixed, the range of all the gradients the steps slider can show (m and m̂ are
    averages of them, m starting from 0), with 5 % margins. Right: from 0 to 10, or to 20
    where the raw step goes above 10 (a small β1 with a large β2), so that moving β2 keeps the
    axis and shows the raw step shrink. x: 0 to the first of `_EMA_STEP_TOPS` ≥ steps.
    """
    g = _ema_gradients(EMA_CONTROLS["steps"][1])
    lo, hi = min(0.0, g.min()), g.max()
    pad = 0.05 * (hi - lo)
    shown = np.concatenate([tr["direction_raw"], tr["direction"]])
    top = 10.0 if shown.max() <= 10 / 1.05 else 20.0 * np.ceil(shown.max() * 1.05 / 20)
    bottom = 0.0 if shown.min() >= 0 else 1.05 * shown.min()
    right = next((t for t in _EMA_STEP_TOPS if steps <= t), steps)
    return (0, right), (lo - pad, hi + pad), (bottom, top)


def _ema_update(fig, beta1=0.9, beta2=0.999, steps=50, bias_correction=True):
    """Redraw `ema_figure`'s figure in place: its lines' data, the titles (the β values), the
    limits where they change (rarely, see `_ema_limits`) and the legends where the checkbox
    shows or hides the corrected curves."""
    tr = ema_trace(beta1, beta2, steps)
    t = np.arange(1, steps + 1)
    ax_m, ax_d = fig.axes
    g, _, m, m_hat = ax_m.lines
    g.set_data(t, tr["g"])
    m.set_data(t, tr["m"])
    m_hat.set_data(t, tr["m_hat"])
    d_raw, d_hat, _ = ax_d.lines
    d_raw.set_data(t, tr["direction_raw"])
    d_hat.set_data(t, tr["direction"])
    for line in (m_hat, d_hat):
        _show(line, bias_correction)
    _set_title(ax_m, f"first moment (β1 = {beta1:g})")
    _set_title(ax_d, f"Adam's step (β1 = {beta1:g}, β2 = {beta2:g})")
    xlim, ylim_m, ylim_d = _ema_limits(tr, steps)
    plots.set_limits(ax_m, xlim, ylim_m)
    plots.set_limits(ax_d, xlim, ylim_d)
    for ax, loc in ((ax_m, "lower right"), (ax_d, "upper right")):
        handles = [h for h in ax.lines if h.get_visible() and h.get_label()[0] != "_"]
        legend = ax.get_legend()
        if legend is None or getattr(legend, "_shown", None) != handles:
            ax.legend(handles=handles, fontsize=8, loc=loc)._shown = handles


EMA_CONTROLS = {
    "beta1": (0.5, 0.99, 0.01),
    "beta2": (0.9, 0.999, 0.001),
    "steps": (5, 200, 5),
    "bias_correction": True,
}


@widgets.register_widget(controls=EMA_CONTROLS, update=_ema_update)
def ema_figure(
    beta1: float = 0.9, beta2: float = 0.999, steps: int = 50, bias_correction: bool = True
):
    """Left: noisy gradients, the raw EMA m_t and (optionally) the corrected m̂_t. Right: Adam's
    step direction m/√v, raw vs corrected, in units of lr."""
    fig, (ax_m, ax_d) = plots.new_figure(ncols=2, size=(11, 4))
    ax_m.plot([], [], ".", color="grey", label="gradients g_t")
    ax_m.axhline(1.0, color="black", lw=1, ls=":", label="true mean")
    ax_m.plot([], [], color=plots.COLORS[3], label="raw EMA m_t")
    ax_m.plot([], [], color=plots.COLORS[0], label="corrected m_t / (1 − β1^t)")
    ax_m.set_xlabel("step t")
    ax_d.plot([], [], color=plots.COLORS[3], label="raw m_t / √v_t")
    ax_d.plot([], [], color=plots.COLORS[0], label="corrected m̂_t / √v̂_t")
    ax_d.axhline(1.0, color="black", lw=1, ls=":")
    ax_d.set_xlabel("step t")
    ax_d.set_ylabel("step size / lr")
    _ema_update(fig, beta1, beta2, steps, bias_correction)
    return fig


def first_step_sizes(grad_scales, lr=1e-3, eps=1e-8) -> dict:
    """|first Adam step| / lr for a gradient of each size, with ε outside (PyTorch, the paper)
    and inside the square root (the lecture-note form), from `lib.numpy_ref.optim.Adam`."""
    out = {"scale": np.asarray(grad_scales, dtype=float), "outside": [], "inside": []}
    for key, inside in (("outside", False), ("inside", True)):
        for s in out["scale"]:
            theta = np.zeros(1)
            Adam({"w": theta}, lr=lr, eps=eps, eps_inside_sqrt=inside).step({"w": np.array([s])})
            out[key].append(abs(theta[0]) / lr)
        out[key] = np.array(out[key])
    return out


def eps_figure(sizes: dict):
    """|first step| / lr vs |g| on log-log axes, ε outside vs inside the square root."""
    fig, ax = plots.new_figure(size=(6, 3.8))
    ax.loglog(sizes["scale"], sizes["outside"], label="ε outside: g / (√v̂ + ε)  (PyTorch, paper)")
    ax.loglog(
        sizes["scale"], sizes["inside"], "--", label="ε inside: g / √(v̂ + ε)  (lecture notes)"
    )
    ax.set_xlabel("gradient size |g|")
    ax.set_ylabel("first step / lr")
    ax.legend(fontsize=9)
    return fig


def weight_decay_runs(lr=0.03, weight_decay=1.0, steps=1500) -> dict:
    """Adam with weight_decay (an L2 term λθ added to the gradient) vs AdamW (decoupled decay
    θ ← θ(1 − lr·λ)) on Rosenbrock, same lr and λ."""
    s = get_surface("rosenbrock")
    return {
        f"Adam, weight_decay={weight_decay:g} (L2 in the gradient)": run_optimizer(
            s, "Adam", lr, steps, weight_decay=weight_decay
        ),
        f"AdamW, weight_decay={weight_decay:g} (decoupled)": run_optimizer(
            s, "AdamW", lr, steps, weight_decay=weight_decay
        ),
    }


# ----------------------------------------------------------------------------- saddle points


def positive_definite_fraction(dims=(1, 2, 3, 4, 5, 6), samples=100_000, seed=0) -> np.ndarray:
    """Fraction of random symmetric n×n matrices (GOE: (G + Gᵀ)/2, G i.i.d. normal) whose
    eigenvalues are all positive, i.e. of random 'critical points' that are minima."""
    rng = np.random.default_rng(seed)
    out = []
    for n in dims:
        g = rng.standard_normal((samples, n, n))
        eig = np.linalg.eigvalsh((g + np.swapaxes(g, 1, 2)) / 2)
        out.append(np.mean(np.all(eig > 0, axis=1)))
    return np.array(out)


def saddle_escape(steps=100, lr=0.1, momentum=0.9, noise=0.05, seed=0) -> dict:
    """Runs on `Saddle` from (−2, 0), exactly on the ridge, and from (−2, 1e-3), just off it."""
    s = Saddle()
    ridge, off = np.array([-2.0, 0.0]), s.start
    return {
        "GD on the ridge": run_optimizer(s, "SGD", lr, steps, start=ridge),
        "GD, y₀ = 1e-3": run_optimizer(s, "SGD", lr, steps, start=off),
        f"GD + noise σ = {noise:g} on the ridge": run_optimizer(
            s, "SGD", lr, steps, start=ridge, grad_noise=noise, seed=seed
        ),
        f"momentum {momentum:g}, y₀ = 1e-3": run_optimizer(
            s, "Momentum", lr, steps, start=off, momentum=momentum
        ),
    }


def paths_figure(surface: Surface, runs: dict, title: str = ""):
    """Runs of `run_optimizer` on ``surface``: paths on its contours (left), f − f_min per step
    (right, log scale)."""
    fig, (ax_path, ax_loss) = plots.new_figure(ncols=2, size=(11, 4.8))
    _draw_race(surface, runs, ax_path, ax_loss)
    ax_path.set_title(title)
    _legend_below(fig, ax_loss, ncols=2)
    return fig


# ----------------------------------------------------------------------------- mini-batch noise


def gradient_noise(
    problem: LeastSquares2D, batch_sizes=(1, 4, 16, 64, 256), draws=2000, point=None, seed=0
) -> dict:
    """E‖g_B − g‖² of mini-batch gradients (sampled with replacement) at ``point``, measured over
    ``draws`` batches, and its prediction tr(Σ)/B (Σ: covariance of the per-example gradients)."""
    rng = np.random.default_rng(seed)
    xy = problem.start if point is None else np.asarray(point, dtype=float)
    per_example = problem.X * (problem.X @ xy - problem.y)[:, None]  # (n, 2)
    full = per_example.mean(axis=0)
    trace_sigma = np.sum(per_example.var(axis=0))
    measured = []
    for b in batch_sizes:
        idx = rng.integers(0, len(problem.y), (draws, b))
        gb = per_example[idx].mean(axis=1)
        measured.append(np.mean(np.sum((gb - full) ** 2, axis=1)))
    return {
        "batch_size": np.array(batch_sizes),
        "measured": np.array(measured),
        "predicted": trace_sigma / np.array(batch_sizes, dtype=float),
    }


def drunkard_figure(problem: LeastSquares2D, walks: dict, noise: dict):
    """Mini-batch SGD paths (left), loss per step (middle), gradient noise vs B (right)."""
    fig, (ax_path, ax_loss, ax_var) = plots.new_figure(ncols=3, size=(14, 4.2))
    _draw_race(problem, walks, ax_path, ax_loss)
    ax_path.set_xlabel("w")
    ax_path.set_ylabel("b")
    ax_path.set_title("mini-batch SGD paths")
    ax_loss.legend(fontsize=8, loc="upper right")
    ax_var.loglog(noise["batch_size"], noise["predicted"], "-", color="black", label="tr(Σ) / B")
    ax_var.loglog(noise["batch_size"], noise["measured"], "o", label="measured")
    ax_var.set_xlabel("batch size B")
    ax_var.set_ylabel("E‖g_B − g‖²")
    ax_var.set_title("gradient noise")
    ax_var.legend(fontsize=9)
    return fig


# ----------------------------------------------------------------------------- schedules


# the x axis (epochs) ends at the first of these ≥ epochs (most slider steps keep the limits)
_SCHEDULE_EPOCH_TOPS = (5, 10, 15, 25, 40, 60, 80, 100)


def _schedule_limits(epochs, lr, log_scale, lowest) -> tuple:
    """(x limits, y limits) of `schedule_figure`: x from 0 to the first of
    `_SCHEDULE_EPOCH_TOPS` ≥ epochs; y up to the first 1-2-5 value ≥ lr (every schedule peaks
    at lr) with a 5 % margin, from 0 (linear) or from the decade below the lowest lr shown (log
    scale). They change only when epochs, lr or the lowest lr cross those steps."""
    right = next((t for t in _SCHEDULE_EPOCH_TOPS if epochs <= t), epochs)
    top = plots.nice_ceil(lr)
    if log_scale:
        bottom = 10.0 ** np.floor(np.log10(lowest) - 0.05)
        return (0, right), (bottom, top * 10 ** (0.05 * np.log10(top / bottom)))
    return (0, right), (-0.05 * top, 1.05 * top)


def _schedule_update(fig, schedules=SCHEDULES, epochs=20, steps_per_epoch=50, lr=0.1,
                     log_scale=False):
    """Redraw `schedule_figure`'s figure in place: one line per named schedule, hidden unless
    selected; a note when none is. The x axis is in epochs (each step at its fraction of an
    epoch), so steps_per_epoch keeps the limits; a schedule is proportional to lr, so each
    (schedule, epochs, steps_per_epoch) is computed once per figure at lr = 1 and scaled."""
    (ax,) = fig.axes
    memo = fig.__dict__.setdefault("_schedule_memo", {})
    if len(memo) > 60:  # (each up to 20 000 values)
        memo.clear()
    lowest = []
    for line in ax.lines:
        name = line.get_label()
        _show(line, name in schedules)
        if name in schedules:
            key = (name, epochs, steps_per_epoch)
            if key not in memo:
                memo[key] = schedule_lrs(name, epochs, steps_per_epoch, 1.0)
            lrs = lr * memo[key]
            line.set_data(np.arange(len(lrs)) / steps_per_epoch, lrs)
            lowest.append(lrs.min())
    _show(ax.texts[0], not schedules)
    if ax.get_yscale() != ("log" if log_scale else "linear"):
        ax.set_yscale("log" if log_scale else "linear")
    _set_title(ax, f"{epochs} epochs × {steps_per_epoch} steps", fontsize=10)
    xlim, ylim = _schedule_limits(epochs, lr, log_scale, min(lowest, default=lr / 1000))
    plots.set_limits(ax, xlim, ylim)
    shown = [line for line in ax.lines if line.get_visible()]
    legend = ax.get_legend()
    if shown and (legend is None or getattr(legend, "_shown", None) != shown):
        ax.legend(handles=shown, fontsize=9, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0))._shown = shown
    elif not shown and legend is not None:
        legend.remove()


SCHEDULE_CONTROLS = {
    "schedules": widgets.Many(SCHEDULES, rows=6),
    "epochs": (2, 100, 1),
    "steps_per_epoch": (1, 200, 1),
    "lr": widgets.LogRange(1e-4, 1.0, 0.1),
    "log_scale": False,
}


@widgets.register_widget(controls=SCHEDULE_CONTROLS, update=_schedule_update)
def schedule_figure(
    schedules=SCHEDULES,
    epochs: int = 20,
    steps_per_epoch: int = 50,
    lr: float = 0.1,
    log_scale: bool = False,
):
    """The learning rate applied at every step under each schedule, against the epoch."""
    unknown = [n for n in schedules if n not in SCHEDULES]
    if unknown:
        raise ValueError(f"unknown schedules {unknown}; choose from {list(SCHEDULES)}")
    fig, ax = plots.new_figure(size=(9, 4))
    for name in SCHEDULES:
        ax.plot([], [], label=name)
    plots.note(ax, "select at least one schedule")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    _schedule_update(fig, schedules, epochs, steps_per_epoch, lr, log_scale)
    return fig




# ----------------------------------------------------------------------------- real data

# name -> (torch.optim class name, keyword arguments): "sensible" learning rates for the MLP
TORCH_OPTIMIZERS = {
    "SGD": ("SGD", dict(lr=0.1)),
    "Momentum": ("SGD", dict(lr=0.02, momentum=0.9)),
    "Nesterov": ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True)),
    "Adagrad": ("Adagrad", dict(lr=0.02)),
    "RMSprop": ("RMSprop", dict(lr=1e-3)),
    "Adam": ("Adam", dict(lr=1e-3)),
    "AdamW": ("AdamW", dict(lr=1e-3, weight_decay=0.01)),
}


def optimizer_specs(spec: RunSpec, configs=TORCH_OPTIMIZERS, impl="torch") -> dict:
    """{name: ``spec`` with the optimizer of ``configs[name]``} for `lib.experiments.run_grid`.

    impl: "torch" (torch.optim) or "lib" (the same classes of lib.torch_impl.optim). All the
    specs share the model, seed and batches of ``spec``: only the optimizer differs.
    """
    if impl not in ("torch", "lib"):
        raise ValueError(f"impl must be 'torch' or 'lib', got {impl!r}")
    source = torch.optim if impl == "torch" else lib_optim
    unknown = {name: cls for name, (cls, _) in configs.items() if not hasattr(source, cls)}
    if unknown:
        raise ValueError(f"configs name optimizer classes that {source.__name__} lacks: {unknown}")
    return {name: replace(spec, optimizer=partial(getattr(source, cls_name), **kwargs))
            for name, (cls_name, kwargs) in configs.items()}


def _warmup(optimizer, epochs, steps_per_epoch, start_factor):
    """A `RunSpec.schedule`: the lr ramps linearly from start_factor·lr to lr over epoch 1."""
    return sched.LinearLR(optimizer, start_factor=start_factor, total_iters=steps_per_epoch), "step"


def batch_size_runs(
    spec: RunSpec, data, batch_sizes=(16, 64, 256, 1024), lr=0.05, base_batch=64, momentum=0.9
) -> dict:
    """SGD + momentum with each batch size B for ``spec.epochs`` epochs, two ways:
    "fixed": lr for every B; "scaled": the linear scaling rule lr·B/base_batch (Goyal et al.,
    2017), reached by a linear warm-up from lr over the first epoch when B > base_batch.
    Returns {"batch_size": B array, "fixed": {B: History}, "scaled": {B: History}}.
    """
    out = {"batch_size": np.array(batch_sizes), "fixed": {}, "scaled": {}}
    for b in batch_sizes:
        fixed = replace(spec, batch_size=int(b),
                        optimizer=partial(torch.optim.SGD, lr=lr, momentum=momentum))
        scaled = replace(fixed, optimizer=partial(torch.optim.SGD, lr=lr * b / base_batch,
                                                  momentum=momentum))
        if b > base_batch:
            scaled = replace(scaled, schedule=partial(_warmup, start_factor=base_batch / b))
        out["fixed"][b] = experiments.run(fixed, data)
        out["scaled"][b] = experiments.run(scaled, data)
    return out


def batch_size_figure(runs: dict):
    """Validation accuracy after the runs' epochs vs batch size: lr fixed vs scaled with B."""
    fig, ax = plots.new_figure(size=(6.5, 4))
    b = runs["batch_size"]
    for key, label, marker in (
        ("fixed", "same lr for every B", "o"),
        ("scaled", "lr ∝ B, with warm-up (linear scaling rule)", "s"),
    ):
        acc = [runs[key][int(x)].epoch["val_acc"][-1] for x in b]
        ax.semilogx(b, acc, marker + "-", label=label, base=2)
    ax.set_xticks(b, [str(int(x)) for x in b])
    ax.set_xlabel("batch size B (same number of epochs: fewer steps for larger B)")
    ax.set_ylabel("validation accuracy")
    ax.legend(fontsize=9)
    return fig
