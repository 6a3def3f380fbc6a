"""Every documented error of lib.torch_impl's layers and losses, with its message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.torch_impl import activations, init, layers, losses, norm


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


# --- issue 9: non-integer sizes, strings as hyper-parameters, zero fans, int tensors, empty ---


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: layers.Linear(3.5, 4), r"Linear sizes must be >= 1 and integers, got "
                                         r"in_features=3.5, out_features=4"),
        (lambda: layers.Linear(0, 4), "Linear sizes must be >= 1 and integers"),
        (lambda: layers.Linear("3", 4), "in_features='3'"),
        (lambda: layers.Dropout("0.5"), r"p must be in \[0, 1\), got '0.5'"),
        (lambda: layers.Flatten("1"), "Flatten start_dim must be an integer"),
        (lambda: activations.Maxout(2.5, 3), "Maxout sizes must be >= 1 and integers"),
        (lambda: activations.PReLU(2.5), "num_parameters must be a positive integer, got 2.5"),
        (lambda: activations.LeakyReLU("0.1"), "negative_slope must be a real number, got '0.1'"),
        (lambda: activations.ELU("1"), "alpha must be a real number, got '1'"),
        (lambda: activations.Softplus(beta=0), r"Softplus beta must be > 0 \(f divides by β\)"),
        (lambda: norm.BatchNorm1d(3.5), "num_features must be >= 1, got 3.5"),
        (lambda: norm.BatchNorm1d(3, eps="1e-5"), "eps must be > 0, got '1e-5'"),
        (lambda: norm.BatchNorm1d(3, momentum="0.1"), r"momentum must be in \[0, 1\] or None"),
        (lambda: norm.GroupNorm(2.0, 4), "must be divisible by num_groups=2.0"),
        (lambda: norm.LayerNorm(3.5), "normalized_shape must be an int or a tuple of ints >= 1"),
        (
            lambda: init.kaiming_normal_(torch.empty(3, 0)),
            r"kaiming_normal_: fan_in is 0 for shape \(3, 0\), and the std divides by it",
        ),
        (lambda: init.kaiming_uniform_(torch.empty(0, 3), mode="fan_out"), "fan_out is 0"),
        (lambda: init.lecun_normal_(torch.empty(2, 0)), "fan_in is 0"),
        (lambda: init.xavier_normal_(torch.empty(0, 0)), r"xavier_normal_: fan_in \+ fan_out is 0"),
        (lambda: init.xavier_uniform_(torch.empty(3, 2), gain="2"), "gain must be a real number"),
        (lambda: init.normal_(torch.empty(3, 2), std=-1.0), "std must be >= 0, got -1.0"),
        (lambda: init.constant_(torch.empty(3, 2), "a"), "val must be a real number"),
        (lambda: init.orthogonal_(torch.empty(3, 2), gain="1"), "gain must be a real number"),
        (
            lambda: losses.l2_penalty({"weight": torch.ones(2)}, "0.1"),
            "lam must be a real number >= 0, got '0.1'",
        ),
        (
            lambda: losses.cross_entropy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)),
            r"cross_entropy needs a batch of at least 1 example \(the mean over 0 is NaN\), got "
            r"logits of shape \(0, 3\)",
        ),
        (lambda: losses.mse_loss(torch.zeros(0), torch.zeros(0)), "mse_loss needs at least 1"),
        (
            lambda: losses.binary_cross_entropy_with_logits(torch.zeros(0, 1), torch.zeros(0, 1)),
            r"needs at least 1 element .* got shape \(0, 1\)",
        ),
    ],
)
def test_bad_values_name_the_parameter(build, message):
    with pytest.raises(ValueError, match=message):
        build()


LONG = torch.ones(4, 3, dtype=torch.long)


@pytest.mark.parametrize(
    "call, who",
    [
        (lambda: layers.Linear(3, 2)(LONG), "Linear"),
        (lambda: activations.Maxout(3, 2)(LONG), "Maxout"),
        (lambda: layers.Dropout(0.5)(LONG), "Dropout"),
        (lambda: norm.BatchNorm1d(3)(LONG), "BatchNorm1d"),
        (lambda: norm.InstanceNorm2d(3)(LONG.reshape(1, 3, 2, 2)), "InstanceNorm2d"),
        (lambda: norm.LayerNorm(3)(LONG), "LayerNorm"),
        (lambda: norm.GroupNorm(1, 3)(LONG), "GroupNorm"),
        (lambda: losses.cross_entropy(LONG, LONG[:, 0]), "cross_entropy logits"),
        (lambda: losses.mse_loss(LONG, LONG), "mse_loss input"),
        (lambda: losses.mse_loss(torch.ones(4, 3), LONG), "mse_loss target"),
    ],
)
def test_integer_tensors_are_refused_by_name(call, who):
    message = rf"{who} expects a floating-point tensor \(e.g. float32\), got dtype torch.int64"
    with pytest.raises(TypeError, match=message):
        call()


def test_cross_entropy_target_must_be_a_tensor():
    with pytest.raises(TypeError, match="cross_entropy expects target as a tensor, got ndarray"):
        losses.cross_entropy(torch.zeros(2, 3), np.array([0, 1]))
