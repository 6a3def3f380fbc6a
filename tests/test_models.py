"""lib.models: the book's builders — shapes, seeding without global state, inits, bad input."""

import math

import pytest
import torch
from torch import nn

from lib import models


def _weights(model):
    return [p.detach().clone() for p in model.parameters()]


def test_mlp_structure_and_forward():
    net = models.mlp([784, 32, 16, 10], activation="tanh", norm="batch", dropout=0.1)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "BatchNorm1d", "Tanh", "Dropout"] * 2 + ["Linear"]
    assert net[0].bias is None and net[-1].bias is not None  # no bias right before BatchNorm
    assert net(torch.randn(5, 784)).shape == (5, 10)


@pytest.mark.parametrize(
    "build",
    [
        lambda g: models.mlp([20, 8, 3], generator=g),
        lambda g: models.cnn(channels=(4, 8), norm="group", generator=g),
        lambda g: models.resnet(widths=(4, 8), blocks=1, generator=g),
    ],
    ids=["mlp", "cnn", "resnet"],
)
def test_same_seed_same_weights_and_global_rng_untouched(build):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a, b, c = build(7), build(torch.Generator().manual_seed(7)), build(8)
    assert torch.equal(torch.rand(3), expected_next)  # builders never read or move the global RNG
    for wa, wb in zip(_weights(a), _weights(b), strict=True):
        assert torch.equal(wa, wb)
    assert any(not torch.equal(wa, wc) for wa, wc in zip(_weights(a), _weights(c), strict=True))


def test_default_init_matches_pytorch_rule():
    net = models.mlp([400, 300, 10], generator=0)
    bound = 1 / math.sqrt(400)
    w, b = net[0].weight, net[0].bias
    assert w.abs().max() <= bound and w.abs().max() > 0.98 * bound
    assert b.abs().max() <= bound and abs(w.std().item() - bound / math.sqrt(3)) < 0.01 * bound


@pytest.mark.parametrize(
    "init, std",
    [
        ("kaiming_normal", lambda i, o: math.sqrt(2 / i)),
        ("kaiming_uniform", lambda i, o: math.sqrt(2 / i)),
        ("xavier_normal", lambda i, o: math.sqrt(2 / (i + o))),
        ("xavier_uniform", lambda i, o: math.sqrt(2 / (i + o))),
        ("orthogonal", lambda i, o: math.sqrt(1 / i)),  # 300×400 with orthonormal rows
    ],
)
def test_named_inits_have_their_variance_and_zero_bias(init, std):
    net = models.mlp([400, 300, 10], init=init, generator=0)
    w = net[0].weight
    assert abs(w.std().item() / std(400, 300) - 1) < 0.02
    assert torch.count_nonzero(net[0].bias) == 0


def test_cnn_shapes_and_options():
    net = models.cnn(channels=(8, 16), convs_per_stage=2, norm="batch", dropout=0.5)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(c.bias is None for c in convs)
    rgb = models.cnn(in_channels=3, num_classes=5, channels=(4,), norm="layer")
    assert rgb(torch.randn(1, 3, 32, 32)).shape == (1, 5)


def test_cnn_pool_size_keeps_the_map_and_default_is_unchanged():
    flat = models.cnn(channels=(4, 8), pool_size=7, generator=3)
    assert flat(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert flat[-1].in_features == 8 * 7 * 7
    gap, same = models.cnn(channels=(4, 8), generator=3), models.cnn(channels=(4, 8), pool_size=1,
                                                                      generator=3)
    assert gap[-1].in_features == 8
    for a, b in zip(gap.parameters(), same.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="pool_size"):
        models.cnn(pool_size=0)


def test_resnet_plain_twin_has_same_weight_layers_minus_projections():
    res = models.resnet(widths=(8, 16), blocks=2)
    plain = models.resnet(widths=(8, 16), blocks=2, residual=False)
    x = torch.randn(3, 1, 28, 28)
    assert res(x).shape == plain(x).shape == (3, 10)
    count = lambda m: sum(isinstance(k, nn.Conv2d) for k in m.modules())  # noqa: E731
    assert count(plain) == 1 + 2 * 2 * 2  # stem + 2 convs per block
    assert count(res) == count(plain) + 1  # one 1×1 projection where the width doubles
    res.eval()
    block = res[3]
    with torch.no_grad():  # a block whose body outputs 0 passes its input through (then ReLU)
        for p in block.body.parameters():
            p.zero_()
        h = torch.relu(torch.randn(2, 8, 14, 14))
        assert torch.allclose(block(h), h)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: models.mlp([784]), "at least"),
        (lambda: models.mlp([784, 0, 10]), "positive integers"),
        (lambda: models.mlp([4, 2], activation="swish"), "activation 'swish'.*allowed"),
        (lambda: models.mlp([4, 2], init="he"), "init 'he'.*allowed"),
        (lambda: models.mlp([4, 2], norm="instance"), "norm 'instance'"),
        (lambda: models.mlp([4, 2], dropout=1.0), "drop probability"),
        (lambda: models.cnn(channels=(6,), norm="group"), "divisible"),
        (lambda: models.resnet(blocks=0), "blocks"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_generator_must_be_a_generator_or_seed():
    with pytest.raises(TypeError, match="generator"):
        models.mlp([4, 2], generator=-1)
    with pytest.raises(TypeError, match="generator"):
        models.mlp([4, 2], generator=1.5)


def test_mlp_maxout_hidden_bias_and_gain():
    from lib.torch_impl.activations import Maxout

    net = models.mlp([20, 8, 8, 3], activation="maxout", init="kaiming_normal", hidden_bias=0.01)
    assert [type(m) for m in net] == [Maxout, Maxout, nn.Linear]
    assert net[0].weight.shape == (8 * models.MAXOUT_PIECES, 20)
    assert net(torch.randn(4, 20)).shape == (4, 3)
    for m in net[:2]:  # the Maxout weights are drawn by the init too
        assert torch.all(m.bias == 0.01)
        assert m.weight.std().item() == pytest.approx(math.sqrt(2 / m.in_features), rel=0.2)
    assert torch.all(net[2].bias == 0)  # hidden_bias leaves the output layer alone
    plain = models.mlp([20, 8, 3], generator=5)
    tripled = models.mlp([20, 8, 3], generator=5, gain=3.0)
    for a, b in zip(plain, tripled, strict=True):
        if isinstance(a, nn.Linear):
            torch.testing.assert_close(b.weight, 3 * a.weight)
            torch.testing.assert_close(b.bias, a.bias)  # gain scales weights only


@pytest.mark.parametrize("kwargs, match", [
    (dict(gain=0.0), "gain must be a real number > 0, got 0.0"),
    (dict(gain="3"), "gain must be a real number > 0"),
    (dict(hidden_bias="0.01"), "hidden_bias must be None or a real number"),
    (dict(hidden_bias=0.01, norm="batch"), "no bias before BatchNorm"),
    (dict(activation="maxout2"), "unknown activation 'maxout2'; allowed: .*'maxout'"),
])
def test_mlp_options_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.mlp([4, 3, 2], **kwargs)
