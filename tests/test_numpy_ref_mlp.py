"""make_mlp builds the right stack; train_numpy learns a toy problem and records divergence."""

import math
import warnings

import numpy as np
import pytest

from lib.data import make_moons
from lib.history import History
from lib.numpy_ref import activations as A
from lib.numpy_ref import layers as L
from lib.numpy_ref import norm as N
from lib.numpy_ref.losses import binary_cross_entropy_with_logits, l2_penalty, mse_loss
from lib.numpy_ref.mlp import make_mlp, train_numpy
from lib.numpy_ref.optim import SGD


def test_make_mlp_structure():
    model = make_mlp(
        [2, 8, 8, 3], activation="tanh", batchnorm=True, dropout=0.2, rng=np.random.default_rng(0)
    )
    types = [type(layer) for layer in model]
    assert types == [L.Linear, N.BatchNorm1d, A.Tanh, L.Dropout] * 2 + [L.Linear]
    assert make_mlp([2, 3], rng=np.random.default_rng(0))[0].params["weight"].shape == (3, 2)
    plain = make_mlp([2, 8, 3], activation=lambda: A.LeakyReLU(0.2), rng=np.random.default_rng(0))
    assert [type(layer) for layer in plain] == [L.Linear, A.LeakyReLU, L.Linear]
    assert plain[1].negative_slope == 0.2


def test_make_mlp_init_options():
    rng = np.random.default_rng(1)
    w = make_mlp([400, 300, 2], init="kaiming_normal", rng=rng)[0].params
    assert w["weight"].std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    np.testing.assert_array_equal(w["bias"], 0.0)
    assert not make_mlp([4, 3, 2], init="zeros", rng=rng)[0].params["weight"].any()
    custom = make_mlp([4, 3, 2], init=lambda shape, rng: np.full(shape, 0.5), rng=rng)
    np.testing.assert_array_equal(custom[2].params["weight"], 0.5)
    default = make_mlp([400, 3, 2], rng=rng)[0].params["weight"]  # nn.Linear's U(±1/√in)
    assert np.abs(default).max() <= 1 / 20 and default.std() == pytest.approx(
        1 / 20 / math.sqrt(3), rel=0.1
    )


def moons():
    x, y = make_moons(300, noise=0.1, seed=0)
    return x[:240], y[:240], x[240:], y[240:]


def test_train_numpy_learns_moons():
    x, y, xv, yv = moons()
    rng = np.random.default_rng(2)
    model = make_mlp([2, 32, 32, 2], init="kaiming_normal", rng=rng)
    hist = train_numpy(
        model,
        SGD(model.params, lr=0.1, momentum=0.9),
        x,
        y,
        epochs=30,
        batch_size=32,
        rng=rng,
        x_val=xv,
        y_val=yv,
    )
    assert isinstance(hist, History) and hist.diverged_at is None and not hist.events
    assert len(hist.step_loss) == len(hist.step_lr) == 30 * math.ceil(240 / 32)
    assert hist.epoch["epoch"] == list(range(1, 31))
    assert hist.epoch["step"][-1] == len(hist.step_loss)
    assert len(hist.epoch["train_acc"]) == len(hist.epoch["val_acc"]) == 30
    assert hist.epoch["train_acc"][-1] > 0.97 and hist.epoch["val_acc"][-1] > 0.95
    assert hist.epoch["train_loss"][-1] < 0.25 * hist.step_loss[0]
    assert set(hist.step_lr) == {0.1}
    assert hist.best("val_acc")[1] == max(hist.epoch["val_acc"])
    assert model.training  # restored after the per-epoch evaluation


def test_train_numpy_with_batchnorm_dropout_and_penalty_is_deterministic():
    x, y, _, _ = moons()

    def run():
        rng = np.random.default_rng(3)
        model = make_mlp([2, 16, 2], batchnorm=True, dropout=0.1, rng=rng)
        return train_numpy(
            model,
            SGD(model.params, lr=0.1),
            x,
            y,
            5,
            32,
            rng=rng,
            penalty=lambda p: l2_penalty(p, 1e-3),
        )

    a, b = run(), run()
    assert a.step_loss == b.step_loss and a.epoch["train_acc"][-1] > 0.8
    assert a.epoch["val_loss"] == [None] * 5 and a.diverged_at is None


def test_penalty_shrinks_the_weights():
    x, y, _, _ = moons()
    norms = []
    for lam in (0.0, 0.1):
        rng = np.random.default_rng(4)
        model = make_mlp([2, 16, 2], rng=rng)
        train_numpy(
            model,
            SGD(model.params, lr=0.1),
            x,
            y,
            5,
            32,
            rng=rng,
            penalty=lambda p, lam=lam: l2_penalty(p, lam),
        )
        norms.append(sum((w**2).sum() for k, w in model.params.items() if k.endswith("weight")))
    assert norms[1] < 0.9 * norms[0]


def test_divergence_is_recorded_not_raised():
    x, y, _, _ = moons()
    rng = np.random.default_rng(5)
    model = make_mlp([2, 32, 2], rng=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either: divergence is a result
        hist = train_numpy(model, SGD(model.params, lr=1e6), x, y, epochs=5, batch_size=16, rng=rng)
    step = hist.diverged_at
    assert step is not None and 0 < step < 5 * 15
    assert len(hist.step_loss) == step and not np.isfinite(hist.step_loss[-1])  # 1-based, as fit
    assert all(np.isfinite(hist.step_loss[:-1]))
    assert hist.events == [f"diverged at step {step}"] and hist.stopped_epoch >= 1


def test_other_losses():
    x, y, _, _ = moons()
    rng = np.random.default_rng(6)
    model = make_mlp([2, 16, 1], rng=rng)
    hist = train_numpy(
        model,
        SGD(model.params, lr=0.5, momentum=0.9),
        x,
        y[:, None].astype(float),
        20,
        32,
        rng=rng,
        loss_fn=binary_cross_entropy_with_logits,
    )
    assert hist.epoch["train_acc"][-1] > 0.9
    model = make_mlp([2, 8, 1], rng=rng)
    hist = train_numpy(
        model,
        SGD(model.params, lr=0.05),
        x,
        y[:, None].astype(float),
        2,
        32,
        rng=rng,
        loss_fn=mse_loss,
    )
    assert hist.epoch["train_acc"][-1] is None and np.isfinite(hist.epoch["train_loss"][-1])
