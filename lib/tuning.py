"""A cheap real objective for hyperparameter search, and a seeded optuna study around any
objective.

    acc = fashion_objective({"lr": 0.05, "momentum": 0.9}, seed=0)    # validation accuracy
    space = {"lr": LogUniform(1e-4, 1.0), "momentum": Uniform(0.0, 0.99)}
    out = run_study(fashion_objective, space, n_trials=20, seed=0, pruner="median",
                    storage_dir="runs/")                               # resumable from SQLite

`fashion_objective` trains `lib.models.mlp` on a few thousand standardised Fashion-MNIST images
(`lib.data.fashion_mnist`) through `lib.experiments.run` (the config becomes a `RunSpec`), so a
search is a list of RunSpecs, and is deterministic for a given seed on a given machine.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from lib import models
from lib.data import fashion_mnist
from lib.experiments import RunSpec, run
from lib.search import Categorical, IntUniform, LogUniform, Uniform, check_space
from lib.train import Callback

__all__ = ["DEFAULTS", "config_spec", "fashion_objective", "StudyResult", "run_study",
           "suggest", "PRUNERS", "distributions", "study_from_trials"]

# the hyperparameters fashion_objective understands, and their values when a config omits them
DEFAULTS = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.0, "hidden": 64, "batch_size": 64,
            "dropout": 0.0, "activation": "relu"}


@functools.lru_cache(maxsize=2)
def _data(n_train, n_val):
    return fashion_mnist(n_train=n_train, n_val=n_val, n_test=1, tensors=True)


def config_spec(config: dict, seed=0, epochs=1, callbacks=None) -> RunSpec:
    """The RunSpec of a config: mlp([784, hidden, 10], activation, dropout) trained by
    SGD(lr, momentum, weight_decay) with mini-batches of batch_size (missing keys: DEFAULTS)."""
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown hyperparameters {sorted(unknown)}; allowed: "
                         f"{', '.join(DEFAULTS)}")
    c = {**DEFAULTS, **config}
    return RunSpec(
        model=partial(models.mlp, [784, int(c["hidden"]), 10], activation=c["activation"],
                      dropout=float(c["dropout"])),
        optimizer=partial(torch.optim.SGD, lr=float(c["lr"]), momentum=float(c["momentum"]),
                          weight_decay=float(c["weight_decay"])),
        epochs=epochs, batch_size=int(c["batch_size"]), seed=seed, callbacks=callbacks)


class _Report(Callback):
    """Calls report(epoch, val_acc) after every epoch (optuna: may raise TrialPruned)."""

    def __init__(self, report):
        self.report = report

    def on_epoch_end(self, state):
        self.report(state.epoch, state.history.epoch["val_acc"][-1])


def fashion_objective(config: dict, seed=0, epochs=1, n_train=3000, n_val=1000,
                      report=None) -> float:
    """Validation accuracy after ``epochs`` epochs of `config_spec(config, seed)` on the first
    ``n_train`` training and ``n_val`` validation images of Fashion-MNIST. A run that diverges
    (NaN loss) scores 0.0, below chance (0.1), so a search never picks it. ``report(epoch,
    val_acc)`` is called after each epoch (for a pruner). About 0.1–0.3 s per epoch on one core."""
    callbacks = None if report is None else (lambda: [_Report(report)])
    spec = config_spec(config, seed=seed, epochs=epochs, callbacks=callbacks)
    history = run(spec, _data(n_train, n_val), device="cpu")
    accs = history.epoch["val_acc"]
    if history.diverged_at is not None or not accs or not math.isfinite(accs[-1]):
        return 0.0
    return float(accs[-1])


def suggest(trial, space: dict) -> dict:
    """A config drawn by an optuna trial from our space: LogUniform → suggest_float(log=True),
    Uniform → suggest_float, IntUniform → suggest_int, Categorical → suggest_categorical."""
    config = {}
    for name, dist in check_space(space).items():
        if isinstance(dist, LogUniform):
            config[name] = trial.suggest_float(name, dist.low, dist.high, log=True)
        elif isinstance(dist, Uniform):
            config[name] = trial.suggest_float(name, dist.low, dist.high)
        elif isinstance(dist, IntUniform):
            config[name] = trial.suggest_int(name, dist.low, dist.high, log=dist.log)
        elif isinstance(dist, Categorical):
            config[name] = trial.suggest_categorical(name, list(dist.choices))
    return config


def distributions(space: dict) -> dict:
    """Our space as optuna distributions {name: FloatDistribution | IntDistribution |
    CategoricalDistribution}, the ones `suggest` draws from."""
    import optuna.distributions as od

    out = {}
    for name, dist in check_space(space).items():
        if isinstance(dist, (LogUniform, Uniform)):
            out[name] = od.FloatDistribution(dist.low, dist.high,
                                             log=isinstance(dist, LogUniform))
        elif isinstance(dist, IntUniform):
            out[name] = od.IntDistribution(dist.low, dist.high, log=dist.log)
        else:
            out[name] = od.CategoricalDistribution(list(dist.choices))
    return out


def study_from_trials(configs, values, space, direction="maximize"):
    """An in-memory optuna study holding trials already run (``configs[i]`` scored
    ``values[i]``), e.g. to ask optuna's importance evaluators about our own random search
    without training anything again."""
    import optuna

    dists = distributions(space)
    if len(configs) != len(values):
        raise ValueError(f"need one value per config, got {len(values)} and {len(configs)}")
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction=direction)
        study.add_trials([optuna.trial.create_trial(params={n: c[n] for n in dists},
                                                    distributions=dists, value=float(v))
                          for c, v in zip(configs, values, strict=True)])
    finally:
        optuna.logging.set_verbosity(verbosity)
    return study


@dataclass
class StudyResult:
    """What run_study did in this call (n_complete, n_pruned, wall_time) and the whole study's
    best (best_value, best_params, n_total counts trials of earlier calls too)."""

    n_complete: int
    n_pruned: int
    n_total: int
    best_value: float
    best_params: dict
    wall_time: float
    study: object


PRUNERS = ("median", "successive_halving", None)


def _pruner(name):
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name is None:
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r}; allowed: {PRUNERS}")


def run_study(objective, space, n_trials, seed=0, direction="maximize", pruner="median",
              storage_dir=None, study_name="chapter06", n_startup_trials=10) -> StudyResult:
    """Run ``n_trials`` trials of an optuna study: TPESampler(seed=seed), the named pruner,
    ``objective(config, seed=seed, report=report) -> value`` with config drawn from ``space``
    (`suggest`) and ``report(step, value)`` telling the pruner (it raises optuna.TrialPruned).
    With ``storage_dir``, the study lives in ``storage_dir/<study_name>.db`` (SQLite): a second
    call with the same name continues it. TPE with a seed is reproducible when trials run one
    after the other (n_jobs=1), as here. ``n_startup_trials``: TPE's first trials are random
    (optuna's default 10); fewer lets a small budget benefit from the model sooner."""
    import optuna

    check_space(space)
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1, got {n_trials!r}")
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    storage = None
    if storage_dir is not None:
        folder = Path(storage_dir)
        folder.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{(folder / f'{study_name}.db').resolve()}"

    def trial_objective(trial):
        def report(step, value):
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()

        return objective(suggest(trial, space), seed=seed, report=report)

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(storage=storage, study_name=study_name,
                                    load_if_exists=storage is not None, direction=direction,
                                    sampler=optuna.samplers.TPESampler(
                                        seed=seed, n_startup_trials=n_startup_trials),
                                    pruner=_pruner(pruner))
        before = len(study.trials)
        start = time.perf_counter()
        study.optimize(trial_objective, n_trials=n_trials)
        wall = time.perf_counter() - start
    finally:
        optuna.logging.set_verbosity(verbosity)
    new = study.trials[before:]
    TrialState = optuna.trial.TrialState
    return StudyResult(
        n_complete=sum(t.state == TrialState.COMPLETE for t in new),
        n_pruned=sum(t.state == TrialState.PRUNED for t in new),
        n_total=len(study.trials),
        best_value=study.best_value,
        best_params=study.best_params,
        wall_time=wall,
        study=study,
    )
