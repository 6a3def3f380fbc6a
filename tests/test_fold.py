"""lib.fold: BatchNorm folded into the preceding Linear / Conv2d computes the same function."""

import pytest
import torch
from torch import nn

from lib import fold, models


def _trained_stats(model, x, steps=5):
    """Give the BN layers non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(1)
    model.train()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 2.0, generator=g)
                m.bias.normal_(0.0, 0.5, generator=g)
        for _ in range(steps):
            model(x * 2 + 1)
    return model.eval()


@pytest.mark.parametrize("bias", [True, False])
def test_fold_linear_bn_matches(bias):
    torch.manual_seed(0)
    lin, bn = nn.Linear(7, 5, bias=bias).double(), nn.BatchNorm1d(5).double()
    x = torch.randn(64, 7, dtype=torch.float64)
    _trained_stats(nn.Sequential(lin, bn), x)
    folded = fold.fold_linear_bn(lin, bn)
    assert folded.bias is not None
    torch.testing.assert_close(folded(x), bn(lin(x)), rtol=1e-12, atol=1e-12)
    assert lin.bias is None or lin.bias.shape == (5,)  # the original is left as it was


def test_fold_conv_bn_matches():
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 4, 3, padding=1, bias=False).double(), nn.BatchNorm2d(4).double()
    x = torch.randn(8, 3, 6, 6, dtype=torch.float64)
    _trained_stats(nn.Sequential(conv, bn), x)
    torch.testing.assert_close(fold.fold_linear_bn(conv, bn)(x), bn(conv(x)), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("build", [
    lambda: models.mlp([20, 16, 16, 3], norm="batch", generator=0),
    lambda: models.cnn(channels=(4, 8), norm="batch", generator=0),
])
def test_fold_batchnorm_model(build):
    model = build()
    x = torch.randn(16, 20) if isinstance(model[0], nn.Linear) else torch.randn(16, 1, 12, 12)
    _trained_stats(model, x)
    folded = fold.fold_batchnorm(model)
    assert fold.count_batchnorms(model) == 2 and fold.count_batchnorms(folded) == 0
    assert not folded.training
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
    assert fold.count_batchnorms(model) == 2  # the original is unchanged


def test_bn_after_activation_is_kept():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4)).eval()
    assert fold.count_batchnorms(fold.fold_batchnorm(model)) == 1


def test_bad_input():
    with pytest.raises(TypeError, match="nn.Linear or nn.Conv2d"):
        fold.fold_linear_bn(nn.ReLU(), nn.BatchNorm1d(3))
    with pytest.raises(TypeError, match="BatchNorm2d"):
        fold.fold_linear_bn(nn.Conv2d(1, 3, 3), nn.BatchNorm1d(3))
    with pytest.raises(ValueError, match="num_features"):
        fold.fold_linear_bn(nn.Linear(2, 3), nn.BatchNorm1d(4))
    with pytest.raises(ValueError, match="running statistics"):
        fold.fold_linear_bn(nn.Linear(2, 3), nn.BatchNorm1d(3, track_running_stats=False))
    with pytest.raises(TypeError, match="nn.Sequential"):
        fold.fold_batchnorm(nn.Linear(2, 3))
