"""lib.labs.normalization (chapter 05) and lib.exercises.normalization."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from lib import models
from lib.exercises import normalization as ex
from lib.labs import normalization as lab


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# the widgets' slider ends and corners: tests/test_widget_extremes.py (registered controls)


def test_running_stats_trace_matches_update_rule_of_torch():
    rm, rv = lab.running_stats_trace(momentum=0.1, batch_size=8, steps=3, seed=5)
    rng = np.random.default_rng(5)
    bn = nn.BatchNorm1d(1).double()
    for t in range(3):
        bn(torch.from_numpy(rng.normal(2.0, 3.0, (8, 1))))
        assert math.isclose(bn.running_mean.item(), rm[t], rel_tol=1e-12)
        assert math.isclose(bn.running_var.item(), rv[t], rel_tol=1e-12)


def test_settle_steps_and_noise_formula():
    assert lab.settle_steps(0.1) == 44  # 0.9^44 < 0.01 < 0.9^43
    assert 0.9**44 < 0.01 < 0.9**43
    rm, _ = lab.running_stats_trace(0.2, 16, 20000, seed=1)
    assert abs(rm[200:].std() / lab.ema_noise_std(0.2, 16) - 1) < 0.05


def test_running_stats_bad_input():
    with pytest.raises(ValueError, match="momentum"):
        lab.running_stats_trace(momentum=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        lab.running_stats_trace(batch_size=1)


def test_running_stats_x_axis_changes_rarely():
    assert [lab._steps_axis(s) for s in (20, 40, 200, 220, 260, 300, 320, 1000)] == \
        [20, 50, 300, 300, 300, 300, 500, 1000]


def test_noisy_bn_is_plain_bn_in_eval_and_noisy_in_train():
    model = lab.add_bn_noise(models.mlp([6, 5, 3], norm="batch", generator=0), seed=0)
    noisy = [m for m in model if isinstance(m, lab.NoisyBatchNorm1d)]
    assert len(noisy) == 1
    x = torch.randn(10, 5)
    a, b = noisy[0](x), noisy[0](x)
    assert not torch.allclose(a, b)  # fresh noise every step
    noisy[0].eval()
    plain = nn.BatchNorm1d(5).eval()
    plain.load_state_dict(noisy[0].state_dict())
    torch.testing.assert_close(noisy[0](x), plain(x))
    with pytest.raises(ValueError, match="scale_noise"):
        lab.NoisyBatchNorm1d(4, scale_noise=1.5)


def test_cnn_with_and_placement():
    x = torch.randn(4, 1, 14, 14)
    for name in lab.NORM_LAYERS:
        assert lab.cnn_with(name, generator=0)(x).shape == (4, 10)
    after = lab.placement_cnn("after", generator=0)
    kinds = [type(m).__name__ for m in after][:3]
    assert kinds == ["Conv2d", "ReLU", "BatchNorm2d"] and after[0].bias is not None
    assert lab.placement_cnn("before", generator=0)[0].bias is None
    with pytest.raises(ValueError, match="unknown norm"):
        lab.cnn_with("weight")
    with pytest.raises(ValueError, match="before"):
        lab.placement_cnn("middle")


def test_train_mode_accuracy_leaves_the_model_alone():
    model = models.mlp([4, 8, 3], norm="batch", generator=0).eval()
    before = model[1].running_mean.clone()
    x, y = torch.randn(30, 4), torch.randint(0, 3, (30,))
    acc = lab.train_mode_accuracy(model, x, y, 10, sort_by_class=True)
    assert 0 <= acc <= 1 and torch.equal(model[1].running_mean, before) and not model.training


def test_smoothness_probe_shapes_and_values():
    from lib import data

    prepared = data.fashion_mnist(n_train=256, n_val=10)
    r = lab.smoothness_run(models.mlp([784, 32, 10], norm="batch", generator=0), prepared,
                           lr=0.1, steps=8, probe_every=4)
    assert list(r["step"]) == [0, 4]
    assert np.all(r["loss_range"] >= 0) and np.all(r["grad_change"] > 0)


def test_dropout_bn_variances_shift_is_above_one():
    torch.manual_seed(0)
    model = models.mlp([20, 50, 50, 3], norm="batch", dropout=0.5, generator=0)
    pairs = lab.dropout_bn_variances(model, torch.randn(2000, 20))
    assert len(pairs) == 1
    v_train, v_eval = pairs[0]
    assert np.median(v_train / v_eval) > 1.2  # dropout inflates the variance in training


def test_cube_masks():
    assert lab._cube_mask("BatchNorm").sum() == 4 * 5  # N × HW for one channel
    assert lab._cube_mask("LayerNorm").sum() == 6 * 5  # C × HW for one sample
    assert lab._cube_mask("InstanceNorm").sum() == 5  # HW for one sample and channel
    assert lab._cube_mask("GroupNorm").sum() == 3 * 5  # C/G × HW
    with pytest.raises(ValueError, match="unknown normalization"):
        lab._cube_mask("WeightNorm")
    assert len(lab.cube_figure().get_axes()) == 4


def test_images_bad_pool():
    with pytest.raises(ValueError, match="pool"):
        lab.images(None, pool=3)


# ------------------------------------------------------------------------------ exercises

def test_check_bn_backward():
    def solution(dout, x, gamma, eps):
        mu, var = x.mean(axis=0), x.var(axis=0)
        xhat = (x - mu) / np.sqrt(var + eps)
        dxhat = dout * gamma
        dx = (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0)) / np.sqrt(var + eps)
        return dx, (dout * xhat).sum(0), dout.sum(0)

    def unbiased(dout, x, gamma, eps):  # normalizing with the unbiased variance: wrong
        mu, var = x.mean(axis=0), x.var(axis=0, ddof=1)
        xhat = (x - mu) / np.sqrt(var + eps)
        return solution(dout, x, gamma, eps)[0], (dout * xhat).sum(0), dout.sum(0)

    def stub(dout, x, gamma, eps):
        raise NotImplementedError

    assert ex.check_bn_backward(solution)
    assert not ex.check_bn_backward(unbiased)
    assert not ex.check_bn_backward(stub)


def test_check_fold_linear():
    def solution(W, b, gamma, beta, mean, var, eps):
        a = gamma / np.sqrt(var + eps)
        return a[:, None] * W, a * (b - mean) + beta

    def forgot_bias(W, b, gamma, beta, mean, var, eps):
        a = gamma / np.sqrt(var + eps)
        return a[:, None] * W, beta - a * mean

    assert ex.check_fold_linear(solution)
    assert not ex.check_fold_linear(forgot_bias)


def test_check_norm_choice():
    best = {k: v[0] for k, v in ex.NORM_SCENARIOS.items()}
    assert ex.check_norm_choice(lambda: best)
    assert not ex.check_norm_choice(lambda: {**best, "detection_2_images_per_gpu": "batch"})
    assert not ex.check_norm_choice(lambda: {k: "batch" for k in list(best)[:2]})
    assert not ex.check_norm_choice(lambda: {**best, "style_transfer": "weight"})
