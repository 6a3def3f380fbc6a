"""Folding a BatchNorm into the Linear / Conv2d right before it, for inference.

In eval mode BatchNorm is a fixed per-channel affine map, y = a·z + b with

    a = γ / √(running_var + ε),   b = β − a·running_mean,

so after z = W x + c it can be merged into the layer: W' = a·W (row / output channel c scaled by
a_c) and c' = a·c + b (c = 0 when the layer has no bias). The folded net computes the same
function with one layer less.

    folded = fold_batchnorm(model)        # a new nn.Sequential, eval mode; model is unchanged
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["fold_linear_bn", "fold_batchnorm", "count_batchnorms"]

_BNS = (nn.BatchNorm1d, nn.BatchNorm2d)


def fold_linear_bn(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """A new Linear / Conv2d equal to ``bn(layer(x))`` in eval mode: W' = a·W, c' = a·c + b with
    a = γ/√(running_var + ε), b = β − a·running_mean (per output feature / channel)."""
    if not isinstance(layer, (nn.Linear, nn.Conv2d)):
        raise TypeError(f"layer must be nn.Linear or nn.Conv2d, got {type(layer).__name__}")
    wanted = nn.BatchNorm1d if isinstance(layer, nn.Linear) else nn.BatchNorm2d
    if not isinstance(bn, wanted):
        raise TypeError(f"a {type(layer).__name__} folds with nn.{wanted.__name__}, "
                        f"got {type(bn).__name__}")
    out = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
    if bn.num_features != out:
        raise ValueError(f"bn.num_features ({bn.num_features}) must equal the layer's outputs "
                         f"({out})")
    if bn.running_mean is None:
        raise ValueError("bn has no running statistics (track_running_stats=False): "
                         "in eval mode it still normalizes by the batch, so it cannot be folded")
    with torch.no_grad():
        a = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            a = a * bn.weight
        b = -a * bn.running_mean
        if bn.bias is not None:
            b = b + bn.bias
        folded = copy.deepcopy(layer)
        if folded.bias is None:  # the folded layer needs a bias: c' = b
            folded.bias = nn.Parameter(torch.zeros_like(b))
            c = 0.0
        else:
            c = folded.bias
        shape = (-1,) + (1,) * (folded.weight.dim() - 1)
        folded.weight.mul_(a.reshape(shape))
        folded.bias.copy_(a * c + b)
    return folded.eval()


def fold_batchnorm(model: nn.Sequential) -> nn.Sequential:
    """A copy of ``model`` in eval mode in which every BatchNorm right after a Linear / Conv2d is
    folded into it (`fold_linear_bn`). Other layers are copied as they are; a BatchNorm with no
    such layer before it (e.g. after an activation) is kept."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    layers = []
    for module in model:
        prev = layers[-1] if layers else None
        pair_ok = (isinstance(prev, nn.Linear) and isinstance(module, nn.BatchNorm1d)) or (
            isinstance(prev, nn.Conv2d) and isinstance(module, nn.BatchNorm2d))
        if pair_ok and module.running_mean is not None:
            layers[-1] = fold_linear_bn(prev, module)
        else:
            layers.append(copy.deepcopy(module))
    return nn.Sequential(*layers).eval()


def count_batchnorms(model: nn.Module) -> int:
    """How many BatchNorm1d/2d layers ``model`` holds."""
    return sum(isinstance(m, _BNS) for m in model.modules())
