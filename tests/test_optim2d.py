"""lib.optim2d: NumPy optimizers on 2-D surfaces (paths, divergence, torch.optim parity)."""

import numpy as np
import pytest
import torch

from lib.numpy_ref.optim import SGD
from lib.optim2d import (
    DIVERGED,
    OPTIMIZERS,
    SGD_FAMILY,
    make_optimizer,
    run_optimizer,
    run_torch_optimizer,
)
from lib.surfaces import LeastSquares2D, get_surface


def test_run_optimizer_converges_and_reports_divergence():
    q = get_surface("quadratic", condition_number=10)
    run = run_optimizer(q, "SGD", lr=0.1, steps=200)
    assert run["xy"].shape == (201, 2) and run["loss"].shape == (201,)
    assert run["diverged_at"] is None and run["loss"][-1] < 1e-12
    bad = run_optimizer(q, "SGD", lr=0.3, steps=200)  # lr > 2/κ: unstable
    t = bad["diverged_at"]
    assert t is not None and len(bad["xy"]) == t  # positions 0 … t − 1: step t left the box
    assert np.abs(bad["xy"]).max() < DIVERGED


@pytest.mark.parametrize(
    "name, cls, kwargs",
    [
        ("Nesterov", torch.optim.SGD, dict(lr=1e-3, momentum=0.9, nesterov=True)),
        ("RMSprop", torch.optim.RMSprop, dict(lr=0.01)),
        ("AdamW", torch.optim.AdamW, dict(lr=0.1)),
    ],
)
def test_numpy_paths_equal_torch_optim_paths(name, cls, kwargs):
    s = get_surface("rosenbrock")
    ours = run_optimizer(s, name, kwargs["lr"], steps=60)["xy"]
    np.testing.assert_allclose(ours, run_torch_optimizer(s, cls, steps=60, **kwargs), atol=1e-12)


def test_make_optimizer_variants_and_overrides():
    assert set(SGD_FAMILY) < set(OPTIMIZERS)
    w = {"w": np.zeros(2)}
    assert make_optimizer("Momentum", w, 0.1).param_groups[0]["momentum"] == 0.9
    assert make_optimizer("Momentum", w, 0.1, momentum=0.5).param_groups[0]["momentum"] == 0.5
    assert make_optimizer("Nesterov", w, 0.1).param_groups[0]["nesterov"] is True


def test_mini_batch_runs_draw_batches_from_the_seed():
    problem = LeastSquares2D(n=100, seed=0)
    run = run_optimizer(problem, "SGD", 0.3, steps=20, batch_size=4, seed=1)
    rng, xy = np.random.default_rng(1), problem.start.copy()  # the same walk by hand
    opt = SGD({"xy": xy}, lr=0.3)
    for _ in range(20):
        opt.step({"xy": problem.batch_grad(xy, rng.integers(0, 100, 4))})
    np.testing.assert_array_equal(run["xy"][-1], xy)
    full = run_optimizer(problem, "SGD", 0.3, steps=20)
    assert not np.array_equal(full["xy"][-1], xy)


def test_bad_input_is_named():
    q = get_surface("quadratic")
    with pytest.raises(ValueError, match="unknown optimizer 'Adamax'; choose one of .*'AdamW'"):
        run_optimizer(q, "Adamax", lr=0.1)
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        run_optimizer(q, "SGD", lr=0.1, steps=0)
    with pytest.raises(ValueError, match="steps must be a positive integer, got 2.5"):
        run_torch_optimizer(q, torch.optim.SGD, steps=2.5, lr=0.1)
    with pytest.raises(ValueError, match="grad_noise must be a real number >= 0, got -1"):
        run_optimizer(q, "SGD", lr=0.1, grad_noise=-1)
    with pytest.raises(ValueError, match=r"start must be a point \(x, y\), got shape \(3,\)"):
        run_optimizer(q, "SGD", lr=0.1, start=[0, 0, 0])
    with pytest.raises(ValueError, match="batch_size needs a surface with examples"):
        run_optimizer(q, "SGD", lr=0.1, batch_size=4)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        run_optimizer(LeastSquares2D(), "SGD", lr=0.1, batch_size=0)


def test_schedule_is_stepped_after_every_step():
    from lib.numpy_ref.schedules import MultiStepLR

    q = get_surface("quadratic", condition_number=10)
    drop = lambda opt: MultiStepLR(opt, milestones=[3], gamma=0.1)  # noqa: E731
    dropped = run_optimizer(q, "SGD", 0.05, steps=4, schedule=drop)["xy"]
    plain = run_optimizer(q, "SGD", 0.05, steps=4)["xy"]
    np.testing.assert_array_equal(dropped[:4], plain[:4])  # steps 1-3 at lr 0.05
    step4 = plain[3] - 0.005 * q.grad(plain[3])  # step 4 at lr 0.005
    np.testing.assert_allclose(dropped[4], step4, rtol=1e-15)
