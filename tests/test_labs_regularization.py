"""lib.labs.regularization (chapter 04) and lib.exercises.regularization."""

import itertools

import numpy as np
import pytest
import torch

from lib import models, widgets
from lib.exercises import regularization as ex
from lib.labs import regularization as lab

# every registered widget function of this lab, with the slider ranges the chapter gives it
WIDGET_RANGES = {
    lab.poly_fit_figure: {"degree": (0, 15), "n_points": (5, 60), "noise": (0.0, 1.0),
                          "lam": (1e-8, 10.0), "seed": (0, 20)},
}


def _assert_drawn(fig):
    axes = fig.get_axes()
    assert axes and all(ax.lines or ax.collections for ax in axes)


@pytest.mark.parametrize("f", list(WIDGET_RANGES))
def test_widgets_at_slider_ends_and_corners(f):
    assert f"{f.__module__}.{f.__qualname__}" in widgets.REGISTRY
    ranges = WIDGET_RANGES[f]
    defaults = widgets.default_params(f)
    for name, (lo, hi) in ranges.items():  # each slider at both ends, the others at defaults
        for value in (lo, hi):
            _assert_drawn(f(**{**defaults, name: value}))
    for corner in (0, 1):  # all sliders at their minimum, then all at their maximum
        _assert_drawn(f(**{n: r[corner] for n, r in ranges.items()}))
    for corner in itertools.islice(itertools.product(*[(0, 1)] * len(ranges)), 1, 3):
        _assert_drawn(f(**{n: r[c] for (n, r), c in zip(ranges.items(), corner, strict=True)}))


@pytest.mark.parametrize("transform", lab.AUGMENTATIONS)
def test_augment_grid_at_slider_ends(transform):
    assert "lib.labs.regularization.augment_grid_figure" in widgets.REGISTRY
    for strength, seed in ((0.0, 0), (1.0, 20), (0.0, 20), (1.0, 0)):
        fig = lab.augment_grid_figure(transform=transform, strength=strength, seed=seed)
        assert len(fig.get_axes()) == 24 and all(ax.images for ax in fig.get_axes())


def test_augmenter_bad_input():
    with pytest.raises(ValueError, match="unknown augmentation"):
        lab.augmenter("colour")
    with pytest.raises(ValueError, match="strength"):
        lab.augmenter("crop", 1.5)


def test_ensemble_accuracy_average_vs_vote():
    p = np.array([[[0.9, 0.1]], [[0.4, 0.6]], [[0.4, 0.6]]])  # one image, three models
    assert lab.ensemble_accuracy(p, [0], "average") == 1.0  # mean 0.57 vs 0.43: one sure model wins
    assert lab.ensemble_accuracy(p, [1], "vote") == 1.0  # two votes for class 1
    with pytest.raises(ValueError, match="how"):
        lab.ensemble_accuracy(p, [0], "median")


def test_polynomial_fit_matches_numpy_polyfit():
    x, y = lab.sample_points(20, 0.3, seed=1)
    ours = lab.predict_polynomial(lab.fit_polynomial(x, y, 4), lab.GRID)
    ref = np.polyval(np.polyfit(x, y, 4), lab.GRID)
    np.testing.assert_allclose(ours, ref, atol=1e-9)


def test_ridge_shrinks_polynomial():
    x, y = lab.sample_points(12, 0.3, seed=0)
    norms = [np.linalg.norm(lab.fit_polynomial(x, y, 9, lam)) for lam in (0.0, 1e-3, 1e-1, 10)]
    assert all(a > b for a, b in zip(norms, norms[1:], strict=False))


def test_bias_variance_decomposition():
    bv = lab.bias_variance(degrees=(1, 3, 9), n_sets=100, seed=2)
    np.testing.assert_allclose(bv["test_mse"], bv["bias2"] + bv["variance"] + 0.09)
    assert bv["variance"][0] < bv["variance"][1] < bv["variance"][2]


def test_ridge_path_matches_sklearn():
    from sklearn.linear_model import Ridge

    X, y, _ = lab.sparse_regression(seed=0)
    alphas = np.array([0.01, 1.0])
    ours = lab.ridge_path(X, y, alphas)
    for a, w in zip(alphas, ours, strict=True):  # sklearn: ‖y − Xw‖² + α'‖w‖², α' = nα
        ref = Ridge(alpha=a * len(y), fit_intercept=False).fit(X, y).coef_
        np.testing.assert_allclose(w, ref, atol=1e-10)


def test_vanilla_dropout_expectation_and_test_scaling():
    x = np.full(200_000, 2.0)
    y = lab.vanilla_dropout(x, 0.7, np.random.default_rng(0))
    assert set(np.unique(y)) == {0.0, 2.0}  # no rescaling in training
    assert abs(y.mean() - 1.4) < 0.01
    np.testing.assert_allclose(lab.vanilla_dropout(x, 0.7, None, train=False), 1.4)
    with pytest.raises(ValueError, match="p_keep"):
        lab.vanilla_dropout(x, 0.0, np.random.default_rng(0))


def test_l1_callbacks_on_a_tiny_run():
    from lib.data import make_loader
    from lib.train import fit

    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    zeros = {}
    for cb in (lab.L1Subgradient(0.05), lab.ProximalL1(0.05)):
        model = models.mlp([5, 8, 2], generator=0)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        fit(model, torch.nn.functional.cross_entropy, opt, make_loader(x, y, 16), epochs=20,
            callbacks=[cb], device="cpu", progress=False)
        zeros[type(cb).__name__] = lab.weight_zeros(model)[0]
    assert zeros["L1Subgradient"] == 0 and zeros["ProximalL1"] > 0


def test_mc_dropout_leaves_global_rng_alone():
    model = models.mlp([4, 16, 3], dropout=0.5, generator=0)
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = lab.mc_dropout_probs(model, x, n_samples=5, seed=0)
    assert torch.equal(torch.rand(1), before)
    assert torch.equal(a, lab.mc_dropout_probs(model, x, n_samples=5, seed=0))
    torch.testing.assert_close(a.sum(1), torch.ones(10, dtype=a.dtype))
    assert not model.training


# ----------------------------------------------------------------------------- exercises


def _inverted(x, p, rng, train):
    if not train:
        return x
    return x * (rng.random(x.shape) >= p) / (1 - p)


def test_check_inverted_dropout(capsys):
    assert ex.check_inverted_dropout(_inverted) is True
    assert ex.check_inverted_dropout(lambda x, p, rng, train: x if not train else
                                     x * (rng.random(x.shape) < p) / p) is False
    assert "DROP probability" in capsys.readouterr().out
    assert ex.check_inverted_dropout(lambda x, p, rng, train: x if not train else
                                     x * (rng.random(x.shape) >= p)) is False
    assert "1/(1 − p)" in capsys.readouterr().out


def test_check_kfold(capsys):
    from lib.crossval import kfold_indices

    assert ex.check_kfold(kfold_indices) is True

    def even_split(n, k):  # np.array_split puts the extra examples first, too: correct
        folds = np.array_split(np.arange(n), k)
        return [(np.concatenate(folds[:i] + folds[i + 1:]), f) for i, f in enumerate(folds)]

    assert ex.check_kfold(even_split) is True

    def floor_split(n, k):  # every fold n // k, the rest dropped: wrong
        size = n // k
        return [(np.setdiff1d(np.arange(n), np.arange(i * size, (i + 1) * size)),
                 np.arange(i * size, (i + 1) * size)) for i in range(k)]

    capsys.readouterr()
    assert ex.check_kfold(floor_split) is False
    assert "extra" in capsys.readouterr().out


def test_check_soft_threshold(capsys):
    from lib.proximal import soft_threshold

    assert ex.check_soft_threshold(soft_threshold) is True
    assert ex.check_soft_threshold(lambda v, t: np.where(np.abs(v) > t, v, 0.0)) is False
    assert "hard thresholding" in capsys.readouterr().out

    def stub(v, t):
        raise NotImplementedError

    assert ex.check_soft_threshold(stub) is False
    assert "not implemented" in capsys.readouterr().out


def test_shrink_factors_gd_and_ridge():
    s = np.array([1e-3, 0.1, 1.0, 5.0])
    gd = lab.shrink_factors(s, 0.1, steps=50)
    np.testing.assert_allclose(gd, 1 - (1 - 0.1 * s) ** 50)
    w = np.zeros(4)
    for _ in range(50):  # gradient descent on ½ Σ s_i (w_i − 1)² from 0
        w -= 0.1 * s * (w - 1)
    np.testing.assert_allclose(w, gd)
    np.testing.assert_allclose(lab.shrink_factors(s, 0.1, lam=0.2), s / (s + 0.2))
    with pytest.raises(ValueError, match="exactly one"):
        lab.shrink_factors(s, 0.1)
    with pytest.raises(ValueError, match="diverges"):
        lab.shrink_factors(s, 1.0, steps=3)


def test_mlp_loss_and_grads_match_autograd():
    rng = np.random.default_rng(0)
    s, n, h = 3, 7, 5
    params = {"w1": rng.normal(size=(s, 1, h)), "b1": rng.normal(size=(s, 1, h)),
              "w2": rng.normal(size=(s, h, 1)), "b2": rng.normal(size=(s, 1, 1))}
    x, y = np.linspace(-1, 1, n), rng.normal(size=(s, n))
    losses, grads = lab.mlp_loss_and_grads(params, x, y)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    xt = torch.tensor(x)[None, :, None]
    pred = (torch.relu(xt * t["w1"] + t["b1"]) @ t["w2"] + t["b2"])[..., 0]
    t_losses = ((pred - torch.tensor(y)) ** 2).mean(1)
    t_losses.sum().backward()
    np.testing.assert_allclose(losses, t_losses.detach().numpy(), rtol=1e-12)
    for k in params:
        np.testing.assert_allclose(grads[k], t[k].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_mlp_bias_variance_decomposition_and_fit():
    bv = lab.mlp_bias_variance(widths=(1, 16), n_sets=4, steps=200, lr=0.03, seed=0)
    np.testing.assert_allclose(bv["test_mse"], bv["bias2"] + bv["variance"] + 0.3**2)
    assert list(bv["width"]) == [1, 16] and bv["train_mse"][1] < bv["train_mse"][0]
    lab.bias_variance_figure(bv)


def test_repeated_subset_tiles_the_first_n():
    from lib.data import mnist

    d = mnist(n_train=20, n_val=5, n_test=5)
    r = lab.repeated_subset(d, 6, rows=20)
    assert r.x_train.shape == (18, 784) and np.array_equal(r.y_train[6:12], d.y_train[:6])
    assert np.array_equal(r.x_val, d.x_val)
    with pytest.raises(ValueError, match="n must be in"):
        lab.repeated_subset(d, 0, rows=20)


def test_training_recipes_on_a_batch():
    x, y = np.random.default_rng(0).normal(size=(6, 28, 28)), np.arange(6)
    recipes = lab.training_recipes(fill=-0.8)
    assert list(recipes)[:2] == ["none", "crop + flip"]
    for name, (transform, mix) in recipes.items():
        rng = np.random.default_rng(1)
        xb = x if transform is None else transform(x, rng)
        assert xb.shape == x.shape, name
        if mix is not None:
            xm, ym = mix(xb, y, rng)
            assert xm.shape == x.shape and ym.shape == (6, 10)
            np.testing.assert_allclose(ym.sum(1), 1.0)


def test_fit_spec_trains_a_cnn_with_mixup_and_the_figures_draw():
    import dataclasses
    from functools import partial

    from lib.data import fashion_mnist
    from lib.experiments import RunSpec

    d = fashion_mnist(n_train=40, n_val=20, n_test=20)
    d = dataclasses.replace(d, **{f"x_{s}": getattr(d, f"x_{s}").reshape(-1, 1, 28, 28)
                                  for s in ("train", "val", "test")})
    spec = RunSpec(model=partial(models.cnn, channels=(2, 4), pool_size=7),
                   optimizer=partial(torch.optim.Adam, lr=1e-3), epochs=2, batch_size=20)
    transform, mix = lab.training_recipes()["+ mixup"]
    runs = lab.scored_runs(spec, d, (0,), transform=transform, mix=mix, validate=False)
    h = runs[0]["history"]
    assert len(h.step_loss) == 4 and h.epoch["train_acc"] == [None, None]  # soft targets
    assert h.epoch["val_acc"] == [None, None] and 0 <= runs[0]["val"] <= 1
    _assert_drawn(lab.data_size_figure((100, 300), {"a": [0.3, 0.2], "b": [0.25, 0.15]}))
    assert lab.augmentation_table_figure({"none": [0.7, 0.72], "flip": [0.71, 0.7]}).get_axes()
