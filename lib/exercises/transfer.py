"""Checkers for the exercises of chapter 07 (transfer learning), written with the one exercise
harness (`lib.exercises.harness`): each returns True only when every check passes."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lib import models, pretrained
from lib.exercises.harness import Wrong, checker

__all__ = ["check_freeze_but_last", "check_param_groups", "check_linear_probe"]


def _net(seed=0):
    return models.cnn(**pretrained.ARCHITECTURE, generator=seed)


@checker
def check_freeze_but_last(your_freeze):
    """``your_freeze(net) -> net`` with stages 1–3 (``net[:12]``) frozen: requires_grad False,
    BatchNorm in eval mode even after ``net.train()``, so that a training step changes neither
    their weights nor their running statistics; stage 4 and the head still train."""
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    got = your_freeze(net)
    if got is not None and got is not net:
        raise Wrong("modify the net in place and return it")
    net.train()
    frozen = {id(p) for p in net[:12].parameters()}
    for name, p in net.named_parameters():
        if id(p) in frozen and p.requires_grad:
            raise Wrong(f"parameter {name} of stages 1-3 still has requires_grad=True")
        if id(p) not in frozen and not p.requires_grad:
            raise Wrong(f"parameter {name} (stage 4 or the head) must stay trainable")
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 + 1
    loss = nn.functional.cross_entropy(net(x), torch.arange(16) % 5)
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = net.state_dict()
    for key in before:
        index = int(key.split(".")[0])
        changed = not torch.equal(before[key], after[key])
        if index < 12 and changed:
            what = "running statistics" if "running" in key or "batches" in key else "weights"
            hint = (" — requires_grad_(False) does not stop BatchNorm from updating its running "
                    "statistics in train mode: keep those layers in eval mode (lib.pretrained."
                    "freeze_)") if what == "running statistics" else ""
            raise Wrong(f"a training step changed {key} ({what} of a frozen stage){hint}")
    if torch.equal(before["12.weight"], after["12.weight"]):
        raise Wrong("stage 4 did not train")
    return "stages 1-3 unchanged by a training step (weights and BN statistics); stage 4 trains"


@checker
def check_param_groups(your_groups):
    """``your_groups(net, lr, ratio) -> [head group, backbone group]`` (dicts with "params" and
    "lr"): the head (net[-1]) at lr, every other trainable parameter at lr · ratio, none twice,
    frozen ones left out."""
    for frozen_upto, lr, ratio in ((0, 0.05, 0.1), (8, 0.01, 0.5)):
        net = _net()
        net[:frozen_upto].requires_grad_(False)
        groups = your_groups(net, lr, ratio)
        if not isinstance(groups, (list, tuple)) or len(groups) != 2:
            raise Wrong("return a list of two dicts: [head group, backbone group]")
        head, rest = ({id(p) for p in g["params"]} for g in groups)
        if {id(p) for p in net[-1].parameters()} != head:
            raise Wrong("the first group must hold exactly the head's weight and bias")
        want = {id(p) for p in net[:-1].parameters() if p.requires_grad}
        if rest != want:
            missing, extra = len(want - rest), len(rest - want)
            raise Wrong(f"backbone group: {missing} trainable tensors missing, {extra} extra "
                        f"(frozen parameters, requires_grad False, must be left out)")
        if not np.isclose(groups[0]["lr"], lr) or not np.isclose(groups[1]["lr"], lr * ratio):
            raise Wrong(f"learning rates {groups[0]['lr']}, {groups[1]['lr']}; expected {lr} "
                        f"and {lr * ratio}")
        torch.optim.SGD(groups, lr=lr)  # a parameter in two groups raises here
    return "head at lr, trainable backbone at lr · ratio, frozen parameters left out"


@checker
def check_linear_probe(your_probe, k=20, threshold=0.8):
    """``your_probe(f_train, y_train, f_test) -> predicted labels``; features: the pretrained
    net's stage-3 outputs (flattened) of k MNIST digits per class; accuracy must exceed
    ``threshold`` on 1000 test digits."""
    task = pretrained.task("different", k=k, seed=0)
    net = pretrained.load_source_cnn()
    with torch.no_grad():
        f_train = net[:12](task.x_train).flatten(1)
        f_test = net[:12](task.x_test[:1000]).flatten(1)
    y_test = task.y_test[:1000].numpy()
    pred = your_probe(f_train.clone(), task.y_train.clone(), f_test.clone())
    pred = np.asarray(pred.detach() if isinstance(pred, torch.Tensor) else pred).ravel()
    if pred.shape != y_test.shape:
        raise Wrong(f"return one label per test row: shape {pred.shape}, expected {y_test.shape}")
    accuracy = float(np.mean(pred == y_test))
    if accuracy <= threshold:
        raise Wrong(f"accuracy {accuracy:.3f} ≤ {threshold}; standardise the features with the "
                    "training mean/std and use some L2 regularisation")
    return f"test accuracy {accuracy:.3f} from a linear classifier on frozen stage-3 features"
