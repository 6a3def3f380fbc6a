"""Pretrained models for transfer learning (chapter 07): the book's small CNN pretrained on five
Fashion-MNIST classes (shipped in ``data/``), its source and target tasks, and the torchvision
model-zoo path (ResNet-18 on ImageNet) loaded from the local torch hub cache, never downloaded here.

    model = load_source_cnn()                      # pretrained on task("source"), sha256-checked
    small = task("similar", k=10, seed=0)          # the other five Fashion-MNIST classes, 10 each
    digits = task("different", k=10, seed=0)      # MNIST digits, 10 per class
    net = zoo_resnet18(num_classes=5)              # ImageNet ResNet-18, new head (needs the cache)
    optimizer = torch.optim.SGD(param_groups(net, "fc", lr=0.01), momentum=0.9)
    freeze_(model[:12])                            # stages 1-3: no gradients, BN stays in eval

The weights file is made by ``scripts/pretrain.py`` (recipe and provenance: data/README.md).
"""

from __future__ import annotations

import json
import os
import types
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from torch import nn

from lib import data, models

__all__ = [
    "SOURCE_CLASSES",
    "SIMILAR_CLASSES",
    "TASKS",
    "ARCHITECTURE",
    "WEIGHTS",
    "RECORD",
    "SHA256",
    "task",
    "source_cnn",
    "load_source_cnn",
    "load_record",
    "replace_head",
    "freeze_",
    "param_groups",
    "zoo_resnet18",
    "zoo_transform",
]

# Fashion-MNIST class indices. Source and similar target each hold tops, footwear and one other
# kind, so every target class has a relative in the source (Coat/Shirt ~ T-shirt/top, Pullover;
# Sneaker/Ankle boot ~ Sandal; Dress ~ T-shirt/top), yet no class is shared.
SOURCE_CLASSES = (0, 1, 2, 5, 8)  # T-shirt/top, Trouser, Pullover, Sandal, Bag
SIMILAR_CLASSES = (3, 4, 6, 7, 9)  # Dress, Coat, Shirt, Sneaker, Ankle boot
# task name -> (the lib.data loader, its class indices)
TASKS = {
    "source": (data.fashion_mnist, SOURCE_CLASSES),
    "similar": (data.fashion_mnist, SIMILAR_CLASSES),
    "different": (data.mnist, tuple(range(10))),
}

# The pretrained net: lib.models.cnn with these arguments (4 stages of 3×3 conv → BN → ReLU →
# MaxPool: 28 → 14 → 7 → 3 → 1 pixels; then global average pooling and Linear(128 → 5)).
ARCHITECTURE = dict(in_channels=1, num_classes=len(SOURCE_CLASSES), channels=(16, 32, 64, 128),
                    convs_per_stage=1, norm="batch")
WEIGHTS = "pretrained_fashion5.pt"
RECORD = "pretrained_fashion5.json"
SHA256 = {WEIGHTS: "8394d0740bfbbdda9ea50fd153f434233d79586ef40402b2ff791b3630390606"}
REBUILD = "python scripts/pretrain.py"


def task(name, k=None, seed=0) -> data.Prepared:
    """One task of the chapter as a `lib.data.Prepared` of tensors, images (N, 1, 28, 28) prepared
    by `lib.data.fashion_mnist` / `lib.data.mnist`, labels renumbered 0…C−1 in TASKS order.

    name: "source" (pretraining), "similar" or "different" (targets). k: training examples per
    class (None: all), drawn with ``seed``; validation and test splits are always complete.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; allowed: {', '.join(map(repr, TASKS))}")
    loader, classes = TASKS[name]
    prepared = loader(flatten=False, tensors=True)
    relabel = np.zeros(10, dtype=np.int64)
    relabel[list(classes)] = np.arange(len(classes))  # e.g. similar: 3, 4, 6, 7, 9 -> 0, …, 4
    parts = {}
    for part in ("train", "val", "test"):
        y = getattr(prepared, f"y_{part}").numpy()
        if part == "train":
            index = _per_class(y, classes, k, seed)
        else:
            index = np.flatnonzero(np.isin(y, classes))
        parts[f"x_{part}"] = getattr(prepared, f"x_{part}")[torch.from_numpy(index)].unsqueeze(1)
        parts[f"y_{part}"] = torch.from_numpy(relabel[y[index]])
    names = tuple(prepared.classes[c] for c in classes)
    return data.Prepared(**parts, classes=names, mean=prepared.mean, std=prepared.std)


def _per_class(y, classes, k, seed):
    """Indices of k random examples of each class (all if k is None), in shuffled order."""
    smallest = min(int(np.sum(y == c)) for c in classes)
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer))
                          or not 1 <= k <= smallest):
        raise ValueError(f"k must be None (all) or an integer in [1, {smallest}], got {k!r}")
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(y == c))[:k] for c in classes]
    return rng.permutation(np.concatenate(chosen))


# ----------------------------------------------------------------------------- the shipped CNN


def source_cnn(generator=0) -> nn.Module:
    """The pretrained net's architecture, freshly initialised from ``generator``."""
    return models.cnn(**ARCHITECTURE, generator=generator)


def _data_file(name, root):
    path = Path(data.DATA_DIR if root is None else root) / name
    if not path.is_file():
        raise data.DataError(f"pretrained weights file {path} is missing; make it with "
                             f"`{REBUILD}`")
    return path


def load_source_cnn(root=None) -> nn.Module:
    """The CNN pretrained on task("source"), in eval mode, from ``data/`` (or the folder ``root``).

    The file's sha256 must match SHA256; a missing or changed file raises `lib.data.DataError`.
    """
    path = _data_file(WEIGHTS, root)
    actual = data.sha256_file(path)
    if actual != SHA256[WEIGHTS]:
        raise data.DataError(f"pretrained weights file {path} is corrupted: sha256 expected "
                             f"{SHA256[WEIGHTS]}, got {actual}; make it again with `{REBUILD}`")
    model = source_cnn()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def load_record(root=None) -> dict:
    """What scripts/pretrain.py recorded: recipe, training time, accuracies, sha256 (a dict)."""
    with open(_data_file(RECORD, root), encoding="utf-8") as f:
        return json.load(f)


def replace_head(model: nn.Module, num_classes: int, generator=0) -> nn.Module:
    """Swap the last Linear of a lib.models net for a fresh Linear(→num_classes) (in place)."""
    name, old = [(n, m) for n, m in model.named_children()][-1]
    if not isinstance(old, nn.Linear):
        raise TypeError(f"the last layer must be an nn.Linear, got {type(old).__name__}")
    head = models.mlp([old.in_features, num_classes], generator=generator)[0]
    setattr(model, name, head)
    return model


def _stay_in_eval(self, mode=True):
    self.training = False
    return self


def freeze_(module: nn.Module) -> nn.Module:
    """Feature extraction done right, in place: requires_grad False for every parameter AND eval
    mode for every submodule that a later ``model.train()`` cannot undo (a frozen BatchNorm keeps
    normalising with the source's running statistics and never updates them)."""
    module.requires_grad_(False)
    for m in module.modules():
        m.training = False
        m.train = types.MethodType(_stay_in_eval, m)
    return module


def param_groups(model: nn.Module, head: str, lr: float, backbone_lr_ratio=0.1) -> list:
    """Optimizer parameter groups: the layer named ``head`` at ``lr``, every other trainable
    parameter (the pretrained backbone) at ``lr * backbone_lr_ratio``. Frozen parameters
    (requires_grad False) are left out, so a frozen backbone gives one group."""
    names = dict(model.named_children())
    if head not in names:
        raise ValueError(f"unknown head {head!r}; the model's top-level layers are: "
                         f"{', '.join(map(repr, names))}")
    if not 0 <= backbone_lr_ratio <= 1:
        raise ValueError(f"backbone_lr_ratio must be in [0, 1], got {backbone_lr_ratio!r}")
    head_params = [p for p in names[head].parameters() if p.requires_grad]
    head_ids = {id(p) for p in names[head].parameters()}
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    groups = [{"params": head_params, "lr": lr}]
    if backbone:
        groups.append({"params": backbone, "lr": lr * backbone_lr_ratio})
    return groups


# ----------------------------------------------------------------------------- the model zoo


def _zoo_weights(weights):
    from torchvision.models import ResNet18_Weights

    try:
        return ResNet18_Weights[weights] if isinstance(weights, str) else ResNet18_Weights(weights)
    except (KeyError, ValueError) as err:
        allowed = ", ".join(["DEFAULT", *(w.name for w in ResNet18_Weights)])
        raise ValueError(f"unknown ResNet-18 weights {weights!r}; allowed: {allowed}") from err


def zoo_resnet18(num_classes: int, weights="DEFAULT", freeze=False, generator=0) -> nn.Module:
    """torchvision's ImageNet ResNet-18 with a fresh ``fc`` head for ``num_classes`` classes.

    The weights come from the torch hub cache (``torch.hub.get_dir()/checkpoints``); this function
    never downloads. freeze=True: every layer but ``fc`` gets requires_grad False (feature
    extraction; BatchNorm's running statistics still move in train mode, so keep the backbone in
    eval mode). Raises FileNotFoundError, saying how to download them once, when they are absent.
    """
    from torchvision.models import resnet18

    weights = _zoo_weights(weights)
    file_name = os.path.basename(urlparse(weights.url).path)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / file_name
    if not cached.is_file():
        raise FileNotFoundError(
            f"ResNet-18 weights {weights} are not in the torch hub cache ({cached}); download "
            f"them once, on a machine with network access, with `python -c \"import torchvision; "
            f"torchvision.models.resnet18(weights='DEFAULT')\"` (or copy {file_name} there)")
    with torch.random.fork_rng(devices=[]):  # its random init is overwritten: keep the global RNG
        model = resnet18(weights=weights)  # finds the cached file: torch.hub downloads nothing
    if freeze:
        model.requires_grad_(False)
    return replace_head(model, num_classes, generator=generator)  # model.fc = Linear(512 → C)


def zoo_transform(x: torch.Tensor, weights="DEFAULT") -> torch.Tensor:
    """Grayscale images (N, 1, H, W) or (N, H, W) with values in [0, 1] → the input the zoo model
    was trained on: 3 identical channels, then ``weights.transforms()`` (resize 256, centre crop
    224, ImageNet mean/std)."""
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"x must be grayscale images (N, 1, H, W) or (N, H, W), "
                         f"got shape {tuple(x.shape)}")
    return _zoo_weights(weights).transforms()(x.repeat(1, 3, 1, 1))
