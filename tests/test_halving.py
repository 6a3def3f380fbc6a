"""lib.halving: the schedule's counts (exact formulas), the best config surviving, resuming, and
the comparison with optuna's pruners."""

import math

import numpy as np
import pytest

from lib import halving
from lib.search import LogUniform, random_configs


@pytest.mark.parametrize("eta, s", [(2, 3), (2, 5), (3, 2), (3, 3), (3, 4), (4, 3)])
def test_schedule_counts_match_the_formulas(eta, s):
    """n = η^s configs: s + 1 rungs; Σ n/ηⁱ = (η^(s+1) − 1)/(η − 1) evaluations; from scratch
    Σ nᵢ rᵢ = n r (s + 1) epochs; resuming Σ nᵢ (rᵢ − rᵢ₋₁) = n r (1 + s (η − 1)/η)."""
    n, r = eta**s, 2
    sched = halving.halving_schedule(n, min_budget=r, eta=eta)
    assert sched == [(n // eta**i, r * eta**i) for i in range(s + 1)]
    evaluations = (eta ** (s + 1) - 1) // (eta - 1)
    total = n * r * (s + 1)
    resumed = n * r + s * n * r * (eta - 1) // eta
    assert sum(k for k, _ in sched) == evaluations
    assert sum(k * b for k, b in sched) == total

    trainer = halving.SyntheticTrainer()
    configs = random_configs({"lr": LogUniform(1e-4, 1.0)}, n, np.random.default_rng(s))
    res = halving.successive_halving(trainer, configs, min_budget=r, eta=eta)
    assert res.n_evaluations == trainer.calls == evaluations
    assert res.total_budget == total
    assert res.resumed_budget == trainer.spent == resumed
    assert [len(rung["configs"]) for rung in res.rungs] == [k for k, _ in sched]
    assert [rung["budget"] for rung in res.rungs] == [b for _, b in sched]


def test_the_book_example_27_configs_eta_3():
    assert halving.halving_schedule(27) == [(27, 1), (9, 3), (3, 9), (1, 27)]
    res = halving.successive_halving(halving.SyntheticTrainer(), random_configs(
        {"lr": LogUniform(1e-4, 1.0)}, 27, np.random.default_rng(0)))
    assert (res.n_evaluations, res.total_budget, res.resumed_budget) == (40, 108, 81)
    # n not a power of η: ⌊n/ηⁱ⌋ configs per rung; max_budget cuts the last rungs
    assert halving.halving_schedule(10) == [(10, 1), (3, 3), (1, 9)]
    assert halving.halving_schedule(81, max_budget=9) == [(81, 1), (27, 3), (9, 9)]


@pytest.mark.parametrize("seed", range(5))
def test_the_best_configuration_survives_every_rung(seed):
    configs = random_configs({"lr": LogUniform(1e-4, 1.0)}, 27, np.random.default_rng(seed))
    best = max(configs, key=lambda c: halving.synthetic_accuracy(c["lr"], 100))
    res = halving.successive_halving(halving.SyntheticTrainer(), configs, eta=3)
    for rung in res.rungs:
        assert best in rung["configs"]
        # the survivors of a rung are its best values
        kept = len(rung["configs"]) // 3
        if kept:
            order = np.argsort(rung["values"])[::-1]
            assert res.rungs[res.rungs.index(rung) + 1]["configs"] == [
                rung["configs"][i] for i in order[:kept]]
    assert res.best_config is best
    assert res.best_value == pytest.approx(halving.synthetic_accuracy(best["lr"], 27))


def test_mode_min_and_failed_evaluations():
    configs = [{"x": float(x)} for x in range(9)]
    res = halving.successive_halving(lambda c, b: (c["x"] - 5) ** 2 / b, configs, mode="min")
    assert res.best_config == {"x": 5.0} and res.best_value == 0.0
    # a NaN value ranks last, in both modes
    nan_best = lambda c, b: math.nan if c["x"] == 8 else c["x"]
    assert halving.successive_halving(nan_best, configs, mode="max").best_config == {"x": 7.0}
    all_nan = halving.successive_halving(lambda c, b: math.nan, configs)
    assert all_nan.best_config == {"x": 0.0} and math.isnan(all_nan.best_value)


def test_synthetic_curves_rise_and_keep_their_order():
    lrs = np.geomspace(1e-4, 1, 9)
    prev = None
    for budget in (1, 3, 9, 27):
        acc = halving.synthetic_accuracy(lrs, budget)
        assert np.all((acc >= 0.1) & (acc <= 0.9))
        if prev is not None:
            assert np.all(acc >= prev)
            assert np.array_equal(np.argsort(acc), np.argsort(prev))
        prev = acc


@pytest.mark.parametrize("pruner", ["successive_halving", "median"])
def test_comparison_with_optuna_pruners_is_reproducible(pruner):
    pytest.importorskip("optuna")
    a = halving.compare_with_optuna(n_configs=27, eta=3, seed=0, pruner=pruner)
    b = halving.compare_with_optuna(n_configs=27, eta=3, seed=0, pruner=pruner)
    assert a == b
    assert a["ours"]["best_lr"] == a["true_best_lr"]
    assert a["ours"]["evaluations"] == 40 and a["ours"]["epochs"] == 81
    assert a["optuna"]["trials"] == 27 and a["optuna"]["pruned"] >= 9
    assert a["optuna"]["best_lr"] == a["true_best_lr"]  # monotone curves: nothing to fool it
    # every optuna trial runs at least 1 epoch, the unpruned ones all 27
    assert a["optuna"]["epochs"] >= 27 + 27 * a["optuna"]["full_budget_configs"] - 27
    assert a["optuna"]["epochs"] < 27 * 27


def test_halving_bad_input():
    with pytest.raises(ValueError, match="eta must be an integer >= 2"):
        halving.halving_schedule(27, eta=1)
    with pytest.raises(ValueError, match="n_configs must be an integer >= 1"):
        halving.successive_halving(halving.SyntheticTrainer(), [])
    with pytest.raises(ValueError, match="max_budget"):
        halving.halving_schedule(27, min_budget=3, max_budget=2)
    with pytest.raises(TypeError, match="train must be callable"):
        halving.successive_halving(None, [{"lr": 0.1}])
    with pytest.raises(ValueError, match="mode must be"):
        halving.successive_halving(halving.SyntheticTrainer(), [{"lr": 0.1}], mode="maximize")
    with pytest.raises(ValueError, match="unknown pruner 'hyperband'"):
        halving.compare_with_optuna(pruner="hyperband")
    with pytest.raises(ValueError, match="lr must be > 0"):
        halving.synthetic_accuracy(0.0, 1)


def test_curve_trainer_replays_recorded_curves_and_counts_resumed_epochs():
    from lib.halving import CurveTrainer

    configs = [{"lr": 0.1}, {"lr": 0.01}]
    trainer = CurveTrainer(configs, [[0.5, 0.6, 0.7], [0.2, 0.3, 0.4]])
    assert trainer({"lr": 0.1}, 2) == 0.6 and trainer({"lr": 0.01}, 1) == 0.2
    assert trainer({"lr": 0.1}, 3) == 0.7  # resumes: one more epoch
    assert trainer.calls == 3 and trainer.spent == 2 + 1 + 1
    with pytest.raises(KeyError, match="no curve"):
        trainer({"lr": 1.0}, 1)
    with pytest.raises(ValueError, match="budget"):
        trainer({"lr": 0.1}, 4)
    with pytest.raises(ValueError, match="one curve per config"):
        CurveTrainer(configs, [[0.1]])
