"""lib.lr_finder: the learning-rate range test on least squares, where the stable range is known
(SGD on mean((Xw − y)²) is stable for lr < 2/λ_max, λ_max the largest eigenvalue of the Hessian
2XᵀX/N)."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from lib import models
from lib.data import make_loader
from lib.lr_finder import LRRangeTest, lr_range_test


def least_squares(seed, n=2000, d=10):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * np.linspace(0.3, 3.0, d)).astype(np.float32)
    w = rng.normal(size=(d, 1)).astype(np.float32)
    y = (X @ w + 0.1 * rng.normal(size=(n, 1))).astype(np.float32)
    hessian = 2 * X.T.astype(np.float64) @ X / n
    return X, y, np.linalg.eigvalsh(hessian).max()


@pytest.mark.parametrize("seed", range(5))
def test_chosen_lr_lies_in_the_stable_range_and_weights_are_restored(seed):
    X, y, lam_max = least_squares(seed)
    stable = 2 / lam_max  # ≈ 0.11 here
    model = models.mlp([10, 1], generator=seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = lr_range_test(model, F.mse_loss, opt, make_loader(X, y, batch_size=10, seed=seed),
                        start_lr=1e-5, end_lr=10.0, device="cpu")
    # both rules land inside (0.01, 1) × the stability limit: fast enough, never diverging
    for lr in (res.suggestion, res.lr_min / 10, res.lr_steepest):
        assert 0.01 * stable < lr < stable, (lr, stable)
    assert res.suggestion == res.lr_min / 10 and res.rule == "min/10"
    # the loss exploded past the limit and the sweep stopped there
    assert res.lr_min < 4 * stable and res.lrs[-1] > stable
    assert res.stopped.startswith("loss > 4.0 x best") and len(res.lrs) < 200
    # an exponential sweep: a constant ratio between steps, from start_lr
    ratios = res.lrs[1:] / res.lrs[:-1]
    np.testing.assert_allclose(ratios, (1e6) ** (1 / 199), rtol=1e-9)
    assert res.lrs[0] == pytest.approx(1e-5)
    # weights and lr exactly as before
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert opt.param_groups[0]["lr"] == 0.1


def test_weights_and_optimizer_state_are_restored_exactly(device):
    """With momentum and a BatchNorm (running statistics are state too), after a first step."""
    X, y, _ = least_squares(0, n=200)
    model = models.mlp([10, 8, 1], norm="batch", generator=0).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x0, y0 = torch.from_numpy(X[:20]).to(device), torch.from_numpy(y[:20]).to(device)
    F.mse_loss(model(x0), y0).backward()
    opt.step()  # momentum buffers exist now
    before = {k: v.clone() for k, v in model.state_dict().items()}
    buffers = {k: opt.state[p]["momentum_buffer"].clone() for k, p in model.named_parameters()}
    res = lr_range_test(model, F.mse_loss, opt, make_loader(X, y, batch_size=10, seed=0),
                        start_lr=1e-4, end_lr=1.0)  # device: the model's
    assert len(res.lrs) >= 5
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(v.device.type == torch.device(device).type for v in after.values())
    for k, p in model.named_parameters():
        assert torch.equal(opt.state[p]["momentum_buffer"], buffers[k])
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["momentum"] == 0.9


def test_smoothed_loss_is_the_bias_corrected_moving_average():
    X, y, _ = least_squares(0, n=400)
    model = models.mlp([10, 1], generator=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    res = lr_range_test(model, F.mse_loss, opt, make_loader(X, y, batch_size=20, seed=0),
                        start_lr=1e-6, end_lr=1e-4, smooth=0.9, rule="steepest")
    avg, expected = 0.0, []
    for i, loss in enumerate(res.raw_losses):
        avg = 0.9 * avg + 0.1 * loss
        expected.append(avg / (1 - 0.9 ** (i + 1)))
    np.testing.assert_allclose(res.losses, expected, rtol=1e-12)
    assert res.losses[0] == res.raw_losses[0]
    assert res.stopped == "end of sweep (20 steps)" and res.lrs[-1] == pytest.approx(1e-4)
    assert res.suggestion == res.lr_steepest


def test_callback_schedule_is_exponential():
    cb = LRRangeTest(1e-4, 1.0, 5)
    np.testing.assert_allclose([cb.lr_at(i) for i in range(5)], [1e-4, 1e-3, 1e-2, 1e-1, 1.0])


def test_lr_range_test_bad_input():
    X, y, _ = least_squares(0, n=100)
    model = models.mlp([10, 1], generator=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = make_loader(X, y, batch_size=10, seed=0)
    run = lambda **kw: lr_range_test(model, F.mse_loss, opt, loader, **kw)
    with pytest.raises(ValueError, match="start_lr must be a finite number > 0"):
        run(start_lr=0.0)
    with pytest.raises(ValueError, match="end_lr must be > start_lr"):
        run(start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match=r"smooth .* must be in \[0, 1\)"):
        run(smooth=1.0)
    with pytest.raises(ValueError, match="diverge_th must be > 1"):
        run(diverge_th=0.5)
    with pytest.raises(ValueError, match="unknown rule 'valley'; allowed: min/10, steepest"):
        run(rule="valley")
    with pytest.raises(ValueError, match="at least 5 mini-batches"):
        lr_range_test(model, F.mse_loss, opt, make_loader(X[:30], y[:30], batch_size=10))
    with pytest.raises(ValueError, match="start_lr=.* is already too large"):
        run(start_lr=50.0, end_lr=100.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="optimizer holds none of the model's parameters"):
        other = torch.optim.SGD(models.mlp([10, 1]).parameters(), lr=0.1)
        lr_range_test(model, F.mse_loss, other, loader)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_range_test_of_a_run_spec_on_fashion_mnist():
    """The chapter's objective: lr_min sits below the lr where one epoch's accuracy collapses."""
    from lib import tuning
    from lib.data import fashion_mnist
    from lib.lr_finder import spec_range_test

    data = fashion_mnist(n_train=1000, n_val=1, n_test=1, tensors=True)
    spec = tuning.config_spec({"lr": 0.01, "momentum": 0.0, "batch_size": 8}, seed=0)
    res = spec_range_test(spec, data, start_lr=1e-5, end_lr=10.0)
    assert res.stopped.startswith("loss > 4.0 x best")
    assert 0.01 < res.lr_min < 2.0 and res.suggestion == res.lr_min / 10
    with pytest.raises(TypeError, match="RunSpec"):
        spec_range_test({"lr": 0.1}, data)
