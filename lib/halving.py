"""Successive halving (Jamieson & Talwalkar 2016; the inner loop of Hyperband, Li et al. 2017):
give many configs a small budget, keep the best 1/η, multiply the budget by η, repeat.

    result = successive_halving(train, configs, min_budget=1, eta=3)   # train(config, budget)
    schedule = halving_schedule(27, min_budget=1, eta=3)  # [(27, 1), (9, 3), (3, 9), (1, 27)]

With n = η^s configs: s + 1 rungs, Σᵢ n/ηⁱ = (η^(s+1) − 1)/(η − 1) evaluations (40 for n = 27,
η = 3), and a total budget of Σᵢ nᵢ rᵢ = n·r·(s + 1) when every evaluation trains from scratch
(108 epochs), Σᵢ nᵢ (rᵢ − rᵢ₋₁) when ``train`` resumes from a checkpoint (81 epochs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lib.search import LogUniform, check_int, check_mode, random_configs

__all__ = [
    "halving_schedule",
    "HalvingResult",
    "successive_halving",
    "synthetic_accuracy",
    "SyntheticTrainer",
    "CurveTrainer",
    "pruned_study",
    "compare_with_optuna",
]


def halving_schedule(n_configs, min_budget=1, eta=3, max_budget=None) -> list[tuple[int, int]]:
    """The rungs [(nᵢ, rᵢ)]: nᵢ = ⌊n / ηⁱ⌋ configs each trained to budget rᵢ = r·ηⁱ, for
    i = 0 … s with s = ⌊log_η n⌋ (the last rung has 1 to η − 1 configs), stopping early at the
    last rung with rᵢ ≤ max_budget."""
    n = check_int("n_configs", n_configs, 1)
    r = check_int("min_budget", min_budget, 1)
    eta = check_int("eta", eta, 2)
    if max_budget is not None and check_int("max_budget", max_budget, 1) < r:
        raise ValueError(f"max_budget ({max_budget}) must be >= min_budget ({r})")
    rungs, i = [], 0
    while n // eta**i >= 1:
        budget = r * eta**i
        if max_budget is not None and budget > max_budget:
            break
        rungs.append((n // eta**i, budget))
        i += 1
    return rungs


@dataclass
class HalvingResult:
    """rungs: [{"budget", "configs", "values"}] in order; the best config of the last rung;
    n_evaluations = Σ nᵢ; total_budget = Σ nᵢ rᵢ (each evaluation from scratch);
    resumed_budget = Σ nᵢ (rᵢ − rᵢ₋₁) (each config continues from its previous rung)."""

    rungs: list
    best_config: dict
    best_value: float
    n_evaluations: int
    total_budget: int
    resumed_budget: int


def successive_halving(train: Callable, configs, min_budget=1, eta=3, max_budget=None,
                       mode="max") -> HalvingResult:
    """Run the rungs of `halving_schedule(len(configs), min_budget, eta, max_budget)`: call
    ``train(config, budget) -> value`` for every config still in, then keep the ⌊nᵢ/η⌋ best
    (mode "max": highest value; ties keep their order). ``budget`` is the total number of
    epochs (or steps) the config should have had: a ``train`` that keeps checkpoints trains only
    budget − previous. A NaN value ranks last."""
    check_mode(mode)
    if not callable(train):
        raise TypeError("train must be callable: train(config, budget) -> value")
    configs = list(configs)
    schedule = halving_schedule(len(configs), min_budget, eta, max_budget)
    alive = list(range(len(configs)))
    rungs, previous, resumed = [], 0, 0
    for n_i, budget in schedule:
        alive = alive[:n_i]
        values = np.array([float(train(configs[k], budget)) for k in alive])
        resumed += len(alive) * (budget - previous)
        previous = budget
        rungs.append({"budget": budget, "configs": [configs[k] for k in alive],
                      "values": values.tolist()})
        score = np.where(np.isnan(values), -np.inf if mode == "max" else np.inf, values)
        order = np.argsort(-score if mode == "max" else score, kind="stable")
        alive = [alive[j] for j in order]  # best first; the next rung keeps its n_{i+1}
    return HalvingResult(
        rungs=rungs,
        best_config=configs[alive[0]],  # the best of the last rung
        best_value=float(values[order[0]]),
        n_evaluations=sum(n for n, _ in schedule),
        total_budget=sum(n * r for n, r in schedule),
        resumed_budget=resumed,
    )


# ---------------------------------------------------------------- a synthetic objective to test on


def synthetic_accuracy(lr, budget, tau=3.0):
    """A learning curve: acc(lr, b) = 0.1 + (a(lr) − 0.1)(1 − e^(−b/τ)), final accuracy
    a(lr) = max(0.1, 0.9 − 0.08 (log₁₀ lr + 1.5)²) (best at lr = 10^−1.5 ≈ 0.03). Every curve
    rises with the same time constant τ, so the ranking of configs is the same at every budget."""
    lr = np.asarray(lr, float)
    if np.any(lr <= 0):
        raise ValueError(f"lr must be > 0, got {lr}")
    final = np.maximum(0.1, 0.9 - 0.08 * (np.log10(lr) + 1.5) ** 2)
    return 0.1 + (final - 0.1) * (1 - np.exp(-np.asarray(budget, float) / tau))


class SyntheticTrainer:
    """train(config, budget) -> synthetic_accuracy(config["lr"], budget), as if resuming from a
    checkpoint: ``calls`` counts evaluations, ``spent`` the epochs actually trained
    (budget − what that config already had)."""

    def __init__(self, tau=3.0):
        self.tau, self.calls, self.spent, self._trained = tau, 0, 0, {}

    def __call__(self, config, budget):
        key = tuple(sorted(config.items()))
        self.calls += 1
        self.spent += max(0, budget - self._trained.get(key, 0))
        self._trained[key] = max(budget, self._trained.get(key, 0))
        return float(synthetic_accuracy(config["lr"], budget, self.tau))


class CurveTrainer:
    """train(config, budget) -> curves[i][budget − 1] for the config ``configs[i]``: learning
    curves recorded once (one value per epoch of a full-length run) replayed as if each config
    resumed from its checkpoint. Exact for runs whose first b epochs do not depend on the total
    length (a constant learning rate, no schedule). ``calls`` and ``spent`` (epochs actually
    trained, resuming) as in `SyntheticTrainer`."""

    def __init__(self, configs, curves):
        configs, curves = list(configs), [list(c) for c in curves]
        if len(configs) != len(curves) or not configs:
            raise ValueError(f"need one curve per config, got {len(configs)} configs and "
                             f"{len(curves)} curves")
        self._curves = {self._key(c): v for c, v in zip(configs, curves, strict=True)}
        self.calls, self.spent, self._trained = 0, 0, {}

    @staticmethod
    def _key(config):
        return tuple(sorted(config.items()))

    def __call__(self, config, budget):
        key = self._key(config)
        if key not in self._curves:
            raise KeyError(f"no curve recorded for config {config!r}")
        curve = self._curves[key]
        if not 1 <= budget <= len(curve):
            raise ValueError(f"budget must be in [1, {len(curve)}] (the recorded epochs), got "
                             f"{budget}")
        self.calls += 1
        self.spent += max(0, budget - self._trained.get(key, 0))
        self._trained[key] = max(budget, self._trained.get(key, 0))
        return float(curve[budget - 1])


PRUNERS = ("successive_halving", "median")


def pruned_study(train: Callable, configs, space, max_budget, pruner="successive_halving",
                 eta=3, min_budget=1, seed=0):
    """Run ``configs`` one after the other (``enqueue_trial``) through an optuna study with a
    pruner: each trial reports ``train(config, epoch)`` after every epoch up to ``max_budget``
    and stops when the pruner says so (``SuccessiveHalvingPruner(min_budget, reduction_factor=
    eta)``: asynchronous, a trial is compared only with those before it; ``MedianPruner``: stop
    when below the median of earlier trials at the same epoch, after ``eta`` trials and
    ``min_budget`` epochs). ``space``: our search space of the configs (`lib.search`), for the
    trials' distributions. Returns the study."""
    import optuna

    from lib.tuning import suggest

    if pruner not in PRUNERS:
        raise ValueError(f"unknown pruner {pruner!r}; allowed: {', '.join(PRUNERS)}")

    def objective(trial):
        config = suggest(trial, space)
        value = None
        for epoch in range(1, max_budget + 1):
            value = train(config, epoch)
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    if pruner == "successive_halving":
        p = optuna.pruners.SuccessiveHalvingPruner(min_resource=min_budget, reduction_factor=eta)
    else:
        p = optuna.pruners.MedianPruner(n_startup_trials=eta, n_warmup_steps=min_budget)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.RandomSampler(seed=seed), pruner=p)
        for config in configs:
            study.enqueue_trial(config)
        study.optimize(objective, n_trials=len(configs))
    finally:
        optuna.logging.set_verbosity(verbosity)
    return study


def compare_with_optuna(n_configs=27, eta=3, min_budget=1, seed=0, pruner="successive_halving"):
    """Our successive halving vs an optuna study with a pruner (`pruned_study`), on the same
    ``n_configs`` configs (lr ~ log-uniform [1e-4, 1], drawn with ``seed``) and
    `SyntheticTrainer`, each optuna trial reporting up to the largest rung's budget. Returns
    {"ours": {...}, "optuna": {...}} with the best lr, best value, evaluations / trials and the
    epochs spent (with resuming)."""
    import optuna

    if pruner not in PRUNERS:
        raise ValueError(f"unknown pruner {pruner!r}; allowed: {', '.join(PRUNERS)}")
    space = {"lr": LogUniform(1e-4, 1.0)}
    configs = random_configs(space, n_configs, np.random.default_rng(seed))
    ours_trainer = SyntheticTrainer()
    ours = successive_halving(ours_trainer, configs, min_budget=min_budget, eta=eta)
    max_budget = halving_schedule(n_configs, min_budget, eta)[-1][1]
    theirs = SyntheticTrainer()
    study = pruned_study(theirs, configs, space, max_budget, pruner, eta, min_budget, seed)
    states = [t.state for t in study.trials]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    # a pruned trial's last report is its best guess; the study's best is over completed trials
    return {
        "ours": {"best_lr": ours.best_config["lr"], "best_value": ours.best_value,
                 "evaluations": ours.n_evaluations, "epochs": ours_trainer.spent,
                 "full_budget_configs": len(ours.rungs[-1]["configs"])},
        "optuna": {"best_lr": study.best_params["lr"], "best_value": study.best_value,
                   "trials": len(states),
                   "pruned": sum(s == optuna.trial.TrialState.PRUNED for s in states),
                   "epochs": theirs.spent, "full_budget_configs": len(complete)},
        "max_budget": max_budget,
        "true_best_lr": max(configs, key=lambda c: synthetic_accuracy(c["lr"], 1))["lr"],
    }
