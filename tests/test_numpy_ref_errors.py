"""Every documented bad input of lib.numpy_ref raises a clear error naming the problem."""

import warnings

import numpy as np
import pytest

from lib.numpy_ref import activations as A
from lib.numpy_ref import init, losses
from lib.numpy_ref import layers as L
from lib.numpy_ref import norm as N
from lib.numpy_ref.gradcheck import check_layer_gradients, numerical_gradient, rel_error
from lib.numpy_ref.mlp import make_mlp, train_numpy
from lib.numpy_ref.module import Sequential

rng = np.random.default_rng(0)
X = np.ones((4, 3))
Y = np.zeros(4, dtype=int)

CASES = {
    # layers
    "linear_int_input": (
        lambda: L.Linear(3, 2, rng=rng)(np.ones((4, 3), dtype=int)),
        TypeError,
        "floating-point",
    ),
    "linear_in_features": (
        lambda: L.Linear(5, 2, rng=rng)(X),
        ValueError,
        r"expects input of shape \(\*, 5\), got \(4, 3\)",
    ),
    "linear_sizes": (lambda: L.Linear(0, 2, rng=rng), ValueError, "sizes must be >= 1"),
    "linear_no_rng": (lambda: L.Linear(3, 2), TypeError, "explicit rng=np.random.Generator"),
    "linear_legacy_rng": (
        lambda: L.Linear(3, 2, rng=np.random.RandomState(0)),
        TypeError,
        "got RandomState",
    ),
    "dropout_p_1": (lambda: L.Dropout(1.0, rng=rng), ValueError, r"p must be in \[0, 1\)"),
    "dropout_p_negative": (lambda: L.Dropout(-0.1, rng=rng), ValueError, r"p must be in \[0, 1\)"),
    "dropout_p_str": (lambda: L.Dropout("0.5", rng=rng), ValueError, r"p must be in \[0, 1\)"),
    "dropout_no_rng": (lambda: L.Dropout(0.5), TypeError, "Dropout needs an explicit rng"),
    "backward_first": (
        lambda: L.Linear(3, 2, rng=rng).backward(np.ones((4, 2))),
        RuntimeError,
        "before forward",
    ),
    "flatten_dim": (
        lambda: L.Flatten(start_dim=3)(X),
        ValueError,
        r"dim 3 out of range .* \(allowed -2 … 1\)",
    ),
    "flatten_order": (
        lambda: L.Flatten(1, 0)(np.ones((2, 3, 4))),
        ValueError,
        "comes after end_dim",
    ),
    "sequential_non_module": (
        lambda: Sequential(L.Flatten(), np.tanh),
        TypeError,
        "expects Module instances",
    ),
    # activations
    "unknown_activation": (
        lambda: A.get_activation("swish"),
        ValueError,
        r"unknown activation 'swish'; allowed: \['elu'",
    ),
    "gelu_approximate": (lambda: A.GELU("erf"), ValueError, r"one of \('none', 'tanh'\)"),
    "prelu_channels": (
        lambda: A.PReLU(4)(X),
        ValueError,
        r"needs input with 4 channels in dim 1, got shape \(4, 3\)",
    ),
    "prelu_zero": (lambda: A.PReLU(0), ValueError, "num_parameters must be >= 1"),
    "maxout_shape": (
        lambda: A.Maxout(2, 3, rng=rng)(X),
        ValueError,
        r"shape \(N, 2\), got \(4, 3\)",
    ),
    "maxout_pieces": (lambda: A.Maxout(2, 3, pieces=0, rng=rng), ValueError, "pieces=0"),
    "activation_int_input": (
        lambda: A.ReLU()(np.arange(3)),
        TypeError,
        "ReLU expects a floating-point array",
    ),
    # normalization
    "bn1d_ndim": (
        lambda: N.BatchNorm1d(3)(np.ones((2, 3, 4, 4))),
        ValueError,
        "expected 2D or 3D input, got 4D",
    ),
    "bn2d_ndim": (lambda: N.BatchNorm2d(3)(X), ValueError, "expected 4D input, got 2D"),
    "bn_channels": (
        lambda: N.BatchNorm1d(5)(X),
        ValueError,
        r"expects 5 channels in dim 1, got input of shape \(4, 3\)",
    ),
    "bn_batch_of_1": (
        lambda: N.BatchNorm1d(3)(np.ones((1, 3))),
        ValueError,
        "Expected more than 1 value per channel when training",
    ),
    "bn2d_single_value": (
        lambda: N.BatchNorm2d(3)(np.ones((1, 3, 1, 1))),
        ValueError,
        "Expected more than 1 value per channel",
    ),
    "bn_momentum": (
        lambda: N.BatchNorm1d(3, momentum=1.5),
        ValueError,
        r"momentum must be in \[0, 1\]",
    ),
    "bn_momentum_none": (lambda: N.BatchNorm1d(3, momentum=None), ValueError, "momentum=None"),
    "bn_eps": (lambda: N.BatchNorm1d(3, eps=0.0), ValueError, "eps must be > 0"),
    "instancenorm_1x1": (
        lambda: N.InstanceNorm2d(3)(np.ones((2, 3, 1, 1))),
        ValueError,
        "Expected more than 1 spatial element",
    ),
    "groupnorm_divisible": (
        lambda: N.GroupNorm(4, 6),
        ValueError,
        r"num_channels \(6\) must be divisible by num_groups \(4\)",
    ),
    "groupnorm_ndim": (
        lambda: N.GroupNorm(2, 4)(np.ones(4)),
        ValueError,
        "expected 2D or more input, got 1D",
    ),
    "layernorm_shape": (
        lambda: N.LayerNorm((2, 3))(X),
        ValueError,
        r"shape \(\*, 2, 3\), got \(4, 3\)",
    ),
    # losses and penalties
    "ce_logits_ndim": (
        lambda: losses.cross_entropy(np.ones(3), Y),
        ValueError,
        r"logits of shape \(N, C\)",
    ),
    "ce_float_target": (
        lambda: losses.cross_entropy(X, np.zeros(4)),
        TypeError,
        "integer class indices",
    ),
    "ce_target_shape": (
        lambda: losses.cross_entropy(X, np.zeros(5, dtype=int)),
        ValueError,
        r"target of shape \(4,\)",
    ),
    "ce_target_range": (
        lambda: losses.cross_entropy(X, np.array([0, 1, 2, 3])),
        ValueError,
        r"must be in \[0, 3\)",
    ),
    "mse_shapes": (lambda: losses.mse_loss(X, np.ones((4, 1))), ValueError, "must be equal"),
    "bce_target_range": (
        lambda: losses.binary_cross_entropy_with_logits(X, 2 * X),
        ValueError,
        r"in \[0, 1\]",
    ),
    "penalty_keys": (
        lambda: losses.l2_penalty({"w": X}, 0.1, keys=["weight"]),
        ValueError,
        r"unknown parameter names \['weight'\]; allowed: \['w'\]",
    ),
    "penalty_lam": (lambda: losses.l1_penalty({"weight": X}, -1.0), ValueError, "lam must be >= 0"),
    "elastic_ratio": (
        lambda: losses.elastic_net_penalty({"weight": X}, 0.1, l1_ratio=2),
        ValueError,
        r"l1_ratio must be in \[0, 1\]",
    ),
    # init
    "gain_unknown": (
        lambda: init.calculate_gain("swish"),
        ValueError,
        r"unsupported nonlinearity 'swish'; allowed: \['linear'",
    ),
    "gain_param": (
        lambda: init.calculate_gain("leaky_relu", "a"),
        ValueError,
        "not a valid number",
    ),
    "fans_1d": (lambda: init.fans((5,)), ValueError, "at least 2 dimensions"),
    "kaiming_mode": (
        lambda: init.kaiming_normal((3, 2), mode="avg", rng=rng),
        ValueError,
        r"mode must be one of \['fan_in', 'fan_out'\]",
    ),
    "kaiming_nonlinearity": (
        lambda: init.kaiming_uniform((3, 2), nonlinearity="gelu", rng=rng),
        ValueError,
        "unsupported nonlinearity 'gelu'",
    ),
    "orthogonal_1d": (lambda: init.orthogonal((3,), rng=rng), ValueError, "at least 2 dimensions"),
    "init_no_rng": (
        lambda: init.xavier_uniform((3, 2)),
        TypeError,
        "xavier_uniform needs an explicit rng",
    ),
    # gradcheck
    "numgrad_int": (
        lambda: numerical_gradient(lambda: 0.0, np.arange(3)),
        TypeError,
        "floating-point",
    ),
    "numgrad_h_zero": (
        lambda: numerical_gradient(lambda: 0.0, np.ones(3), h=0),
        ValueError,
        r"step h must be > 0 \(it divides the difference\), got 0",
    ),
    "rel_error_shapes": (lambda: rel_error(np.ones(2), np.ones(3)), ValueError, "shapes"),
    "gradcheck_rng": (lambda: check_layer_gradients(A.ReLU(), X, rng=0), TypeError, "explicit rng"),
    # mlp
    "mlp_sizes": (lambda: make_mlp([3], rng=rng), ValueError, ">= 2 positive integers"),
    "mlp_init": (
        lambda: make_mlp([3, 2], init="he", rng=rng),
        ValueError,
        r"unknown init 'he'; allowed: \['default'",
    ),
    "mlp_activation": (
        lambda: make_mlp([3, 4, 2], activation="swish", rng=rng),
        ValueError,
        "unknown activation",
    ),
    "mlp_dropout": (
        lambda: make_mlp([3, 4, 2], dropout=1.0, rng=rng),
        ValueError,
        r"p must be in \[0, 1\)",
    ),
    "train_lengths": (
        lambda: train_numpy(make_mlp([3, 2], rng=rng), None, X, Y[:3], 1, 2, rng=rng),
        ValueError,
        "same length, got 4 and 3",
    ),
    "train_val_pair": (
        lambda: train_numpy(make_mlp([3, 2], rng=rng), None, X, Y, 1, 2, rng=rng, x_val=X),
        ValueError,
        "both x_val and y_val",
    ),
    "train_batch_size": (
        lambda: train_numpy(make_mlp([3, 2], rng=rng), None, X, Y, 1, 0, rng=rng),
        ValueError,
        "batch_size >= 1",
    ),
    # issue 9: sizes that are not integers, strings as hyper-parameters, zero fans, wrong dout
    "linear_float_size": (
        lambda: L.Linear(3.5, 4, rng=rng),
        ValueError,
        r"Linear sizes must be >= 1 and integers, got in_features=3.5, out_features=4",
    ),
    "linear_str_size": (lambda: L.Linear("3", 4, rng=rng), ValueError, "in_features='3'"),
    "maxout_float_size": (
        lambda: A.Maxout(2.5, 3, rng=rng),
        ValueError,
        "Maxout sizes must be >= 1 and integers, got in_features=2.5",
    ),
    "prelu_float": (lambda: A.PReLU(2.5), ValueError, "num_parameters must be >= 1 .* got 2.5"),
    "prelu_init_str": (lambda: A.PReLU(init="a"), ValueError, "PReLU init must be a real number"),
    "leaky_str": (
        lambda: A.LeakyReLU("0.1"),
        ValueError,
        "negative_slope must be a real number, got '0.1'",
    ),
    "elu_str": (lambda: A.ELU("1"), ValueError, "alpha must be a real number, got '1'"),
    "softplus_beta_0": (
        lambda: A.Softplus(beta=0),
        ValueError,
        r"Softplus beta must be > 0 \(f divides by β\), got 0",
    ),
    "flatten_str_dim": (
        lambda: L.Flatten("1"),
        ValueError,
        r"Flatten start_dim must be an integer \(e.g. 1 or -1\), got '1'",
    ),
    "bn_float_features": (lambda: N.BatchNorm1d(3.5), ValueError, "num_features must be >= 1"),
    "bn_str_eps": (lambda: N.BatchNorm1d(3, eps="1e-5"), ValueError, "eps must be > 0, got '1e-5'"),
    "bn_str_momentum": (
        lambda: N.BatchNorm1d(3, momentum="0.1"),
        ValueError,
        r"momentum must be in \[0, 1\], got '0.1'",
    ),
    "groupnorm_float": (lambda: N.GroupNorm(2.0, 4), ValueError, r"num_groups \(2.0\)"),
    "layernorm_float": (
        lambda: N.LayerNorm(3.5),
        ValueError,
        r"normalized_shape must be an int or a tuple of ints >= 1 .*, got 3.5",
    ),
    "layernorm_str": (lambda: N.LayerNorm("3"), ValueError, "normalized_shape must be"),
    "kaiming_zero_fan_in": (
        lambda: init.kaiming_normal((3, 0), rng=rng),
        ValueError,
        r"kaiming_normal: fan_in is 0 for shape \(3, 0\), and the std divides by it; every "
        "dimension of the shape must be >= 1",
    ),
    "kaiming_zero_fan_out": (
        lambda: init.kaiming_uniform((0, 3), mode="fan_out", rng=rng),
        ValueError,
        "kaiming_uniform: fan_out is 0",
    ),
    "lecun_zero_fan_in": (
        lambda: init.lecun_normal((4, 0, 3, 3), rng=rng),
        ValueError,
        "lecun_normal: fan_in is 0",
    ),
    "xavier_zero_fans": (
        lambda: init.xavier_uniform((0, 0), rng=rng),
        ValueError,
        "xavier_uniform: fan_in \\+ fan_out is 0",
    ),
    "xavier_str_gain": (
        lambda: init.xavier_normal((3, 2), gain="2", rng=rng),
        ValueError,
        "gain must be a real number, got '2'",
    ),
    "normal_negative_std": (
        lambda: init.normal((3, 2), std=-1, rng=rng),
        ValueError,
        "std must be >= 0, got -1",
    ),
    "uniform_str": (lambda: init.uniform((3, 2), a="0", rng=rng), ValueError, "a must be a real"),
    "orthogonal_str_gain": (
        lambda: init.orthogonal((3, 2), gain="1", rng=rng),
        ValueError,
        "gain must be a real number",
    ),
    "constant_str": (lambda: init.constant((3, 2), "a"), ValueError, "val must be a real number"),
    "ce_empty": (
        lambda: losses.cross_entropy(np.zeros((0, 3)), np.zeros(0, dtype=int)),
        ValueError,
        r"cross_entropy needs a batch of at least 1 example \(the mean over 0 is NaN\), "
        r"got logits of shape \(0, 3\)",
    ),
    "mse_empty": (
        lambda: losses.mse_loss(np.zeros(0), np.zeros(0)),
        ValueError,
        r"mse_loss needs at least 1 element",
    ),
    "bce_empty": (
        lambda: losses.binary_cross_entropy_with_logits(np.zeros((0, 1)), np.zeros((0, 1))),
        ValueError,
        r"binary_cross_entropy_with_logits needs at least 1 element .* got shape \(0, 1\)",
    ),
    "penalty_str_lam": (
        lambda: losses.l2_penalty({"weight": X}, "0.1"),
        ValueError,
        "lam must be a real number >= 0, got '0.1'",
    ),
    "elastic_str_ratio": (
        lambda: losses.elastic_net_penalty({"weight": X}, 0.1, "0.5"),
        ValueError,
        r"l1_ratio must be a real number in \[0, 1\], got '0.5'",
    ),
}


def _forwarded(layer, x):
    layer(x)
    return layer


DOUT_CASES = {
    "linear": (_forwarded(L.Linear(3, 2, rng=rng), X), (4, 3), r"\(4, 2\)"),
    "linear_transposed": (_forwarded(L.Linear(3, 2, rng=rng), X), (2, 4), r"\(4, 2\)"),
    "dropout_eval": (_forwarded(L.Dropout(0.5, rng=rng).eval(), X), (4,), r"\(4, 3\)"),
    "dropout_train": (_forwarded(L.Dropout(0.5, rng=rng), X), (3, 4), r"\(4, 3\)"),
    "flatten": (_forwarded(L.Flatten(), np.ones((2, 3, 4))), (2, 3, 4), r"\(2, 12\)"),
    "relu": (_forwarded(A.ReLU(), X), (4, 1), r"\(4, 3\)"),
    "prelu": (_forwarded(A.PReLU(3), X), (3,), r"\(4, 3\)"),
    "maxout": (_forwarded(A.Maxout(3, 2, rng=rng), X), (4, 3), r"\(4, 2\)"),
    "batchnorm": (_forwarded(N.BatchNorm1d(3), X), (4, 1), r"\(4, 3\)"),
    "groupnorm": (_forwarded(N.GroupNorm(1, 3), X), (3, 4), r"\(4, 3\)"),
    "layernorm": (_forwarded(N.LayerNorm(3), X), (4,), r"\(4, 3\)"),
    "sequential": (
        _forwarded(Sequential(L.Linear(3, 2, rng=rng), A.ReLU()), X),
        (4, 3),
        r"\(4, 2\)",  # the last layer, ReLU, says so
    ),
}


@pytest.mark.parametrize("name", list(DOUT_CASES))
def test_backward_names_a_wrong_dout_shape(name):
    layer, shape, expected = DOUT_CASES[name]
    message = rf"\.backward expects dout of shape {expected} \(the shape of its forward output\)"
    with pytest.raises(ValueError, match=message):
        layer.backward(np.ones(shape))


def test_backward_refuses_an_integer_dout():
    layer = _forwarded(L.Linear(3, 2, rng=rng), X)
    with pytest.raises(TypeError, match="Linear.backward dout expects a floating-point array"):
        layer.backward(np.ones((4, 2), dtype=int))


def test_batchnorm_backward_graph_checks_dout_too():
    with pytest.raises(ValueError, match=r"BatchNorm1d.backward expects dout of shape \(4, 3\)"):
        _forwarded(N.BatchNorm1d(3), X).backward_graph(np.ones((3, 4)))


@pytest.mark.parametrize("name", list(CASES))
def test_error(name):
    call, exc, match = CASES[name]
    with pytest.raises(exc, match=match):
        call()


def test_numpy_float_probability_is_accepted():
    assert L.Dropout(np.float32(0.25), rng=rng).p == 0.25


def test_eval_mode_allows_batch_of_one():
    bn = N.BatchNorm1d(3).eval()
    assert bn(np.ones((1, 3))).shape == (1, 3)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (N.BatchNorm1d(3), (0, 3)),
        (N.BatchNorm1d(3), (0, 3, 5)),
        (N.BatchNorm2d(3), (0, 3, 2, 2)),
        (N.InstanceNorm2d(3, track_running_stats=True), (0, 3, 2, 2)),
    ],
)
def test_empty_batch_leaves_running_statistics_unchanged(layer, shape):
    """As torch.nn's BatchNorm: an empty output, no NaN in the buffers, no warning."""
    buffers = {k: v.copy() for k, v in layer.buffers.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layer.train()(np.zeros(shape))
        dx = layer.backward(np.zeros(shape))
        if hasattr(layer, "backward_graph"):
            layer.backward_graph(np.zeros(shape))
    assert out.shape == shape and dx.shape == shape
    for k, v in layer.buffers.items():
        np.testing.assert_array_equal(v, buffers[k])
    for g in layer.grads.values():
        np.testing.assert_array_equal(g, 0.0)
    x = rng.standard_normal((4, *shape[1:]))  # and the next real batch still updates them
    layer(x)
    assert np.isfinite(layer.buffers["running_mean"]).all()
    assert not np.array_equal(layer.buffers["running_mean"], buffers["running_mean"])
