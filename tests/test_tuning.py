"""lib.tuning: the Fashion-MNIST objective (deterministic, a RunSpec) and the seeded optuna study
(pruning, resuming from SQLite), the latter on a synthetic objective so it stays fast."""

import functools

import numpy as np
import pytest

from lib import tuning
from lib.experiments import RunSpec
from lib.halving import synthetic_accuracy
from lib.search import Categorical, IntUniform, LogUniform, Uniform


def test_fashion_objective_is_deterministic_and_learns():
    a = tuning.fashion_objective({"lr": 0.05, "momentum": 0.9}, seed=0)
    b = tuning.fashion_objective({"lr": 0.05, "momentum": 0.9}, seed=0)
    assert a == b
    assert 0.6 < a < 0.9  # one epoch on 3000 images: about 75 %
    # a tiny lr barely moves from chance; a diverging one scores 0.0 (below chance)
    assert tuning.fashion_objective({"lr": 1e-5, "momentum": 0.0}, seed=0) < a - 0.2
    assert tuning.fashion_objective({"lr": 50.0}, seed=0) == 0.0
    seen = []
    tuning.fashion_objective({"lr": 0.05}, seed=0, epochs=2, n_train=500, n_val=200,
                             report=lambda step, value: seen.append((step, value)))
    assert [s for s, _ in seen] == [1, 2] and all(0 <= v <= 1 for _, v in seen)


def test_config_spec_is_a_run_spec_with_defaults():
    spec = tuning.config_spec({"lr": 0.1, "hidden": 32}, seed=3, epochs=2)
    assert isinstance(spec, RunSpec) and spec.seed == 3 and spec.epochs == 2
    assert spec.batch_size == tuning.DEFAULTS["batch_size"]
    model = spec.model(generator=0)
    assert model[0].out_features == 32
    opt = spec.optimizer(model.parameters())
    assert opt.param_groups[0]["lr"] == 0.1
    assert opt.param_groups[0]["momentum"] == tuning.DEFAULTS["momentum"]
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['learning_rate'\]"):
        tuning.config_spec({"learning_rate": 0.1})


def synthetic(config, seed=0, report=None, epochs=5):
    """A learning curve over 5 epochs (lib.halving.synthetic_accuracy), reported every epoch."""
    for epoch in range(1, epochs + 1):
        value = float(synthetic_accuracy(config["lr"], epoch))
        if report is not None:
            report(epoch, value)
    return value


SPACE = {"lr": LogUniform(1e-4, 1.0)}


def test_study_is_seeded_prunes_and_finds_a_good_lr():
    optuna = pytest.importorskip("optuna")
    a = tuning.run_study(synthetic, SPACE, n_trials=20, seed=0, pruner="median")
    b = tuning.run_study(synthetic, SPACE, n_trials=20, seed=0, pruner="median")
    assert [t.params for t in a.study.trials] == [t.params for t in b.study.trials]
    assert a.n_complete + a.n_pruned == a.n_total == 20
    assert a.n_pruned > 0
    assert abs(np.log10(a.best_params["lr"]) + 1.5) < 0.5  # the optimum is lr = 10^-1.5
    assert a.best_value == pytest.approx(synthetic(a.best_params))
    assert a.wall_time > 0
    assert a.study.trials[0].state == optuna.trial.TrialState.COMPLETE
    c = tuning.run_study(synthetic, SPACE, n_trials=6, seed=0, pruner=None)
    assert c.n_pruned == 0 and c.n_complete == 6


def test_study_resumes_from_sqlite(tmp_path):
    pytest.importorskip("optuna")
    short = functools.partial(synthetic, epochs=2)  # every report is a database write
    first = tuning.run_study(short, SPACE, n_trials=3, seed=1, storage_dir=tmp_path,
                             study_name="resume", pruner="successive_halving")
    assert (tmp_path / "resume.db").exists()
    assert first.n_total == 3
    first_params = [t.params for t in first.study.trials]
    second = tuning.run_study(short, SPACE, n_trials=2, seed=1, storage_dir=tmp_path,
                              study_name="resume", pruner="successive_halving")
    assert second.n_total == 5 and second.n_complete + second.n_pruned == 2
    assert [t.params for t in second.study.trials[:3]] == first_params
    assert second.best_value >= first.best_value


def test_suggest_maps_every_distribution():
    optuna = pytest.importorskip("optuna")
    space = {"lr": LogUniform(1e-4, 1.0), "m": Uniform(0.0, 0.9), "h": IntUniform(8, 64, log=True),
             "act": Categorical(["relu", "tanh"])}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    config = tuning.suggest(trial, space)
    assert 1e-4 <= config["lr"] <= 1 and 0 <= config["m"] <= 0.9
    assert isinstance(config["h"], int) and config["act"] in ("relu", "tanh")
    dists = trial.distributions
    assert dists["lr"].log and not dists["m"].log and dists["h"].log


def test_study_bad_input(tmp_path):
    pytest.importorskip("optuna")
    with pytest.raises(ValueError, match="unknown pruner 'asha'"):
        tuning.run_study(synthetic, SPACE, n_trials=1, pruner="asha")
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1"):
        tuning.run_study(synthetic, SPACE, n_trials=0)
    with pytest.raises(ValueError, match="direction must be"):
        tuning.run_study(synthetic, SPACE, n_trials=1, direction="max")
    with pytest.raises(ValueError, match="parameter 'lr'"):
        tuning.run_study(synthetic, {"lr": (1e-4, 1.0)}, n_trials=1)


def test_study_from_trials_holds_our_trials_without_training():
    space = {"lr": LogUniform(1e-4, 1.0), "m": Uniform(0.0, 0.9), "h": IntUniform(8, 64, log=True),
             "b": Categorical([32, 64])}
    d = tuning.distributions(space)
    assert d["lr"].log and not d["m"].log and d["h"].log and d["b"].choices == (32, 64)
    configs = [{"lr": 0.01, "m": 0.5, "h": 16, "b": 32}, {"lr": 0.1, "m": 0.1, "h": 64, "b": 64}]
    study = tuning.study_from_trials(configs, [0.7, 0.8], space)
    assert len(study.trials) == 2 and study.best_value == 0.8
    assert study.best_params == configs[1]
