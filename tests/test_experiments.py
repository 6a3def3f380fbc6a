"""lib.experiments: a run as data — determinism, schedules, fresh callbacks, divergence, errors."""

from functools import partial

import numpy as np
import pytest
import torch

from lib import data, models
from lib.experiments import RunSpec, run, run_grid, with_seeds
from lib.train import EarlyStopping


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
