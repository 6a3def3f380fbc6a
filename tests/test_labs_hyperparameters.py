"""lib.labs.hyperparameters (chapter 06): its figures and experiments, on cheap inputs."""

import math

import numpy as np
import pytest
import torch

from lib import bayesopt, halving, search
from lib.labs import hyperparameters as lab


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# the widgets' slider ends and corners: tests/test_widget_extremes.py (registered controls)


def _fake_result(n=24, seed=0):
    rng = np.random.default_rng(seed)
    configs = search.random_configs(lab.SPACE, n, rng)
    values = [0.9 - 0.05 * (math.log10(c["lr"]) + 1.5) ** 2 + 0.01 * rng.standard_normal()
              for c in configs]
    return search.SearchResult(configs, values)


def test_projection_figure_redrawn_in_place_shows_the_new_experiment():
    fig = lab.projection_figure(n_trials=9, weight=0.05)
    lab._projection_update(fig, n_trials=25, weight=0.5)
    res = search.projection_experiment(25, seeds=range(25), weight=0.5)
    art = fig._projection
    assert np.allclose(art["random"].get_offsets(), res["random_xy"])
    assert len(art["grid"].get_offsets()) == 25
    heights = [b.get_height() for b in art["bars"]]
    assert heights == [res["grid_best"], res["random_best"]]
    assert "25 grid trials try 5 values" in fig.axes[0].get_title()
    assert art["max_label"].get_text() == "max 1.50" and art["max"].get_ydata()[0] == 1.5
    assert fig.axes[1].get_ylim() == (0, 2.3)  # fixed: the largest maximum (weight 1) fits


def test_bo_figure_steps_through_the_iterations():
    steps = lab.bo_steps()
    assert len(steps) == lab.BO_STEPS
    fig = lab.bo_figure(iteration=1)
    lab._bo_update(fig, iteration=lab.BO_STEPS)
    s = steps[-1]
    x, mean = fig._bo["mean"].get_data()
    assert np.allclose(mean, s["mean"]) and np.allclose(x, s["x_grid"])
    assert np.allclose(fig._bo["next"].get_data()[0], [s["x_next"]])
    # the next point maximises EI on the grid (up to the grid spacing)
    assert abs(s["x_grid"][np.argmax(s["ei"])] - s["x_next"]) < 0.01
    # EI drawn as a share of its maximum (fixed axis), the maximum written beside the peak
    assert np.allclose(fig._bo["ei"].get_ydata(), s["ei"] / s["ei"].max())
    assert fig._bo["ei_max"].get_text() == f"max EI {s['ei'].max():.2g}"
    assert fig.axes[1].get_ylim() == (0, 1.15)


def test_log_sampling_shares():
    out = lab.log_sampling(n=20_000, seed=1)
    assert abs(out["share"]["uniform"][-1] - 0.9) < 0.01
    assert np.allclose(out["share"]["log-uniform"], 0.2, atol=0.015)
    assert abs(out["share"]["log-uniform"].sum() - 1) < 1e-12
    lab.log_sampling_figure(out)


def test_importance_figures_from_a_synthetic_search():
    result = _fake_result()
    imp = search.variance_explained(result.configs, result.values, lab.SPACE)
    assert next(iter(imp)) == "lr"
    fanova = lab.optuna_importance(result, lab.SPACE, seed=0)
    assert max(fanova, key=fanova.get) == "lr" and abs(sum(fanova.values()) - 1) < 1e-6
    fig = lab.pool_figure(result, imp)
    assert len(fig.axes) == len(lab.SPACE)
    lab.importance_figure(imp, fanova, chance=0.1)


def test_race_and_halving_figures_from_fake_values():
    race = {"grid": [0.1] * 9, "grid_configs": lab.grid_xy(3),
            "random": [[0.2, 0.5, 0.4]], "bo": [[0.3, 0.6, 0.6]], "tpe": [[0.1, 0.2, 0.7]]}
    fig = lab.race_figure(race, target=0.5)
    assert fig.axes[0].get_xlabel() == "trials"
    configs = [{"lr": 10.0**-k} for k in range(9)]
    curves = [[0.1 + 0.05 * (8 - k) * (1 - math.exp(-e)) for e in range(1, 10)] for k in range(9)]
    trainer = halving.CurveTrainer(configs, curves)
    result = halving.successive_halving(trainer, configs, min_budget=1, eta=3)
    assert result.best_config == configs[0] and trainer.spent == 21
    lab.halving_figure(curves, result, configs)


def test_optuna_pruning_replays_curves_and_prunes():
    configs = [{"lr": 10.0 ** (-k / 2)} for k in range(9)]  # inside SPACE's [1e-4, 1]
    curves = [[0.1 + 0.05 * ((k * 5) % 9) * (1 - math.exp(-e)) for e in range(1, 10)]
              for k in range(9)]
    out = lab.optuna_pruning(configs, curves, pruner="successive_halving", eta=3)
    assert out["trials"] == 9 and out["pruned"] >= 2 and out["epochs"] < 81
    best = max(range(9), key=lambda k: curves[k][-1])
    assert out["best_value"] == pytest.approx(curves[best][-1])


def test_forrester_race_bo_beats_random():
    out = lab.forrester_race(budget=12, seeds=range(4))
    reach = {k: [12 + 1 if v is None else v for v in vals] for k, vals in out.items()}
    assert np.median(reach["bo"]) < np.median(reach["random"])
    assert all(v is None or 1 <= v <= 12 for v in out["bo"])
    assert bayesopt.FORRESTER_MIN[1] < -6


def test_update_ratio_grows_with_the_learning_rate():
    small = lab.update_ratios(1e-4, seed=0, steps=5)
    large = lab.update_ratios(1e-2, seed=0, steps=5)
    assert set(small) == set(large) and len(small) == 2
    assert all(10 * small[k] < large[k] for k in small)


def test_initial_loss_is_near_ln_10():
    assert abs(lab.initial_loss(seed=1, n=200) - math.log(10)) < 0.2
