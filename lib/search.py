"""Hyperparameter search by sampling: grid, random (uniform, log-uniform, int, categorical),
coarse-to-fine, and the Bergstra–Bengio projection argument.

A *space* is a dict {name: distribution}:

    space = {"lr": LogUniform(1e-5, 1.0), "momentum": Uniform(0.5, 0.99),
             "hidden": IntUniform(16, 256, log=True), "act": Categorical(["relu", "tanh"])}
    configs = random_configs(space, 20, rng=np.random.default_rng(0))   # list of dicts
    configs = grid_configs(space, 3)                                     # 3 values per axis
    result = evaluate(objective, configs, mode="max")                    # SearchResult

A config is a plain dict, so a search is a list of `lib.experiments.RunSpec`s via
``as_run_specs(configs, make_spec)`` (ready for `lib.experiments.run_grid`). All randomness comes
from an explicit ``np.random.Generator``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lib.numpy_ref.module import check_rng

__all__ = [
    "Uniform",
    "LogUniform",
    "IntUniform",
    "Categorical",
    "log_uniform",
    "check_space",
    "check_int",
    "check_mode",
    "random_configs",
    "grid_configs",
    "SearchResult",
    "evaluate",
    "random_search",
    "grid_search",
    "coarse_to_fine",
    "refine",
    "as_run_specs",
    "config_label",
    "projection_objective",
    "projection_experiment",
    "variance_explained",
    "chance_variance_explained",
    "best_so_far",
    "trials_to_reach",
]


def check_int(name, n, minimum=1) -> int:
    """``n`` as an int; ValueError unless it is an integer >= minimum (bool is not)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def check_mode(mode) -> str:
    """ValueError unless mode is "min" or "max" (which objective value is best)."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    return mode


def _check_bounds(kind, low, high, positive=False):
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v):
            raise ValueError(f"{kind} bounds must be finite numbers, got low={low!r}, "
                             f"high={high!r}")
    if not low < high:
        raise ValueError(f"{kind} needs low < high, got low={low!r}, high={high!r}")
    if positive and low <= 0:
        raise ValueError(f"{kind} needs 0 < low < high (a log scale has no 0), got low={low!r}")


def log_uniform(low, high, size=None, rng=None) -> np.ndarray:
    """x = exp(u), u ~ U(ln low, ln high): every decade of [low, high] gets the same share of
    samples (density p(x) = 1 / (x ln(high/low)))."""
    _check_bounds("log_uniform", low, high, positive=True)
    rng = check_rng(rng, "log_uniform")
    return np.exp(rng.uniform(math.log(low), math.log(high), size=size))


@dataclass(frozen=True)
class Uniform:
    """x ~ U(low, high)."""

    low: float
    high: float

    def __post_init__(self):
        _check_bounds("Uniform", self.low, self.high)

    def sample(self, n, rng):
        return [float(v) for v in rng.uniform(self.low, self.high, size=n)]

    def grid(self, k):
        """k evenly spaced values from low to high (k = 1: the middle)."""
        if k == 1:
            return [(self.low + self.high) / 2]
        return [float(v) for v in np.linspace(self.low, self.high, k)]


@dataclass(frozen=True)
class LogUniform:
    """x = exp(u), u ~ U(ln low, ln high) (`log_uniform`); a grid is evenly spaced in ln x."""

    low: float
    high: float

    def __post_init__(self):
        _check_bounds("LogUniform", self.low, self.high, positive=True)

    def sample(self, n, rng):
        return [float(v) for v in log_uniform(self.low, self.high, size=n, rng=rng)]

    def grid(self, k):
        if k == 1:
            return [math.sqrt(self.low * self.high)]
        return [float(v) for v in np.geomspace(self.low, self.high, k)]


@dataclass(frozen=True)
class IntUniform:
    """An integer in [low, high] (both included), uniform, or log-uniform with ``log=True``
    (round(exp(u)), u ~ U(ln(low − ½), ln(high + ½)))."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self):
        for v in (self.low, self.high):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"IntUniform bounds must be integers, got low={self.low!r}, "
                                 f"high={self.high!r}")
        _check_bounds("IntUniform", self.low, self.high, positive=self.log)

    def sample(self, n, rng):
        if self.log:
            u = log_uniform(self.low - 0.5, self.high + 0.5, size=n, rng=rng)
            return [int(min(max(round(v), self.low), self.high)) for v in u]
        return [int(v) for v in rng.integers(self.low, self.high, endpoint=True, size=n)]

    def grid(self, k):
        """Up to k distinct integers, evenly spaced (in ln x if log)."""
        space = np.geomspace if self.log else np.linspace
        values = space(self.low, self.high, k) if k > 1 else [(self.low + self.high) / 2]
        return sorted({int(round(v)) for v in values})


@dataclass(frozen=True)
class Categorical:
    """One of ``choices``, each with probability 1/len(choices); a grid uses every choice."""

    choices: tuple

    def __post_init__(self):
        if isinstance(self.choices, (str, bytes)) or not hasattr(self.choices, "__len__") \
                or len(self.choices) == 0:
            raise ValueError(f"Categorical needs a non-empty list of choices, got {self.choices!r}")
        object.__setattr__(self, "choices", tuple(self.choices))

    def sample(self, n, rng):
        return [self.choices[i] for i in rng.integers(0, len(self.choices), size=n)]

    def grid(self, k):
        return list(self.choices)


DISTRIBUTIONS = (Uniform, LogUniform, IntUniform, Categorical)


def check_space(space) -> dict:
    """The space as a dict {name: distribution}; ValueError naming the bad parameter otherwise."""
    if not isinstance(space, dict) or not space:
        raise ValueError("space must be a non-empty dict {name: distribution}, e.g. "
                         "{'lr': LogUniform(1e-5, 1.0)}")
    allowed = ", ".join(d.__name__ for d in DISTRIBUTIONS)
    for name, dist in space.items():
        if not isinstance(name, str):
            raise ValueError(f"parameter names must be strings, got {name!r}")
        if not isinstance(dist, DISTRIBUTIONS):
            raise ValueError(f"parameter {name!r}: {dist!r} is not a distribution; allowed: "
                             f"{allowed} (e.g. LogUniform(1e-5, 1.0))")
    return space


def random_configs(space, n, rng) -> list[dict]:
    """n configs, each parameter drawn independently from its distribution with ``rng``."""
    space, n = check_space(space), check_int("n", n)
    rng = check_rng(rng, "random_configs")
    columns = {name: dist.sample(n, rng) for name, dist in space.items()}
    return [{name: columns[name][i] for name in space} for i in range(n)]


def grid_configs(space, per_dim) -> list[dict]:
    """Every combination (Cartesian product) of ``per_dim`` values per parameter (an int, or a
    dict {name: int}, a name left out getting 1 value: the middle of its range); a categorical
    parameter uses all of its choices. Size = Π kᵢ."""
    space = check_space(space)
    if isinstance(per_dim, dict):
        unknown = set(per_dim) - set(space)
        if unknown:
            raise ValueError(f"per_dim names {sorted(unknown)} are not in the space "
                             f"{sorted(space)}")
        ks = {name: check_int(f"per_dim[{name!r}]", per_dim.get(name, 1)) for name in space}
    else:
        ks = dict.fromkeys(space, check_int("per_dim", per_dim))
    axes = [space[name].grid(ks[name]) for name in space]
    return [dict(zip(space, values, strict=True)) for values in itertools.product(*axes)]


@dataclass
class SearchResult:
    """configs[i] scored values[i]; best = the max (mode "max") or min (mode "min")."""

    configs: list
    values: list
    mode: str = "max"
    rounds: list = field(default_factory=list)  # coarse_to_fine: the SearchResult of each round
    fine_space: dict | None = None  # coarse_to_fine: the narrowed space of round 2

    @property
    def best_index(self) -> int:
        v = np.array([x if math.isfinite(x) else np.nan for x in self.values], dtype=float)
        if np.all(np.isnan(v)):
            raise ValueError("no finite objective value: every trial failed")
        return int(np.nanargmax(v) if self.mode == "max" else np.nanargmin(v))

    @property
    def best_config(self) -> dict:
        return self.configs[self.best_index]

    @property
    def best_value(self) -> float:
        return self.values[self.best_index]


def evaluate(objective: Callable, configs, mode="max") -> SearchResult:
    """Call ``objective(config) -> float`` on each config in order; NaN/inf is kept as a failed
    trial (never best)."""
    check_mode(mode)
    if not callable(objective):
        raise TypeError("objective must be callable: objective(config) -> float")
    configs = list(configs)
    values = [float(objective(c)) for c in configs]
    return SearchResult(configs, values, mode)


def random_search(objective, space, n, rng, mode="max") -> SearchResult:
    """`evaluate` on ``random_configs(space, n, rng)``."""
    return evaluate(objective, random_configs(space, n, rng), mode)


def grid_search(objective, space, per_dim, mode="max") -> SearchResult:
    """`evaluate` on ``grid_configs(space, per_dim)``."""
    return evaluate(objective, grid_configs(space, per_dim), mode)


def _zoom(dist, center, zoom):
    """The distribution narrowed around ``center`` to ``zoom`` × its width (in ln x for log
    scales), shifted to stay inside the original bounds; categoricals are fixed to ``center``."""
    if isinstance(dist, Categorical):
        return Categorical([center])
    log = isinstance(dist, LogUniform) or (isinstance(dist, IntUniform) and dist.log)
    scale, unscale = (math.log, math.exp) if log else ((lambda v: v), (lambda v: v))
    lo, hi, c = scale(dist.low), scale(dist.high), scale(center)
    width = zoom * (hi - lo)
    new_lo = min(max(c - width / 2, lo), hi - width)  # slid back inside [lo, hi]
    new_lo, new_hi = unscale(new_lo), unscale(new_lo + width)
    if isinstance(dist, IntUniform):
        a, b = max(dist.low, math.floor(new_lo)), min(dist.high, math.ceil(new_hi))
        return IntUniform(a, b, log=dist.log) if a < b else Categorical([a])
    return type(dist)(new_lo, new_hi)


def refine(objective, space, coarse, n_fine, rng, zoom=0.25, mode="max") -> SearchResult:
    """The fine round of coarse-to-fine search after a coarse round already run (a
    `SearchResult` on ``space``): random search over each range narrowed to ``zoom`` × its
    width (in ln x for log-uniform parameters) around ``coarse.best_config``, categoricals
    fixed to its choice. The returned result's ``fine_space`` is the narrowed space."""
    space = check_space(space)
    if not 0 < zoom < 1:
        raise ValueError(f"zoom must be in (0, 1) (the fraction of each range kept), got {zoom!r}")
    best = coarse.best_config
    fine_space = {name: _zoom(dist, best[name], zoom) for name, dist in space.items()}
    fine = random_search(objective, fine_space, n_fine, rng, mode)
    fine.fine_space = fine_space
    return fine


def coarse_to_fine(objective, space, n_coarse, n_fine, rng, zoom=0.25, mode="max") -> SearchResult:
    """Two rounds of random search: round 1 over ``space``; round 2 (`refine`) over each range
    narrowed to ``zoom`` × its width (measured in ln x for log-uniform parameters: zoom 0.25 of
    [1e-5, 1] is 1.25 decades) centred on round 1's best, categoricals fixed to the best choice.
    Returns all n_coarse + n_fine trials; ``result.rounds`` holds each round."""
    space = check_space(space)
    if not 0 < zoom < 1:
        raise ValueError(f"zoom must be in (0, 1) (the fraction of each range kept), got {zoom!r}")
    coarse = random_search(objective, space, n_coarse, rng, mode)
    fine = refine(objective, space, coarse, n_fine, rng, zoom, mode)
    return SearchResult(coarse.configs + fine.configs, coarse.values + fine.values, mode,
                        rounds=[coarse, fine], fine_space=fine.fine_space)


def _groups(dist, values, bins):
    """Bin labels for one parameter's values: a categorical's choices, else ``bins`` groups of
    equal count (quantiles; of ln x on a log scale)."""
    if isinstance(dist, Categorical):
        return np.array([dist.choices.index(v) for v in values])
    x = np.asarray(values, dtype=float)
    if isinstance(dist, LogUniform) or (isinstance(dist, IntUniform) and dist.log):
        x = np.log(x)
    edges = np.percentile(x, 100 * np.arange(1, bins) / bins)  # the bins' boundaries
    return np.searchsorted(edges, x, side="right")


def variance_explained(configs, values, space, bins=4) -> dict:
    """{name: η²}: the share of the variance of ``values`` that each parameter explains on its
    own (its main effect, the correlation ratio): split the trials into groups by that parameter
    alone (``bins`` equal-count bins, or a categorical's choices), then η² = Σ_g n_g (ȳ_g − ȳ)² /
    Σ_i (y_i − ȳ)². With no effect at all, η² is still about (groups − 1)/(n − 1)
    (`chance_variance_explained`): noise between groups. Sorted, largest first."""
    space = check_space(space)
    y = np.asarray(values, dtype=float)
    if y.ndim != 1 or len(y) != len(configs) or len(y) < 2 * bins:
        raise ValueError(f"need one value per config and at least {2 * bins} trials, got "
                         f"{len(y)} values for {len(configs)} configs")
    if not np.all(np.isfinite(y)) or y.var() == 0:
        raise ValueError("values must be finite and not all equal")
    check_int("bins", bins, 2)
    out = {}
    for name, dist in space.items():
        g = _groups(dist, [c[name] for c in configs], bins)
        between = sum((g == k).sum() * (y[g == k].mean() - y.mean()) ** 2 for k in np.unique(g))
        out[name] = float(between / ((y - y.mean()) ** 2).sum())
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def chance_variance_explained(n, groups) -> float:
    """E[η²] = (groups − 1)/(n − 1) when the parameter has no effect (values i.i.d.)."""
    return (check_int("groups", groups, 2) - 1) / (check_int("n", n, 2) - 1)


def best_so_far(values, mode="max") -> np.ndarray:
    """The best value among the first k trials, for k = 1 … n (failed trials: NaN, skipped)."""
    check_mode(mode)
    v = np.asarray(values, dtype=float)
    v = np.where(np.isfinite(v), v, -np.inf if mode == "max" else np.inf)
    return np.maximum.accumulate(v) if mode == "max" else np.minimum.accumulate(v)


def trials_to_reach(values, target, mode="max") -> int | None:
    """The 1-based index of the first trial at least as good as ``target`` (None if never)."""
    hits = np.flatnonzero(best_so_far(values, mode) >= target if mode == "max"
                          else best_so_far(values, mode) <= target)
    return int(hits[0]) + 1 if len(hits) else None


def config_label(config: dict) -> str:
    """'lr=0.00316, momentum=0.9': a short label (4 significant digits) for plots and run_grid."""
    parts = []
    for name, v in config.items():
        text = f"{v:.4g}" if isinstance(v, float) else str(v)
        parts.append(f"{name}={text}")
    return ", ".join(parts)


def as_run_specs(configs, make_spec: Callable) -> dict:
    """{config_label(config): make_spec(config)} for `lib.experiments.run_grid`: a search as a
    list of RunSpecs. ``make_spec(config) -> RunSpec``."""
    if not callable(make_spec):
        raise TypeError("make_spec must be callable: make_spec(config) -> RunSpec")
    specs = {}
    for config in configs:
        label = config_label(config)
        if label in specs:
            raise ValueError(f"two configs have the same label {label!r}; drop the duplicate")
        specs[label] = make_spec(config)
    return specs


# ----------------------------------------------------------------- Bergstra & Bengio (2012), fig. 1


def projection_objective(x, y, peak, width=0.05, weight=0.05):
    """f(x, y) = exp(−(x − peak)² / (2 width²)) + weight · sin(π y), on [0, 1]²: x matters (a
    narrow bump of height 1), y hardly (at most ``weight``). Maximise."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return np.exp(-((x - peak) ** 2) / (2 * width**2)) + weight * np.sin(np.pi * y)


def projection_experiment(n_trials, seeds=range(25), width=0.05, weight=0.05) -> dict:
    """Grid vs random search with the same budget on `projection_objective`.

    Grid: k = ⌊√n⌋ values per axis at the cell centres (i + ½)/k, k² ≤ n trials; random: n points
    ~ U([0, 1]²). The bump's position is drawn per seed from U(0.1, 0.9). Returns
    {"grid_trials": k², "random_trials": n, "grid_distinct_x": k, "random_distinct_x": n
    (distinct with probability 1), "grid_best", "random_best": median over seeds of the best f,
    "grid_best_all", "random_best_all": per seed, and for a figure of the first seed:
    "peak", "grid_xy" (k², 2), "random_xy" (n, 2)}. Vectorised: a few ms for 25 seeds.
    """
    n = check_int("n_trials", n_trials)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must be a non-empty list of integers")
    k = math.isqrt(n)
    centres = (np.arange(k) + 0.5) / k
    gx, gy = np.meshgrid(centres, centres, indexing="ij")
    grid_best, random_best, random_distinct, first = [], [], [], None
    for seed in seeds:
        rng = np.random.default_rng(seed)
        peak = rng.uniform(0.1, 0.9)
        xy = rng.uniform(0.0, 1.0, size=(n, 2))
        grid_best.append(float(projection_objective(gx, gy, peak, width, weight).max()))
        random_best.append(float(projection_objective(xy[:, 0], xy[:, 1], peak, width,
                                                      weight).max()))
        random_distinct.append(len(np.unique(xy[:, 0])))
        first = first or {"peak": float(peak), "random_xy": xy}
    return {
        "grid_trials": k * k,
        "random_trials": n,
        "grid_distinct_x": k,
        "random_distinct_x": int(np.median(random_distinct)),
        "grid_best": float(np.median(grid_best)),
        "random_best": float(np.median(random_best)),
        "grid_best_all": grid_best,
        "random_best_all": random_best,
        "peak": first["peak"],
        "grid_xy": np.stack([gx.ravel(), gy.ravel()], axis=1),
        "random_xy": first["random_xy"],
    }
