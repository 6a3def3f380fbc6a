"""Fast tests of lib.labs.optimizers (chapter 03) and the chapter's exercise checkers."""

from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from lib import experiments, models, plots
from lib.data import fashion_mnist
from lib.exercises import optimizers as ex
from lib.experiments import RunSpec
from lib.labs import optimizers as L
from lib.optim2d import run_optimizer
from lib.surfaces import LeastSquares2D, get_surface
from lib.train import fit


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """These models are tiny: one thread is fastest and avoids contention on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_textbook_and_pytorch_momentum_agree_until_the_lr_changes():
    q = get_surface("quadratic", condition_number=30)
    a = run_optimizer(q, "Momentum", 0.02, 150, momentum=0.8)
    b = run_optimizer(q, "Momentum (textbook form)", 0.02, 150, momentum=0.8)
    np.testing.assert_allclose(a["xy"], b["xy"], rtol=1e-10, atol=1e-12)
    paths = L.momentum_forms_with_lr_drop(q, 0.02, 0.8, steps=40, drop_at=20)
    np.testing.assert_allclose(paths["pytorch"][:21], paths["textbook"][:21], atol=1e-12)
    assert np.abs(paths["pytorch"][22] - paths["textbook"][22]).max() > 1e-3


def test_adam_l2_reaches_a_stationary_point_of_the_l2_loss_adamw_does_not():
    runs = list(L.weight_decay_runs(lr=0.03, weight_decay=1.0, steps=1500).values())
    s = get_surface("rosenbrock")
    ends = [r["xy"][-1] for r in runs]
    l2_grad = [np.linalg.norm(s.grad(p) + p) for p in ends]
    assert l2_grad[0] < 1e-6 and l2_grad[1] > 0.1


def test_measured_rates_match_theory():
    r = L.momentum_rates(condition_numbers=(10, 100), steps=400)
    np.testing.assert_allclose(r["gd"], r["gd_theory"], rtol=1e-9)
    np.testing.assert_allclose(r["momentum"], r["momentum_theory"], rtol=0.01)
    assert np.all(r["momentum"] < r["gd"])


def test_adagrad_effective_lr_only_shrinks_rmsprop_recovers():
    g = np.r_[np.full(50, 1.0), np.full(600, 0.01)]
    tr = L.effective_lr_trace(g, {"a": ("Adagrad", dict(lr=0.1)), "r": ("RMSprop", dict(lr=0.01))})
    assert np.all(np.diff(tr["a"]) <= 1e-15)
    assert tr["r"][-1] > 10 * tr["r"][49]  # after the steep phase, RMSprop's lr grows back
    assert tr["a"][-1] < 1.01 * tr["a"][49]


def test_ema_bias_correction():
    tr = L.ema_trace(beta1=0.9, beta2=0.999, steps=20)
    assert tr["m_hat"][0] == pytest.approx(tr["g"][0], rel=1e-12)
    assert tr["direction"][0] == pytest.approx(1.0, rel=1e-12)
    assert tr["direction_raw"][0] == pytest.approx(0.1 / np.sqrt(0.001), rel=1e-12)


def test_eps_inside_the_square_root_shrinks_small_gradients():
    s = L.first_step_sizes([1e-6, 1e-4, 1.0], eps=1e-8)
    np.testing.assert_allclose(s["outside"], s["scale"] / (s["scale"] + 1e-8), rtol=1e-9)
    np.testing.assert_allclose(s["inside"], s["scale"] / np.sqrt(s["scale"] ** 2 + 1e-8), rtol=1e-9)
    assert s["inside"][0] < 0.02 and s["outside"][0] > 0.99


def test_positive_definite_fraction_falls_with_dimension():
    frac = L.positive_definite_fraction(dims=(1, 2, 3, 4), samples=20_000)
    assert frac[0] == pytest.approx(0.5, abs=0.02)
    assert np.all(np.diff(frac) < 0) and frac[3] < 2.0**-4


def test_saddle_escape():
    runs = L.saddle_escape(steps=100)
    stuck = runs["GD on the ridge"]
    assert np.all(stuck["xy"][:, 1] == 0.0) and abs(stuck["loss"][-1]) < 1e-6
    for name, run in runs.items():
        if name != "GD on the ridge":
            assert run["loss"][-1] < -0.2, name


def test_gradient_noise_scales_as_one_over_batch_size():
    p = LeastSquares2D(n=300)
    noise = L.gradient_noise(p, batch_sizes=(1, 10, 100), draws=4000)
    np.testing.assert_allclose(noise["measured"], noise["predicted"], rtol=0.1)
    slope = np.polyfit(np.log(noise["batch_size"]), np.log(noise["measured"]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.05)



def test_optimizer_specs_lib_optimizers_reproduce_torch_optim():
    data = fashion_mnist(n_train=256, n_val=100, n_test=1)
    base = RunSpec(model=partial(models.mlp, [784, 16, 10]), optimizer=torch.optim.SGD, epochs=1,
                   batch_size=32)
    configs = {k: L.TORCH_OPTIMIZERS[k] for k in ("Nesterov", "RMSprop", "AdamW")}
    a = experiments.run_grid(L.optimizer_specs(base, configs), data)
    b = experiments.run_grid(L.optimizer_specs(base, configs, impl="lib"), data)
    assert len({h.step_loss[0] for h in a.values()}) == 1  # same weights, same first batch
    for k in configs:
        assert len(a[k].step_loss) == 8
        np.testing.assert_allclose(a[k].step_loss, b[k].step_loss, rtol=1e-5)
    with pytest.raises(ValueError, match="impl must be 'torch' or 'lib', got 'jax'"):
        L.optimizer_specs(base, configs, impl="jax")
    with pytest.raises(ValueError, match=r"torch.optim lacks: \{'x': 'Adamax2'\}"):
        L.optimizer_specs(base, {"x": ("Adamax2", {})})


def test_figure_functions_return_figures():
    for surface, defaults in L.RACE_DEFAULTS.items():
        assert isinstance(
            L.race_figure(
                surface=surface, steps=10, lr=defaults["lr"], adaptive_lr=defaults["adaptive_lr"]
            ),
            Figure,
        )
    assert isinstance(L.race_figure(optimizers=()), Figure)
    assert isinstance(L.ema_figure(bias_correction=False), Figure)
    assert isinstance(L.schedule_figure(epochs=4, steps_per_epoch=3, log_scale=True), Figure)
    runs = {"a": run_optimizer(get_surface("saddle"), "SGD", 0.1, 5)}
    assert isinstance(L.paths_figure(get_surface("saddle"), runs, title="t"), Figure)
    net = torch.nn.Linear(3, 2)
    h = fit(
        net,
        torch.nn.functional.cross_entropy,
        torch.optim.SGD(net.parameters(), lr=0.1),
        [(torch.randn(4, 3), torch.randint(0, 2, (4,)))],
        device="cpu",
        progress=False,
    )
    assert isinstance(plots.compare_runs_figure({"run": h}), Figure)


# ----------------------------------------------------------------------------- exercise checkers


def rmsprop(theta, g, v, lr, alpha, eps):
    v = alpha * v + (1 - alpha) * g**2
    return theta - lr * g / (np.sqrt(v) + eps), v


def rmsprop_eps_inside(theta, g, v, lr, alpha, eps):
    v = alpha * v + (1 - alpha) * g**2
    return theta - lr * g / np.sqrt(v + eps), v


def adam(theta, g, m, v, t, lr, betas, eps):
    b1, b2 = betas
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
    return theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps), m, v


def adam_no_correction(theta, g, m, v, t, lr, betas, eps):
    b1, b2 = betas
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
    return theta - lr * m / (np.sqrt(v) + eps), m, v


def clip(grads, max_norm):
    n = np.sqrt(sum(np.sum(g**2) for g in grads))
    return [g * max_norm / n for g in grads] if n > max_norm else grads


def clip_to_unit_norm(grads, max_norm):  # the lecture notes' "divide by the norm"
    n = np.sqrt(sum(np.sum(g**2) for g in grads))
    return [g / n for g in grads] if n > max_norm else grads


def not_written(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "checker, right, wrong",
    [
        (ex.check_rmsprop_step, rmsprop, rmsprop_eps_inside),
        (ex.check_adam_step, adam, adam_no_correction),
        (ex.check_clip_grad_norm, clip, clip_to_unit_norm),
    ],
)
def test_checkers_accept_right_and_reject_wrong_solutions(checker, right, wrong, capsys):
    assert checker(right) is True
    assert capsys.readouterr().out.startswith(f"✓ {checker.__name__}: matches torch")
    assert checker(wrong) is False
    assert "Hint" in capsys.readouterr().out
    assert checker(not_written) is False
    assert "not implemented yet" in capsys.readouterr().out
    assert checker(lambda *args: None) is False
    assert "returned None" in capsys.readouterr().out


def test_batch_size_runs_scale_the_lr_linearly_after_a_warm_up():
    g = torch.Generator().manual_seed(0)
    data = SimpleNamespace(x_train=torch.randn(256, 784, generator=g),
                           y_train=torch.randint(0, 10, (256,), generator=g),
                           x_val=torch.randn(64, 784, generator=g),
                           y_val=torch.randint(0, 10, (64,), generator=g))
    base = RunSpec(model=partial(models.mlp, [784, 8, 10]), optimizer=torch.optim.SGD, epochs=2)
    runs = L.batch_size_runs(base, data, batch_sizes=(32, 64, 128), lr=0.05)
    assert list(runs["batch_size"]) == [32, 64, 128]
    for b in (32, 64, 128):
        fixed, scaled = runs["fixed"][b], runs["scaled"][b]
        assert len(fixed.step_lr) == len(scaled.step_lr) == 2 * int(np.ceil(256 / b))
        assert np.allclose(fixed.step_lr, 0.05)
        assert np.isclose(scaled.step_lr[-1], 0.05 * b / 64)  # the linear scaling rule
        assert np.isclose(scaled.step_lr[0], min(0.05, 0.05 * b / 64))  # warm-up starts at lr
    assert runs["fixed"][64].step_loss == runs["scaled"][64].step_loss  # B = base: same run
    assert isinstance(L.batch_size_figure(runs), Figure)
