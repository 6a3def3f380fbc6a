"""Every documented error of lib.torch_impl's layers and losses, with its message."""

from __future__ import annotations

import pytest
import torch

from lib.torch_impl import activations, layers, losses, norm


@pytest.mark.parametrize(
    "build, error, message",
    [
        (
            lambda: activations.GELU("fast"),
            ValueError,
            r"unknown approximate 'fast'; allowed: none, tanh",
        ),
        (
            lambda: activations.PReLU(0),
            ValueError,
            "num_parameters must be a positive integer, got 0",
        ),
        (lambda: activations.Maxout(3, 2, 0), ValueError, "Maxout sizes must be >= 1"),
        (
            lambda: layers.Dropout(1.0),
            ValueError,
            r"dropout probability p must be in \[0, 1\), got 1.0",
        ),
        (
            lambda: layers.Dropout(-0.1),
            ValueError,
            r"dropout probability p must be in \[0, 1\), got -0.1",
        ),
        (lambda: norm.BatchNorm1d(0), ValueError, "num_features must be >= 1, got 0"),
        (lambda: norm.BatchNorm2d(3, eps=0), ValueError, "eps must be > 0, got 0"),
        (
            lambda: norm.BatchNorm2d(3, momentum=1.5),
            ValueError,
            r"momentum must be in \[0, 1\] or None \(cumulative average\), got 1.5",
        ),
        (
            lambda: norm.InstanceNorm2d(3, momentum=None),
            ValueError,
            r"InstanceNorm2d needs momentum in \[0, 1\]; got None",
        ),
        (lambda: norm.LayerNorm(4, eps=-1.0), ValueError, "eps must be > 0, got -1.0"),
        (
            lambda: norm.GroupNorm(4, 6),
            ValueError,
            "num_channels=6 must be divisible by num_groups=4",
        ),
        (
            lambda: norm.GroupNorm(0, 6),
            ValueError,
            "num_channels=6 must be divisible by num_groups=0",
        ),
    ],
)
def test_bad_constructor_arguments(build, error, message):
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize(
    "module, shape, message",
    [
        (
            activations.PReLU(3),
            (2, 4, 5),
            r"PReLU with num_parameters=3 needs an input with that "
            r"many channels in dimension 1, got shape \(2, 4, 5\)",
        ),
        (activations.PReLU(3), (3,), r"got shape \(3,\)"),
        (layers.Linear(3, 2), (4, 5), r"last dimension is in_features=3, got shape \(4, 5\)"),
        (
            activations.Maxout(3, 2),
            (4, 5),
            r"Maxout expects inputs whose last dimension is in_features=3",
        ),
        (layers.Flatten(1, 4), (2, 3, 4), r"must be in \[-3, 2\] for a 3-D input"),
        (layers.Flatten(2, 1), (2, 3, 4), "Flatten needs start_dim <= end_dim"),
        (
            norm.BatchNorm1d(3),
            (2, 3, 4, 5),
            r"BatchNorm1d expects 2D or 3D input \(N, C, …\), "
            r"got 4D input",
        ),
        (norm.BatchNorm2d(3), (2, 3, 4), r"BatchNorm2d expects 4D input \(N, C, …\), got 3D"),
        (
            norm.BatchNorm2d(3),
            (2, 4, 5, 5),
            r"BatchNorm2d\(3\) expects 3 channels in dimension "
            r"1, got input of shape \(2, 4, 5, 5\)",
        ),
        (norm.BatchNorm1d(3), (1, 3), "Expected more than 1 value per channel when training"),
        (norm.InstanceNorm2d(3), (2, 3, 4), r"InstanceNorm2d expects 4D input \(N, C, H, W\)"),
        (
            norm.InstanceNorm2d(3),
            (2, 3, 1, 1),
            "Expected more than 1 spatial element when training",
        ),
        (
            norm.LayerNorm((3, 4)),
            (2, 4, 3),
            r"last 2 dimensions are \[3, 4\], got shape \(2, 4, 3\)",
        ),
        (
            norm.GroupNorm(2, 4),
            (2, 6, 3),
            r"GroupNorm\(num_channels=4\) expects input \(N, C, …\) "
            r"with C = 4, got shape \(2, 6, 3\)",
        ),
    ],
)
def test_bad_input_is_rejected(module, shape, message):
    with pytest.raises(ValueError, match=message):
        module(torch.randn(shape))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: losses.cross_entropy(torch.randn(4), torch.tensor([1])),
            ValueError,
            r"cross_entropy expects logits of shape \(N, C\), got \(4,\)",
        ),
        (
            lambda: losses.cross_entropy(torch.randn(2, 3), torch.tensor([0.0, 1.0])),
            TypeError,
            "cross_entropy expects integer class indices as target, got dtype torch.float32",
        ),
        (
            lambda: losses.cross_entropy(torch.randn(2, 3), torch.tensor([0, 1, 2])),
            ValueError,
            r"cross_entropy expects target of shape \(2,\) for logits \(2, 3\), got \(3,\)",
        ),
        (
            lambda: losses.cross_entropy(torch.randn(2, 3), torch.tensor([0, 3])),
            ValueError,
            r"cross_entropy target values must be in \[0, 3\), got range \[0, 3\]",
        ),
        (
            lambda: losses.mse_loss(torch.randn(2, 3), torch.randn(3, 2)),
            ValueError,
            r"mse_loss: input shape \(2, 3\) and target shape \(3, 2\) must be equal",
        ),
        (
            lambda: losses.binary_cross_entropy_with_logits(torch.randn(3), torch.randn(4)),
            ValueError,
            r"input shape \(3,\) and target shape \(4,\) must be equal",
        ),
        (
            lambda: losses.binary_cross_entropy_with_logits(
                torch.randn(2), torch.tensor([0.5, 2.0])
            ),
            ValueError,
            r"binary_cross_entropy_with_logits target values must be in \[0, 1\]",
        ),
        (
            lambda: losses.l1_penalty({"w": torch.ones(2)}, -1.0),
            ValueError,
            "penalty strength lam must be >= 0, got -1.0",
        ),
        (
            lambda: losses.l2_penalty({"weight": torch.ones(2)}, 0.1, keys=["bias"]),
            ValueError,
            r"unknown parameter names \['bias'\]; allowed: \['weight'\]",
        ),
        (
            lambda: losses.elastic_net_penalty({"weight": torch.ones(2)}, 0.1, l1_ratio=1.5),
            ValueError,
            r"l1_ratio must be in \[0, 1\], got 1.5",
        ),
    ],
)
def test_bad_loss_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "ours, builtin, shape",
    [
        (norm.BatchNorm1d(3), torch.nn.BatchNorm1d(3), (0, 3)),
        (norm.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None), (0, 3, 5)),
        (norm.BatchNorm2d(3), torch.nn.BatchNorm2d(3), (0, 3, 2, 2)),
    ],
)
def test_batchnorm_on_an_empty_batch_behaves_like_torch_nn(ours, builtin, shape):
    """Empty output, running statistics unchanged (num_batches_tracked counted, as torch.nn)."""
    for module in (ours, builtin):
        x = torch.zeros(shape, requires_grad=True)
        y = module.train()(x)
        y.sum().backward()
        assert y.shape == shape and x.grad.shape == shape
        torch.testing.assert_close(module.weight.grad, torch.zeros(3))
    for name, buffer in builtin.named_buffers():
        torch.testing.assert_close(getattr(ours, name), buffer, rtol=0, atol=0)
    torch.testing.assert_close(ours.running_mean, torch.zeros(3))
    torch.testing.assert_close(ours.running_var, torch.ones(3))


def test_instancenorm_on_an_empty_batch_keeps_running_statistics():
    layer = norm.InstanceNorm2d(3, track_running_stats=True)
    assert layer(torch.zeros(0, 3, 2, 2)).shape == (0, 3, 2, 2)
    torch.testing.assert_close(layer.running_mean, torch.zeros(3))
    torch.testing.assert_close(layer.running_var, torch.ones(3))
