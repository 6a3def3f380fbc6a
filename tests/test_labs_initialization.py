"""Tests for lib.labs.initialization (chapter 02's experiments) and its exercise checkers."""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from lib.exercises import initialization as ex
from lib.labs import initialization as lab
from lib.numpy_ref import init


def test_propagate_matches_the_variance_rules():
    # linear layers with Var(w) = 1/n keep the std; ReLU with He keeps E[h²] = 1 (pre-act var 2)
    lin = lab.propagate("LeCun normal", "linear", depth=5, width=400, n_samples=400)
    np.testing.assert_allclose(lin["act_std"], 1.0, rtol=0.1)
    relu = lab.propagate("He normal", "relu", depth=5, width=400, n_samples=400)
    np.testing.assert_allclose(relu["act_rms"], 1.0, rtol=0.2)  # finite-width random walk
    np.testing.assert_allclose(relu["pre_std"], math.sqrt(2), rtol=0.2)
    # Xavier (= 1/n here) with ReLU halves E[h²] per layer
    xav = lab.propagate("Xavier normal", "relu", depth=8, width=400, n_samples=400)
    ratio = (xav["act_rms"][-1] / xav["act_rms"][0]) ** (2 / 7)
    assert abs(ratio - 0.5) < 0.03


def test_propagate_backward_is_the_chain_rule():
    # for a linear net, δ_1 = g W_L … W_2, so Var(δ_1) ≈ Var(g)·(n σ²)^(L−1)
    r = lab.propagate(0.1, "linear", depth=4, width=300, n_samples=300)  # n σ² = 3
    np.testing.assert_allclose(r["grad_std"], np.sqrt(3.0) ** np.arange(3, -1, -1), rtol=0.1)
    f = lab.propagate(0.1, "linear", depth=4, width=300, n_samples=300, backward=False)
    assert np.all(np.isnan(f["grad_std"]))
    np.testing.assert_allclose(f["act_std"], r["act_std"])


def test_mean_field_matches_simulation_and_closed_forms():
    theory = lab.mean_field_stds("tanh", 500 * 0.01**2, depth=4)
    sim = lab.propagate(0.01, "tanh", depth=4, width=500, n_samples=500, backward=False)
    np.testing.assert_allclose(sim["act_std"], theory, rtol=0.05)
    relu = lab.mean_field_stds("relu", 1.0, depth=30)  # Xavier: E[h_l²] = 2^(−l)
    np.testing.assert_allclose(relu[-1], math.sqrt(2.0**-30 * (1 - 1 / math.pi)), rtol=1e-12)
    np.testing.assert_allclose(lab.mean_field_stds("linear", 1.0, 3), 1.0)


def test_schemes_have_the_documented_variance():
    rng = np.random.default_rng(0)
    n = 500
    want = {
        "N(0, 0.01²)": 1e-4,
        "N(0, 1)": 1.0,
        "PyTorch default": 1 / (3 * n),
        "LeCun normal": 1 / n,
        "Xavier uniform": 1 / n,
        "Xavier normal": 1 / n,
        "He normal": 2 / n,
        "orthogonal": 1 / n,
    }
    assert set(want) == set(lab.SCHEMES)
    for name, var in want.items():
        w = lab.SCHEMES[name]((n, n), rng=rng)
        assert abs(w.var() / var - 1) < 0.02, name


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown init scheme"):
        lab.propagate("Xavier", "tanh", 2, 8)
    with pytest.raises(ValueError, match="unknown activation"):
        lab.propagate("He normal", "gelu", 2, 8)
    with pytest.raises(ValueError, match="depth"):
        lab.propagate("He normal", "relu", 0, 8)


def test_explorer_figure_and_histograms_build():
    fig = lab.explorer_figure("He normal", "relu", depth=6, width=32)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    r = lab.propagate(0.01, "tanh", depth=3, width=16, keep=(1, 2, 3))
    assert len(lab.layer_histograms_figure(r["activations"]).axes) == 3
    assert len(lab.preprocessing_figure(lab.correlated_cloud(50)).axes) == 6


def test_explorer_data_is_cached_and_read_only():
    first = lab.explorer_data("He normal", "relu", 4, 16)
    assert lab.explorer_data("He normal", "relu", 4, 16) is first  # cached
    for arr in [first["act_std"], first["grad_std"], *first["activations"].values()]:
        assert not arr.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        first["act_std"][0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        first["activations"][1][:] = 0.0
    fresh = lab.propagate("He normal", "relu", 4, 16, n_samples=64, keep=(1, 2, 4))
    np.testing.assert_array_equal(
        lab.explorer_data("He normal", "relu", 4, 16)["act_std"], fresh["act_std"]
    )


@pytest.mark.parametrize("scheme", ["orthogonal", "N(0, 1)"])
def test_explorer_data_is_propagate_at_every_depth(scheme):
    # the shared forward pass (_Prefix) gives propagate's numbers, whatever order depths come in
    for depth in (5, 2, 7, 3):
        data = lab.explorer_data(scheme, "relu", depth, 16)
        ref = lab.propagate(scheme, "relu", depth, 16, n_samples=64, keep=lab._hist_layers(depth))
        np.testing.assert_array_equal(data["act_std"], ref["act_std"])
        np.testing.assert_array_equal(data["grad_std"], ref["grad_std"])
        assert data["activations"].keys() == ref["activations"].keys()
        for layer, h in ref["activations"].items():
            np.testing.assert_array_equal(data["activations"][layer], h)


def test_image_rows_figure():
    rows = {"a": np.zeros((3, 4, 4)), "b": np.ones((3, 4, 4))}
    fig = lab.image_rows_figure(rows)
    assert len(fig.axes) == 6 and fig.axes[0].get_ylabel() == "a"
    with pytest.raises(ValueError, match="at least one"):
        lab.image_rows_figure({})
    with pytest.raises(ValueError, match="same number"):
        lab.image_rows_figure({"a": np.zeros((3, 4, 4)), "b": np.zeros((2, 4, 4))})


def test_gd_loss_gap_is_measured_against_the_closed_form_optimum():
    x = lab.correlated_cloud(300)
    y = x @ np.array([1.5, -2.0]) + 0.5 + np.random.default_rng(1).standard_normal(300)
    r = lab.gd_steps_to_converge(x, y, tol=1e-6)
    coef, *_ = np.linalg.lstsq(np.column_stack([x, np.ones(300)]), y, rcond=None)
    best = np.sum((np.column_stack([x, np.ones(300)]) @ coef - y) ** 2) / 600
    assert math.isclose(r["loss_star"], best, rel_tol=1e-9)
    gap = r["losses"] - r["loss_star"]
    assert gap[-1] <= 1e-6 * gap[0] < gap[-2]  # stopped at the first step within tolerance
    k = np.arange(len(gap))
    assert np.all(gap <= r["rate"] ** (2 * k) * gap[0] + 1e-12)  # (κ−1)/(κ+1) bound
    assert math.isclose(r["rate"], (r["kappa"] - 1) / (r["kappa"] + 1))


def test_gd_steps_shrink_with_the_condition_number():
    x = lab.correlated_cloud(300)
    y = x @ np.array([1.5, -2.0]) + 0.5
    raw = lab.gd_steps_to_converge(x, y)
    white = lab.gd_steps_to_converge(
        (x - x.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(x.T, bias=True))).T, y
    )
    assert white["steps"] == 1 and math.isclose(white["kappa"], 1.0)
    assert raw["steps"] > 100 and raw["kappa"] > 100
    assert raw["losses"][-1] <= raw["losses"][0]


def test_train_mlp_and_dead_units():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 5))
    y = (x[:, 0] > 0).astype(np.int64)
    model, hist = lab.train_mlp(x, y, [5, 8, 2], lr=0.1, epochs=5, batch_size=20)
    assert hist.step_loss[-1] < hist.step_loss[0]
    assert lab.dead_unit_fraction(np.array([[-1.0, 1.0], [-2.0, -1.0]])) == 0.5


# ------------------------------------------------------------------ exercise checkers


def test_checkers_accept_correct_solutions(capsys):
    assert ex.check_he_normal_std(lambda fan_in: math.sqrt(2 / fan_in))
    assert ex.check_xavier_uniform(lambda fi, fo, rng: init.xavier_uniform((fo, fi), rng=rng))
    assert ex.check_standardize_splits(
        lambda a, b: ((a - a.mean(0)) / a.std(0), (b - a.mean(0)) / a.std(0))
    )
    assert ex.check_relu_rms(lambda depth, n, std: (n * std**2 / 2) ** (depth / 2))
    assert capsys.readouterr().out.count("✓") == 4


def test_checkers_reject_the_usual_mistakes(capsys):
    assert not ex.check_he_normal_std(lambda fan_in: 2 / fan_in)
    assert "variance" in capsys.readouterr().out
    assert not ex.check_he_normal_std(lambda fan_in: math.sqrt(1 / fan_in))
    assert "LeCun" in capsys.readouterr().out

    def bound_is_std(fi, fo, rng):
        a = math.sqrt(2 / (fi + fo))
        return rng.uniform(-a, a, (fo, fi))

    assert not ex.check_xavier_uniform(bound_is_std)
    assert "a²/3" in capsys.readouterr().out
    assert not ex.check_xavier_uniform(lambda fi, fo, rng: init.xavier_uniform((fi, fo), rng=rng))
    assert "transposed" in capsys.readouterr().out
    assert not ex.check_xavier_uniform(lambda fi, fo, rng: init.xavier_normal((fo, fi), rng=rng))
    assert "normal" in capsys.readouterr().out
    assert not ex.check_xavier_uniform(
        lambda fi, fo, rng: init.xavier_uniform((fo, fi), rng=np.random.default_rng())
    )
    assert "rng" in capsys.readouterr().out

    def right_for_one_shape(fi, fo, rng):  # √(1.5/fan_out) = √(6/(fan_in+fan_out)) for 300, 100
        a = math.sqrt(1.5 / fo)
        return rng.uniform(-a, a, (fo, fi))

    assert not ex.check_xavier_uniform(right_for_one_shape)
    assert "other shape" in capsys.readouterr().out

    def ignores_rng(fi, fo, rng):
        a = math.sqrt(6 / (fi + fo))
        return np.random.default_rng(0).uniform(-a, a, (fo, fi))

    assert not ex.check_xavier_uniform(ignores_rng)
    assert "ignores its rng" in capsys.readouterr().out
    assert not ex.check_standardize_splits(
        lambda a, b: ((a - a.mean(0)) / a.std(0), (b - b.mean(0)) / b.std(0))
    )
    assert "own statistics" in capsys.readouterr().out
    assert not ex.check_standardize_splits(
        lambda a, b: ((a - a.mean(0)) / a.std(0, ddof=1), (b - a.mean(0)) / a.std(0, ddof=1))
    )
    assert "ddof" in capsys.readouterr().out
    assert not ex.check_relu_rms(lambda depth, n, std: (n * std**2) ** (depth / 2))
    assert "half" in capsys.readouterr().out


def test_checkers_report_stubs(capsys):
    def stub(*args):
        raise NotImplementedError

    for check in (
        ex.check_he_normal_std,
        ex.check_xavier_uniform,
        ex.check_standardize_splits,
        ex.check_relu_rms,
    ):
        assert check(stub) is False
    assert capsys.readouterr().out.count("not implemented yet") == 4
