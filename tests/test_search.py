"""lib.search: log-uniform sampling, grid and random search, coarse-to-fine, the projection
argument."""

import math
import time

import numpy as np
import pytest

from lib import search
from lib.search import Categorical, IntUniform, LogUniform, Uniform

SPACE = {"lr": LogUniform(1e-5, 1.0), "momentum": Uniform(0.5, 0.99),
         "hidden": IntUniform(16, 256, log=True), "activation": Categorical(["relu", "tanh"])}


def test_log_uniform_spreads_samples_over_decades_uniform_does_not():
    """On [1e-5, 1], P(x > 0.1) = 0.9/(1 − 1e-5) ≈ 90% for uniform samples but
    ln(1/0.1)/ln(1/1e-5) = 1/5 = 20% for log-uniform ones (one decade out of five)."""
    n = 20_000
    rng = np.random.default_rng(0)
    uniform = rng.uniform(1e-5, 1.0, size=n)
    logu = search.log_uniform(1e-5, 1.0, size=n, rng=rng)
    p_uniform = (1 - 0.1) / (1 - 1e-5)
    p_log = math.log(1 / 0.1) / math.log(1 / 1e-5)
    assert p_log == pytest.approx(0.2)
    margin = 4 * math.sqrt(0.25 / n)  # 4 binomial standard deviations at most
    assert abs((uniform > 0.1).mean() - p_uniform) < margin
    assert abs((logu > 0.1).mean() - p_log) < margin
    # every decade gets a fifth of the log-uniform samples
    counts = np.histogram(np.log10(logu), bins=5, range=(-5, 0))[0] / n
    assert np.all(np.abs(counts - 0.2) < margin)
    assert logu.min() >= 1e-5 and logu.max() <= 1.0


def test_random_configs_are_reproducible_and_inside_the_space():
    a = search.random_configs(SPACE, 200, np.random.default_rng(1))
    b = search.random_configs(SPACE, 200, np.random.default_rng(1))
    assert a == b and len(a) == 200
    for c in a:
        assert 1e-5 <= c["lr"] <= 1 and 0.5 <= c["momentum"] <= 0.99
        assert isinstance(c["hidden"], int) and 16 <= c["hidden"] <= 256
        assert c["activation"] in ("relu", "tanh")
    assert {c["activation"] for c in a} == {"relu", "tanh"}
    assert {c["hidden"] for c in a} >= {16, 256} or len({c["hidden"] for c in a}) > 50


def test_grid_and_random_cover_the_same_budget_with_different_projections():
    space = {"lr": LogUniform(1e-4, 1.0), "momentum": Uniform(0.0, 0.9)}
    grid = search.grid_configs(space, 3)
    rand = search.random_configs(space, len(grid), np.random.default_rng(0))
    assert len(grid) == len(rand) == 9
    assert len({c["lr"] for c in grid}) == 3  # 3 distinct values of each parameter ...
    assert len({c["lr"] for c in rand}) == 9  # ... against 9 for random search
    assert sorted({c["lr"] for c in grid}) == pytest.approx([1e-4, 1e-2, 1.0])  # log-spaced
    assert sorted({c["momentum"] for c in grid}) == pytest.approx([0.0, 0.45, 0.9])
    # a categorical uses all its choices; per-parameter counts multiply
    g = search.grid_configs(SPACE, {"lr": 4, "momentum": 2, "hidden": 3})
    assert len(g) == 4 * 2 * 3 * 2
    assert sorted({c["hidden"] for c in g}) == [16, 64, 256]  # geometric middle √(16·256)


def test_grid_and_random_search_find_the_best_config():
    f = lambda c: -((math.log10(c["lr"]) + 2) ** 2)
    space = {"lr": LogUniform(1e-4, 1.0)}
    g = search.grid_search(f, space, 5)
    assert g.best_config["lr"] == pytest.approx(1e-2) and g.best_value == pytest.approx(0.0)
    r = search.random_search(f, space, 30, np.random.default_rng(0))
    assert len(r.values) == 30 and abs(math.log10(r.best_config["lr"]) + 2) < 0.3
    lo = search.evaluate(lambda c: -f(c), g.configs, mode="min")
    assert lo.best_index == g.best_index
    # a failed (NaN) trial is never the best; all failed is an error
    res = search.evaluate(lambda c: math.nan if c["lr"] > 0.5 else c["lr"], g.configs)
    assert res.best_config["lr"] == pytest.approx(1e-1)
    with pytest.raises(ValueError, match="every trial failed"):
        _ = search.evaluate(lambda c: math.nan, g.configs).best_config


def test_coarse_to_fine_narrows_around_the_coarse_best_and_improves():
    f = lambda c: -((math.log10(c["lr"]) + 2.3) ** 2) - (c["momentum"] - 0.9) ** 2
    space = {"lr": LogUniform(1e-5, 1.0), "momentum": Uniform(0.0, 0.99),
             "act": Categorical(["relu", "tanh"])}
    res = search.coarse_to_fine(f, space, 15, 15, np.random.default_rng(0), zoom=0.25)
    coarse, fine = res.rounds
    assert len(res.values) == 30 and len(coarse.values) == len(fine.values) == 15
    lr = res.fine_space["lr"]
    assert math.log10(lr.high / lr.low) == pytest.approx(0.25 * 5)  # a quarter of 5 decades
    assert lr.low <= coarse.best_config["lr"] <= lr.high
    assert res.fine_space["act"] == Categorical([coarse.best_config["act"]])
    assert res.best_value >= coarse.best_value
    # median over seeds: the fine round beats a second coarse round of the same size
    gains = []
    for seed in range(5):
        c2f = search.coarse_to_fine(f, space, 15, 15, np.random.default_rng(seed))
        flat = search.random_search(f, space, 30, np.random.default_rng(seed))
        gains.append(c2f.best_value - flat.best_value)
    assert np.median(gains) > 0
    # zooming near a bound stays inside it
    edge = search._zoom(LogUniform(1e-5, 1.0), 0.9, 0.25)
    assert edge.high == pytest.approx(1.0) and edge.low == pytest.approx(10**-1.25)


@pytest.mark.parametrize("space, match", [
    ({}, "non-empty dict"),
    ({"lr": (1e-5, 1.0)}, r"parameter 'lr'.*allowed: Uniform, LogUniform, IntUniform, Categorical"),
    ({"lr": [0.1, 0.01]}, "parameter 'lr'"),
])
def test_bad_spaces_raise_errors_naming_the_parameter(space, match):
    with pytest.raises(ValueError, match=match):
        search.random_configs(space, 3, np.random.default_rng(0))


def test_bad_distributions_and_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="0 < low < high"):
        LogUniform(0.0, 1.0)
    with pytest.raises(ValueError, match="low < high"):
        Uniform(1.0, 1.0)
    with pytest.raises(ValueError, match="integers"):
        IntUniform(1.5, 4)
    with pytest.raises(ValueError, match="non-empty list of choices"):
        Categorical([])
    with pytest.raises(ValueError, match="non-empty list of choices"):
        Categorical("relu")
    with pytest.raises(TypeError, match="np.random.Generator"):
        search.random_configs(SPACE, 3, rng=0)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        search.random_configs(SPACE, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"not in the space"):
        search.grid_configs(SPACE, {"learning_rate": 3})
    with pytest.raises(ValueError, match="zoom must be in"):
        search.coarse_to_fine(lambda c: 0.0, SPACE, 3, 3, np.random.default_rng(0), zoom=2)
    with pytest.raises(ValueError, match="mode must be"):
        search.evaluate(lambda c: 0.0, [{}], mode="best")


def test_a_search_is_a_list_of_run_specs():
    from functools import partial

    import torch

    from lib import models
    from lib.experiments import RunSpec

    configs = search.grid_configs({"lr": LogUniform(1e-3, 1e-1)}, 3)
    make = lambda c: RunSpec(model=partial(models.mlp, [4, 3]),
                             optimizer=partial(torch.optim.SGD, lr=c["lr"]), epochs=1)
    specs = search.as_run_specs(configs, make)
    assert list(specs) == ["lr=0.001", "lr=0.01", "lr=0.1"]
    assert all(isinstance(s, RunSpec) for s in specs.values())
    with pytest.raises(ValueError, match="same label"):
        search.as_run_specs(configs + configs[:1], make)


def test_projection_experiment_random_tries_more_values_and_finds_better():
    """Bergstra & Bengio (2012): with 9 trials a grid tries 3 values of the important parameter,
    random search 9; the best value found (median over 25 seeds) is higher for random search."""
    for n in (9, 16, 25, 49):
        out = search.projection_experiment(n)
        k = math.isqrt(n)
        assert out["grid_trials"] == k * k and out["grid_distinct_x"] == k
        assert out["random_distinct_x"] == n
        assert out["random_best"] > out["grid_best"]
        assert out["grid_xy"].shape == (k * k, 2) and out["random_xy"].shape == (n, 2)
        assert len(np.unique(out["grid_xy"][:, 0])) == k
        assert 0.1 <= out["peak"] <= 0.9
    a, b = search.projection_experiment(9), search.projection_experiment(9)
    assert a["random_best_all"] == b["random_best_all"]  # seeded
    np.testing.assert_array_equal(a["random_xy"], b["random_xy"])
    times = []  # best of 5: cheap enough for a slider (measured ~6 ms on a loaded 2-core machine)
    for _ in range(5):
        start = time.perf_counter()
        search.projection_experiment(100)
        times.append(time.perf_counter() - start)
    assert min(times) < 0.05


def test_variance_explained_finds_the_parameter_that_matters():
    rng = np.random.default_rng(3)
    space = {"lr": LogUniform(1e-4, 1.0), "noise": Uniform(0.0, 1.0),
             "act": Categorical(["relu", "tanh"])}
    configs = search.random_configs(space, 400, rng)
    values = [-(np.log10(c["lr"]) + 2) ** 2 + 0.1 * rng.standard_normal() for c in configs]
    eta2 = search.variance_explained(configs, values, space, bins=4)
    assert list(eta2)[0] == "lr" and eta2["lr"] > 0.6  # 4 bins of a parabola: not all of it
    assert eta2["noise"] < 0.03 and eta2["act"] < 0.02
    assert abs(search.chance_variance_explained(400, 4) - 3 / 399) < 1e-15
    # by hand for a categorical: between-group sum of squares / total
    y = np.array(values)
    g = np.array([c["act"] == "relu" for c in configs])
    between = g.sum() * (y[g].mean() - y.mean()) ** 2 + (~g).sum() * (y[~g].mean() - y.mean()) ** 2
    assert np.isclose(eta2["act"], between / ((y - y.mean()) ** 2).sum(), rtol=1e-12)
    with pytest.raises(ValueError, match="at least"):
        search.variance_explained(configs[:3], values[:3], space)
    with pytest.raises(ValueError, match="not all equal"):
        search.variance_explained(configs, [1.0] * len(configs), space)


def test_best_so_far_and_trials_to_reach():
    v = [0.2, float("nan"), 0.5, 0.4, 0.7]
    assert search.best_so_far(v).tolist() == [0.2, 0.2, 0.5, 0.5, 0.7]
    assert search.best_so_far([3.0, 1.0, 2.0], mode="min").tolist() == [3.0, 1.0, 1.0]
    assert search.trials_to_reach(v, 0.5) == 3 and search.trials_to_reach(v, 0.9) is None
    assert search.trials_to_reach([3.0, 1.0], 1.0, mode="min") == 2


def test_refine_reuses_a_coarse_round():
    space = {"lr": LogUniform(1e-5, 1.0), "act": Categorical(["relu", "tanh"])}
    f = lambda c: -abs(np.log10(c["lr"]) + 2) + (c["act"] == "tanh")
    coarse = search.random_search(f, space, 20, np.random.default_rng(0))
    fine = search.refine(f, space, coarse, 10, np.random.default_rng(1), zoom=0.25)
    lr = fine.fine_space["lr"]
    assert np.isclose(np.log(lr.high / lr.low), 0.25 * np.log(1e5))
    assert fine.fine_space["act"].choices == (coarse.best_config["act"],)
    assert all(lr.low <= c["lr"] <= lr.high for c in fine.configs) and len(fine.values) == 10
    with pytest.raises(ValueError, match="zoom"):
        search.refine(f, space, coarse, 5, np.random.default_rng(1), zoom=1.5)
