"""Tests of chapter 01's lab functions (lib.labs.activations) and exercise checkers."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lib import models
from lib.exercises import activations as ex
from lib.labs import activations as A

# ----------------------------------------------------------------------------- f and f′


@pytest.mark.parametrize("name", A.GALLERY)
def test_reference_curves_match_autograd_away_from_kinks(name):
    x = np.linspace(-6, 6, 1201)
    x = x[np.abs(x) > 1e-3]
    if name == "maxout":  # kinks where two pieces cross
        kinks = [-1.25, 1 / 1.2]
        x = x[np.min(np.abs(x[:, None] - np.array(kinks)), axis=1) > 1e-3]
    f, df = A.activation_curve(name, x)
    g, dg = A.autograd_curve(name, x)
    np.testing.assert_allclose(f, g, rtol=0, atol=1e-12)
    np.testing.assert_allclose(df, dg, rtol=0, atol=1e-12)


def test_maxout_gradient_at_a_tie_differs_by_convention():
    # at x = −1.25 pieces −0.5x − 1 and 0.3x tie: NumPy's argmax takes the first, torch.amax splits
    ours = A.activation_curve("maxout", np.array([-1.25]))[1]
    torch_grad = A.autograd_curve("maxout", np.array([-1.25]))[1]
    assert ours[0] == pytest.approx(-0.5)
    assert torch_grad[0] == pytest.approx((-0.5 + 0.3) / 2)


def test_peak_derivatives():
    assert A.peak_derivative("sigmoid") == pytest.approx(0.25, abs=1e-12)
    assert A.peak_derivative("tanh") == pytest.approx(1.0, abs=1e-12)
    assert A.peak_derivative("relu") == 1.0
    assert A.peak_derivative("gelu") > 1.0  # GELU overshoots: f′ ≈ 1.13 near x ≈ 1.4


def test_unknown_activation_is_rejected_with_the_allowed_names():
    with pytest.raises(ValueError, match="allowed: sigmoid"):
        A.activation_curve("swish2", np.zeros(3))


def test_gradient_regions():
    assert A.gradient_regions("sigmoid", np.array([0.0, 10.0, -10.0, 1.0])) == {
        "flat": 0.5, "zero": 0.0}
    z = np.random.default_rng(0).standard_normal(100_000)
    regions = A.gradient_regions("relu", z)
    assert regions["zero"] == regions["flat"] == pytest.approx(0.5, abs=0.01)
    # Leaky ReLU's negative side has f′ = 0.01: flat (weak gradient) but never zero
    assert A.gradient_regions("leaky_relu", z) == {"flat": regions["flat"], "zero": 0.0}
    with pytest.raises(ValueError, match="flat_tol"):
        A.gradient_regions("relu", z, flat_tol=2)


def test_figures_are_figures():
    assert len(A.gallery_figure().axes) == 10
    assert len(A.saturation_figure("elu", mean=-2, std=0.5).axes) == 2
    with pytest.raises(ValueError, match="std"):
        A.saturation_figure(std=0)
    assert isinstance(A.zigzag_figure(steps=5), Figure)
    assert isinstance(A.relu_toy_figure(steps=3), Figure)
    def lines(**kw):
        ax = A.grad_norms_figure(depth=2, activations=("relu",), **kw).axes[0]
        return sum(line.get_visible() for line in ax.get_lines())

    assert lines() == lines(also="relu") == 1 and lines(also="elu") == 2


# ----------------------------------------------------------------------------- gradient flow


@pytest.mark.parametrize("activation", ["relu", "maxout"])
def test_weight_layers_of_a_models_mlp(activation):
    model = models.mlp([5, 16, 16, 16, 4], activation=activation)
    assert model(torch.zeros(2, 5)).shape == (2, 4)
    assert len(A._weight_layers(model)) == 4


def test_grad_norms_at_init_uses_the_named_init():
    kaiming = A.grad_norms_at_init("relu", 3, "kaiming", width=16)
    assert kaiming.shape == (4,) and not kaiming.flags.writeable
    assert not np.array_equal(kaiming, A.grad_norms_at_init("relu", 3, "default", width=16))
    with pytest.raises(ValueError, match="allowed: default, xavier, kaiming"):
        A.grad_norms_at_init("relu", 2, "he")


@pytest.mark.parametrize("activation", ["sigmoid", "maxout", "prelu"])
def test_grad_norms_at_init_are_those_of_the_whole_net(activation):
    # the shared forward pass (_GradPrefix) gives the numbers of a freshly built models.mlp,
    # whatever order the depths are asked in
    x, y = A._fashion_batch()
    for depth in (3, 1, 4):
        model = models.mlp([784, *[16] * depth, 10], activation=activation,
                           init=A.INITS["xavier"], generator=2)
        np.testing.assert_array_equal(A.grad_norms_at_init(activation, depth, "xavier", 16, 2),
                                      A.layer_grad_norms(model, x, y))


def test_layer_grad_norms_match_autograd_and_show_vanishing_sigmoid():
    x, y = torch.randn(64, 784, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 10
    model = models.mlp([784, *[64] * 8, 10], activation="sigmoid")
    norms = A.layer_grad_norms(model, x, y)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    expected = [m.weight.grad.norm().item() for m in A._weight_layers(model)]
    np.testing.assert_allclose(norms, expected, rtol=1e-6)
    assert norms[0] < 1e-3 * norms[-1]


def test_never_active_units():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        model[0].bias.copy_(torch.tensor([-10.0, 0.0, 0.0]))
    x = torch.tensor([[1.0, -1.0], [2.0, 0.0], [0.5, -3.0]])
    # unit 0: x₁ − 10 < 0 always (dead); unit 1: x₂ ≤ 0 always (0 counts: dead); unit 2 alive
    assert A.never_active_units(model, x).tolist() == [2]


# ----------------------------------------------------------------------------- zero-centring


def test_all_positive_inputs_give_same_sign_weight_steps():
    for centred in (False, True):
        x, y, w_star = A.zigzag_problem(centred=centred)
        assert (x > 0).all() != centred
        steps = np.diff(A.sgd_path(x, y, lr=1.0, steps=100), axis=0)
        same_sign = np.sign(steps[:, 0]) == np.sign(steps[:, 1])
        assert same_sign.all() != centred  # centred inputs give steps in all four quadrants


def test_sgd_path_converges_and_reports_divergence():
    x, y, w_star = A.zigzag_problem(centred=True)
    path = A.sgd_path(x, y, lr=1.0, steps=500, batch_size=200)
    assert A.steps_to_reach(path, w_star, tol=1e-3) is not None
    diverged = A.sgd_path(x, y, lr=500.0, steps=500, batch_size=200)
    assert len(diverged) < 501 and A.steps_to_reach(diverged, w_star) is None
    with pytest.raises(ValueError, match="lr"):
        A.sgd_path(x, y, lr=0, steps=1)


# ----------------------------------------------------------------------------- dead ReLUs


def test_relu_toy_dead_units():
    assert not A.relu_toy(bias=0.0, lr=0.1, steps=50)["dead_start"].any()
    assert A.relu_toy(bias=-5.0, lr=0.1, steps=1)["dead_start"].all()
    sane, huge = A.relu_toy(lr=0.1), A.relu_toy(lr=10.0)
    assert sane["dead_end"].sum() < huge["dead_end"].sum()
    assert sane["acc"] > 0.8


# ----------------------------------------------------------------------------- exercise checkers


def leaky_forward(x, negative_slope):
    return np.where(x > 0, x, negative_slope * x)


def leaky_backward(dout, x, negative_slope):
    return dout * np.where(x > 0, 1.0, negative_slope)


def not_done(*args):
    raise NotImplementedError


@pytest.mark.parametrize("forward, backward, message", [
    (leaky_forward, leaky_backward, "✓"),
    (not_done, not_done, "not implemented yet"),
    (lambda x, s: np.maximum(x, 0), leaky_backward, "that is ReLU"),
    (lambda x, s: np.where(x > 0, x, 0.01 * x), leaky_backward, "ignores its negative_slope"),
    (leaky_forward, lambda d, x, s: np.where(x > 0, 1.0, s), "chain rule"),
    (leaky_forward, lambda d, x, s: d, "dout unchanged"),
    (leaky_forward, lambda d, x, s: d * (x > 0), "ReLU's derivative"),
    (leaky_forward, lambda d, x, s: d * np.where(x > 0, 1.0, 2 * s), "gradient check failed"),
])
def test_check_leaky_relu(forward, backward, message, capsys):
    assert ex.check_leaky_relu(forward, backward) == (message == "✓")
    assert message in capsys.readouterr().out


def elu_backward(dout, out, alpha):
    return dout * np.where(out > 0, 1.0, out + alpha)


@pytest.mark.parametrize("backward, message", [
    (elu_backward, "✓"),
    (not_done, "not implemented yet"),
    (lambda d, out, a: d * np.where(out > 0, 1.0, out), "out + α"),
    (lambda d, out, a: d * np.where(out > 0, 1.0, np.exp(out)), "e^out"),
    (lambda d, out, a: d * np.where(out > 0, 1.0, out + 1.0), "assumes α = 1"),
    (lambda d, out, a: d * np.where(out > 0, 2.0, out + a), "identity"),
])
def test_check_elu_backward(backward, message, capsys):
    assert ex.check_elu_backward(backward) == (message == "✓")
    assert message in capsys.readouterr().out


@pytest.mark.parametrize("count, message", [
    (lambda z: int((z <= 0).all(axis=0).sum()), "✓"),
    (not_done, "not implemented yet"),
    (lambda z: int((z < 0).all(axis=0).sum()), "z <= 0, not z < 0"),
    (lambda z: int((z <= 0).sum()), "dead entries"),
    (lambda z: int((z <= 0).all(axis=1).sum()), "check the axis"),
    (lambda z: 2, "random batch"),
])
def test_check_count_dead(count, message, capsys):
    assert ex.check_count_dead(count) == (message == "✓")
    assert message in capsys.readouterr().out


@pytest.mark.parametrize("abc, message", [
    ((2, 2, -1), "✓"),
    (None, "not implemented yet"),
    ((2, 2, 0), "tends to 2 and 0"),
    ((1, 2, -0.5), "tends to 0.5 and -0.5"),
    ((2, 1, -1), "a·b/4 = 0.5"),
    ((2, 2), "three numbers"),
])
def test_check_tanh_identity(abc, message, capsys):
    assert ex.check_tanh_identity(not_done if abc is None else lambda: abc) == (message == "✓")
    assert message in capsys.readouterr().out


@pytest.mark.parametrize("grad_a, message", [
    (lambda d, x: (d * np.where(x <= 0, x, 0)).sum(), "✓"),
    (not_done, "not implemented yet"),
    (lambda d, x: d * np.minimum(x, 0), "their sum"),
    (lambda d, x: (d * np.maximum(x, 0)).sum(), "positive side"),
    (lambda d, x: (d * x).sum(), "every element"),
    (lambda d, x: 0.25 * (d * np.minimum(x, 0)).sum(), "a times too small"),
    (lambda d, x: 1.0, "expected"),
])
def test_check_prelu_grad_a(grad_a, message, capsys):
    assert ex.check_prelu_grad_a(grad_a) == (message == "✓")
    assert message in capsys.readouterr().out


# ----------------------------------------------------------------------------- issue 8 additions


def test_cached_results_cannot_be_changed_by_a_caller():
    norms = A.grad_norms_at_init("relu", 2, width=8)
    with pytest.raises(ValueError, match="read-only"):
        norms[0] = 0.0
    x, y = A._fashion_batch()
    x.zero_()
    y.zero_()  # fresh tensors: the cache keeps its own copy
    x_again, y_again = A._fashion_batch()
    assert x_again.abs().sum() > 0 and y_again.max() > 0
    run = A.relu_toy(steps=3)
    with pytest.raises(ValueError, match="read-only"):
        run["x"][0, 0] = 99.0
    with pytest.raises(ValueError, match="read-only"):
        run["end"][0][0, 0] = 99.0
    run["acc"] = -1.0
    assert A.relu_toy(steps=3)["acc"] >= 0


def test_grad_norms_figure_empty_selection_and_duplicate_also():
    def texts(fig):  # (the figure keeps its artists for in-place redraws, hiding unused ones)
        return " ".join(t.get_text() for t in fig.axes[0].texts if t.get_visible())

    empty = A.grad_norms_figure(depth=2, activations=(), width=8)
    assert "select at least one" in texts(empty)
    assert not any(line.get_visible() for line in empty.axes[0].get_lines())
    assert "select at least one" not in texts(A.grad_norms_figure(depth=2, activations=(),
                                                                   also="elu", width=8))
    duplicate = A.grad_norms_figure(depth=2, activations=("relu",), also="relu", width=8)
    assert "already drawn" in texts(duplicate)
    assert "already drawn" not in texts(A.grad_norms_figure(depth=2, activations=("relu",),
                                                            also="elu", width=8))
    with pytest.raises(ValueError, match="unknown activation"):
        A.grad_norms_figure(depth=2, also="swish2")


def test_signal_through_layers_of_the_hook_sigmoid_net():
    x, y = A._fashion_batch()
    signal = A.signal_through_layers(models.mlp([784, *[64] * 6, 10], "sigmoid"), x, y)
    assert signal["flat"].max() == 0  # no saturated unit: the failure is not saturation
    spread, grad = signal["spread"], signal["grad"]
    assert np.all(spread[1:] / spread[:-1] < 0.3)  # the images' differences shrink forward …
    assert np.all(grad[:-1] / grad[1:] < 0.3)  # … and the gradient shrinks backward
    assert signal["logit_spread"] < 0.01


def test_full_batch_gradient_descent_and_the_best_zigzag_lr():
    x, y, w_star = A.zigzag_problem(centred=True)
    path = A.sgd_path(x, y, lr=1.0, steps=2, batch_size=None)
    step = path[0] - 1.0 * ((x @ path[0] - y) @ x) / len(x)
    np.testing.assert_allclose(path[1], step)
    lr, steps = A.zigzag_best_lr(centred=False)
    assert lr in A.ZIGZAG_LRS and steps == A.steps_to_reach(
        A.sgd_path(*A.zigzag_problem()[:2], lr, 300, batch_size=None), w_star)
    assert steps >= 5 * A.zigzag_best_lr(centred=True)[1]
    with pytest.raises(ValueError, match="no learning rate"):
        A.zigzag_best_lr(lrs=[1e-6], steps=3)


def test_comparison_figure_is_one_panel_per_activation():
    class FakeHistory:
        step_loss = list(np.linspace(2.3, 0.5, 30))

    experiment = {name: {"history": FakeHistory, "val_acc": 0.8} for name in ("relu", "tanh")}
    fig = A.comparison_figure(experiment)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2 and all(len(ax.get_lines()) == 2 for ax in visible)
    with pytest.raises(ValueError, match="empty"):
        A.comparison_figure({})
