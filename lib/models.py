"""The book's model builders (torch.nn built-ins), one name table each for activations, inits and
norms, so every chapter builds "the same net" the same way.

    mlp([784, 64, 64, 10], activation="relu", init="kaiming_normal", norm="batch", dropout=0.2)
    cnn(channels=(16, 32), norm="batch")           # VGG-style: [3×3 conv → norm → act] ×2, pool
    resnet(widths=(16, 32), blocks=2)               # basic blocks; residual=False: the plain twin

Randomness comes only from ``generator`` (a ``torch.Generator`` or an int seed): the built-ins'
own initialization draws are made inside ``torch.random.fork_rng`` and then overwritten, so a
builder never reads or changes the global torch RNG, and the same seed gives the same weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lib.numpy_ref.module import is_real
from lib.torch_impl import init as tinit
from lib.torch_impl.activations import Maxout

__all__ = ["ACTIVATIONS", "INITS", "NORMS", "MAXOUT_PIECES", "activation_layer", "mlp", "cnn",
           "resnet", "BasicBlock", "as_generator", "init_weights_"]

# name -> torch.nn class (PyTorch's defaults: LeakyReLU slope 0.01, PReLU a = 0.25, ELU α = 1)
ACTIVATIONS = {
    "identity": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "prelu": nn.PReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
}
# name -> what it does to every Linear/Conv weight (biases are set to 0 except for "default")
INITS = {
    "default": "PyTorch's default: W, b ~ U(±1/√fan_in)",
    "xavier_uniform": "Glorot: U(±√(6/(fan_in+fan_out)))",
    "xavier_normal": "Glorot: N(0, 2/(fan_in+fan_out))",
    "kaiming_uniform": "He: U(±√(6/fan_in))",
    "kaiming_normal": "He: N(0, 2/fan_in)",
    "orthogonal": "a random orthogonal matrix (Saxe et al. 2014)",
}
# name -> where the statistics come from (None: no normalization layer)
NORMS = {
    None: "no normalization",
    "batch": "BatchNorm: per feature/channel over the batch (and H, W)",
    "layer": "LayerNorm: per example over all features (GroupNorm with 1 group for images)",
    "group": "GroupNorm: per example over groups of channels",
}
GROUPS = 4  # channels per GroupNorm group = C / GROUPS (Wu & He 2018 use 32 groups for C ≥ 64)
MAXOUT_PIECES = 2  # affine pieces per unit of mlp(activation="maxout")


def _choice(kind, value, table):
    if value not in table:
        allowed = ", ".join(repr(k) for k in table)
        raise ValueError(f"unknown {kind} {value!r}; allowed: {allowed}")


def _positive_ints(name, values):
    values = tuple(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(f"{name} must be a non-empty sequence of positive integers, got {values}")
    return values


def _check_dropout(p):
    if not 0 <= p < 1:
        raise ValueError(f"dropout must be a drop probability in [0, 1), got {p!r}")


def as_generator(generator) -> torch.Generator:
    """A torch.Generator as given, or a new one seeded with the int ``generator``."""
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int) or generator < 0:
        raise TypeError(f"generator must be a torch.Generator or a seed >= 0, got {generator!r}")
    return torch.Generator().manual_seed(generator)


def activation_layer(name: str) -> nn.Module:
    """A fresh torch.nn activation module from its name in ACTIVATIONS."""
    _choice("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


def _norm_layer(norm, features, image):
    if norm is None:
        return None
    if norm == "batch":
        return nn.BatchNorm2d(features) if image else nn.BatchNorm1d(features)
    if norm == "layer":
        return nn.GroupNorm(1, features) if image else nn.LayerNorm(features)
    if features % GROUPS:
        raise ValueError(f"norm='group' needs widths divisible by {GROUPS}, got {features}")
    return nn.GroupNorm(GROUPS, features)


@torch.no_grad()
def init_weights_(model: nn.Module, init: str = "default", generator=0) -> nn.Module:
    """Re-draw every Linear/Conv2d/Maxout weight (and bias) of ``model`` in place from
    ``generator``.

    "default" reproduces PyTorch's own rule (kaiming_uniform_ with a = √5, i.e. U(±1/√fan_in),
    and the bias U(±1/√fan_in)); the others set biases to 0. Norm layers keep γ = 1, β = 0.
    """
    _choice("init", init, INITS)
    generator = as_generator(generator)
    for m in model.modules():
        if not isinstance(m, (nn.Linear, nn.Conv2d, Maxout)):
            continue
        w = m.weight
        if init == "default":
            tinit.kaiming_uniform_(w, a=math.sqrt(5), generator=generator)
        elif init == "xavier_uniform":
            tinit.xavier_uniform_(w, generator=generator)
        elif init == "xavier_normal":
            tinit.xavier_normal_(w, generator=generator)
        elif init == "kaiming_uniform":
            tinit.kaiming_uniform_(w, nonlinearity="relu", generator=generator)
        elif init == "kaiming_normal":
            tinit.kaiming_normal_(w, nonlinearity="relu", generator=generator)
        else:
            tinit.orthogonal_(w, generator=generator)
        if m.bias is not None:
            if init == "default":
                bound = 1 / math.sqrt(tinit.fans(w.shape)[0])
                tinit.uniform_(m.bias, -bound, bound, generator=generator)
            else:
                m.bias.zero_()
    return model


def _build(make, init, generator):
    """Construct with make() without touching the global RNG, then draw weights from generator."""
    with torch.random.fork_rng(devices=[]):
        model = make()
    return init_weights_(model, init, generator)


def mlp(sizes, activation="relu", init="default", norm=None, dropout=0.0, generator=0, *,
        hidden_bias=None, gain=1.0):
    """Linear(sizes[0]→sizes[1]) → [norm] → activation → [Dropout(p)] → … → Linear(→sizes[-1]).

    sizes: [in, hidden…, out] (at least 2 entries). The last Linear has no norm/activation/dropout.
    A bias right before a BatchNorm is redundant (BN subtracts the batch mean), so it is dropped.
    activation="maxout": each hidden Linear + activation is one `lib.torch_impl` Maxout layer,
    y_j = max_k (x·w_jkᵀ + b_jk) over MAXOUT_PIECES pieces (Goodfellow et al., 2013).
    hidden_bias: if given, every hidden layer's bias starts at this constant (e.g. 0.01).
    gain: every weight is multiplied by it after the init, W ← gain·W (gain=3: too large).
    """
    sizes = _positive_ints("sizes", sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least [in, out], got {list(sizes)}")
    _choice("activation", activation, {**ACTIVATIONS, "maxout": Maxout})
    _choice("norm", norm, NORMS)
    _check_dropout(dropout)
    if hidden_bias is not None and (not is_real(hidden_bias) or norm == "batch"):
        raise ValueError(f"hidden_bias must be None or a real number, and needs norm != 'batch' "
                         f"(no bias before BatchNorm); got {hidden_bias!r} with norm={norm!r}")
    if not is_real(gain) or not gain > 0:
        raise ValueError(f"gain must be a real number > 0, got {gain!r}")

    def make():
        layers = []
        for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1], strict=True):
            if activation == "maxout":
                layers.append(Maxout(fan_in, fan_out, pieces=MAXOUT_PIECES))
            else:
                layers.append(nn.Linear(fan_in, fan_out, bias=norm != "batch"))
            if norm is not None:
                layers.append(_norm_layer(norm, fan_out, image=False))
            if activation != "maxout":
                layers.append(activation_layer(activation))
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-2], sizes[-1]))
        return nn.Sequential(*layers)

    model = _build(make, init, generator)
    with torch.no_grad():
        weighted = [m for m in model if isinstance(m, (nn.Linear, Maxout))]
        for m in weighted:
            m.weight.mul_(gain)
        for m in weighted[:-1]:
            if hidden_bias is not None:
                m.bias.fill_(hidden_bias)
    return model


def _conv_unit(c_in, c_out, activation, norm, stride=1):
    """3×3 conv (padding 1) → [norm] → activation; no conv bias before BatchNorm."""
    layers = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=norm != "batch")]
    if norm is not None:
        layers.append(_norm_layer(norm, c_out, image=True))
    return layers + [activation_layer(activation)]


def cnn(in_channels=1, num_classes=10, channels=(16, 32), convs_per_stage=1, activation="relu",
        norm=None, dropout=0.0, init="default", generator=0, pool_size=1):
    """A small VGG-style net: per stage, ``convs_per_stage`` × [3×3 conv → norm → activation]
    then MaxPool2d(2); then average pooling to pool_size × pool_size (1: global average pooling),
    [Dropout(p)], Linear(C·pool_size² → num_classes).

    With channels=(16, 32) on 28×28 images the stages see 28×28 and 14×14 maps; pool_size=7 then
    keeps the whole 7×7 map (a flatten head: more weights, position-aware).
    """
    channels = _positive_ints("channels", channels)
    _positive_ints("convs_per_stage", [convs_per_stage])
    _positive_ints("in_channels and num_classes", [in_channels, num_classes])
    _choice("activation", activation, ACTIVATIONS)
    _choice("norm", norm, NORMS)
    _check_dropout(dropout)
    _positive_ints("pool_size", [pool_size])

    def make():
        layers, c_in = [], in_channels
        for c_out in channels:
            for _ in range(convs_per_stage):
                layers += _conv_unit(c_in, c_out, activation, norm)
                c_in = c_out
            layers.append(nn.MaxPool2d(2))
        layers += [nn.AdaptiveAvgPool2d(pool_size), nn.Flatten()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(c_in * pool_size**2, num_classes))
        return nn.Sequential(*layers)

    return _build(make, init, generator)


class BasicBlock(nn.Module):
    """He et al. (2016) basic block: y = act(F(x) + shortcut(x)), F = conv3×3 → norm → act →
    conv3×3 → norm. residual=False drops the shortcut (the "plain" net of the degradation
    experiment). When the shape changes (stride 2 or new width) the shortcut is a 1×1 conv →
    norm (their option B)."""

    def __init__(self, c_in, c_out, stride=1, activation="relu", norm="batch", residual=True):
        super().__init__()
        self.residual = residual
        self.body = nn.Sequential(
            *_conv_unit(c_in, c_out, activation, norm, stride=stride),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=norm != "batch"),
            *([_norm_layer(norm, c_out, image=True)] if norm is not None else []),
        )
        self.shortcut = nn.Identity()
        if residual and (stride != 1 or c_in != c_out):
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=norm != "batch"),
                *([_norm_layer(norm, c_out, image=True)] if norm is not None else []),
            )
        self.act = activation_layer(activation)

    def forward(self, x):
        out = self.body(x)
        return self.act(out + self.shortcut(x) if self.residual else out)


def resnet(in_channels=1, num_classes=10, widths=(16, 32, 64), blocks=2, residual=True,
           activation="relu", norm="batch", init="kaiming_normal", generator=0):
    """A small ResNet for 28×28 images: a 3×3 stem conv → norm → act, then one stage per width
    of ``blocks`` BasicBlocks (stages after the first start with stride 2), global average
    pooling, Linear(→num_classes). residual=False gives the plain net of the same depth:
    2·blocks·len(widths) + 2 weight layers (e.g. 14 for the defaults)."""
    widths = _positive_ints("widths", widths)
    _positive_ints("blocks", [blocks])
    _positive_ints("in_channels and num_classes", [in_channels, num_classes])
    _choice("activation", activation, ACTIVATIONS)
    _choice("norm", norm, NORMS)

    def make():
        layers = _conv_unit(in_channels, widths[0], activation, norm)
        c_in = widths[0]
        for stage, c_out in enumerate(widths):
            for b in range(blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(BasicBlock(c_in, c_out, stride, activation, norm, residual))
                c_in = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
        return nn.Sequential(*layers)

    return _build(make, init, generator)
