"""lib.experiments: a run as data — determinism, schedules, fresh callbacks, divergence, errors."""

from functools import partial

import numpy as np
import pytest
import torch

from lib import data, models
from lib.experiments import (
    SCHEDULES,
    RunSpec,
    fit_spec,
    make_schedule,
    run,
    run_grid,
    schedule_lrs,
    schedule_momenta,
    with_seeds,
)
from lib.train import EarlyStopping, LRScheduler, fit


@pytest.fixture(scope="module")
def small():
    return data.fashion_mnist(n_train=512, n_val=256, n_test=1)


def spec(**kw):
    base = dict(model=partial(models.mlp, [784, 32, 10]),
                optimizer=partial(torch.optim.SGD, lr=0.05, momentum=0.9), epochs=2,
                batch_size=64, seed=0)
    return RunSpec(**{**base, **kw})


def test_same_spec_same_history_other_seed_other_history(small):
    a, b, c = run(spec(), small), run(spec(), small), run(spec(seed=1), small)
    assert a.step_loss == b.step_loss and a.epoch["val_acc"] == b.epoch["val_acc"]
    assert a.step_loss != c.step_loss
    assert len(a.step_loss) == 2 * 8 and a.epoch["val_acc"][-1] > 0.5  # it learns


def test_schedule_and_fresh_callbacks(small):
    schedule = lambda opt, epochs, steps: (  # noqa: E731
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps), "step")
    h = run(spec(schedule=schedule), small)
    assert h.step_lr[0] == pytest.approx(0.05) and h.step_lr[-1] < 0.001
    made = []

    def callbacks():
        made.append(EarlyStopping(patience=1))
        return made[-1:]

    run_grid({"a": spec(callbacks=callbacks), "b": spec(callbacks=callbacks)}, small)
    assert len(made) == 2 and made[0] is not made[1]


def test_fit_spec_returns_the_trained_model_and_takes_another_loader(small):
    model, h = fit_spec(spec(epochs=1), small)
    assert h.step_loss == run(spec(epochs=1), small).step_loss
    x_val = torch.from_numpy(small.x_val)
    acc = (model(x_val).argmax(1).numpy() == small.y_val).mean()
    assert acc == pytest.approx(h.epoch["val_acc"][-1], abs=1e-9)  # the model after the run
    reversed_batches = data.make_loader(small.x_train[::-1].copy(), small.y_train[::-1].copy(),
                                        batch_size=64, shuffle=False)
    _, other = fit_spec(spec(epochs=1), small, train_loader=reversed_batches)
    assert len(other.step_loss) == 8 and other.step_loss != h.step_loss


def test_divergence_is_a_result(small):
    h = run(spec(optimizer=partial(torch.optim.SGD, lr=1e6)), small)
    assert h.diverged_at is not None and any("diverged" in e for e in h.events)


def test_with_seeds_and_grid(small):
    sweep = with_seeds(spec(epochs=1), range(3))
    assert [s.seed for s in sweep.values()] == [0, 1, 2]
    results = run_grid(sweep, small)
    finals = [h.epoch["val_acc"][-1] for h in results.values()]
    assert len(set(finals)) > 1 and np.ptp(finals) < 0.2


@pytest.mark.parametrize(
    "kw, error, match",
    [
        ({"model": "mlp"}, TypeError, "RunSpec.model"),
        ({"optimizer": None}, TypeError, "RunSpec.optimizer"),
        ({"schedule": 3}, TypeError, "RunSpec.schedule"),
        ({"epochs": 0}, ValueError, "RunSpec.epochs"),
        ({"batch_size": 2.5}, ValueError, "RunSpec.batch_size"),
        ({"seed": -1}, ValueError, "RunSpec.seed"),
    ],
)
def test_bad_spec_is_named(kw, error, match):
    with pytest.raises(error, match=match):
        spec(**kw)


def test_bad_calls(small):
    with pytest.raises(TypeError, match="RunSpec"):
        run({"lr": 0.1}, small)
    with pytest.raises(ValueError, match="non-empty dict"):
        run_grid([], small)


def test_schedule_lrs_shapes_and_values():
    lrs = {
        n: schedule_lrs(n, epochs=10, steps_per_epoch=5, lr=0.1) for n in SCHEDULES
    }
    assert all(len(v) == 50 for v in lrs.values())
    np.testing.assert_allclose(lrs["constant"], 0.1)
    np.testing.assert_allclose(lrs["exponential"][::5], 0.1 * 0.98 ** np.arange(10))
    assert lrs["step"][-1] == pytest.approx(1e-3)
    assert lrs["cosine"][0] == 0.1 and lrs["cosine"][-1] < 1e-3
    assert lrs["warmup_cosine"][0] == pytest.approx(0.01) and lrs["warmup_cosine"].max() <= 0.1
    assert lrs["one_cycle"].max() == pytest.approx(0.1) and lrs["one_cycle"][0] == pytest.approx(
        0.1 / 25
    )
    with pytest.raises(ValueError, match="unknown schedule"):
        schedule_lrs("triangular")


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_lrs_equal_the_lrs_fit_applies(name):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler, interval = make_schedule(name, opt, epochs=4, steps_per_epoch=3)
    data = [(torch.randn(4, 3), torch.randint(0, 2, (4,))) for _ in range(3)]
    h = fit(
        model,
        torch.nn.functional.cross_entropy,
        opt,
        data,
        epochs=4,
        callbacks=[LRScheduler(scheduler, interval=interval)],
        device="cpu",
        progress=False,
    )
    np.testing.assert_allclose(h.step_lr, schedule_lrs(name, 4, 3, lr=0.1), rtol=1e-12)


def test_one_cycle_cycles_momentum_the_others_keep_it():
    lrs = schedule_lrs("one_cycle", epochs=4, steps_per_epoch=10)
    m = schedule_momenta("one_cycle", epochs=4, steps_per_epoch=10)
    peak = int(np.argmax(lrs))
    assert np.isclose(m[0], 0.95) and np.isclose(m[peak], 0.85) and m.min() >= 0.85 - 1e-12
    assert np.all(np.diff(m[: peak + 1]) <= 1e-12)  # down while the lr goes up
    for name in SCHEDULES[:-1]:
        assert np.all(schedule_momenta(name, epochs=4, steps_per_epoch=10) == 0.9), name
