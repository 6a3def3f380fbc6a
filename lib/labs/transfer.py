"""Chapter 07 (transfer learning): its experiments and figures, nothing another chapter needs.

Everything starts from the book's pretrained CNN (`lib.pretrained.load_source_cnn`). Frozen
stages are run ONCE, in eval mode, over every image the chapter needs (`stage_features`); linear
probes and the training of the layers above a frozen cut then run on those cached features, which
is both the cheap way and the correct way (a frozen BatchNorm never sees train mode). Only the runs
that change the early stages (fine-tune everything, train from scratch) push images through the
whole net, with `lib.train.fit`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.nn import functional as F

from lib import data as bookdata
from lib import pretrained, widgets
from lib.experiments import make_schedule
from lib.train import LRScheduler, fit

__all__ = [
    "STAGES", "STRATEGIES", "Target", "make_target", "stage_features", "split_at", "accuracy",
    "linear_probe", "train_top", "train_full", "run_strategy", "filters_figure", "probe_figure",
    "yosinski_figure", "table_figure", "GRID", "GRID_KS", "grid_figure", "GRID_CONTROLS",
]

# lib.models.cnn's Sequential: stage s (1…4) ends with the MaxPool at index 4·s − 1; the head
# (AdaptiveAvgPool, Flatten, Linear) is indices 16–18.
STAGES = 4
STRATEGIES = ("linear probe", "fine-tune top block", "fine-tune all", "scratch")


def _cut(stage):
    """Index into the Sequential just after stage ``stage`` (0: the input)."""
    return 4 * stage


class Target:
    """One target task sized for the chapter: a training pool of ``k_max`` images per class, a
    fixed class-balanced evaluation subset of the test split, and the frozen pretrained features
    of both at every stage (computed once). ``pool(k, seed)`` draws k per class from the pool."""

    def __init__(self, name, k_max, n_eval, seed=0):
        full = pretrained.task(name, k=k_max, seed=seed)
        self.name, self.classes, self.k_max = name, full.classes, k_max
        self.num_classes = len(full.classes)
        self.x, self.y = full.x_train, full.y_train
        self._by_class = [np.flatnonzero(self.y.numpy() == c) for c in range(self.num_classes)]
        ev = pretrained._per_class(full.y_test.numpy(), range(self.num_classes),
                                   n_eval // self.num_classes, seed=12345)
        ev = torch.from_numpy(np.sort(ev))
        self.x_eval, self.y_eval = full.x_test[ev], full.y_test[ev]
        net = pretrained.load_source_cnn()
        self.feats = stage_features(net, self.x)
        self.feats_eval = stage_features(net, self.x_eval)

    def pool(self, k, seed=0):
        """k random examples of each class (drawn with ``seed``): (x, y, features by stage)."""
        if not 1 <= k <= self.k_max:
            raise ValueError(f"k must be in [1, {self.k_max}], got {k!r}")
        rng = np.random.default_rng(seed)
        index = np.sort(np.concatenate([rng.permutation(i)[:k] for i in self._by_class]))
        index = torch.from_numpy(index)
        return self.x[index], self.y[index], [f[index] for f in self.feats]


def make_target(name, k_max, n_eval, seed=0):
    """`Target` (the chapter's shorthand)."""
    return Target(name, k_max, n_eval, seed=seed)


@torch.no_grad()
def stage_features(net, x, batch_size=1000):
    """[input, stage-1 output, …, stage-4 output] of ``net`` in eval mode (the frozen features)."""
    net.eval().to(memory_format=torch.channels_last)  # about 1.5× faster convolutions on CPU
    outs = [[] for _ in range(STAGES + 1)]
    for i in range(0, len(x), batch_size):
        h = x[i:i + batch_size]
        outs[0].append(h)
        for s in range(1, STAGES + 1):
            h = net[_cut(s - 1):_cut(s)](h)
            outs[s].append(h)
    return [torch.cat(o) for o in outs]


def split_at(net, n):
    """(bottom, top): the first n stages of ``net`` and the rest (stages n+1…4 and the head)."""
    return net[:_cut(n)], net[_cut(n):]


@torch.no_grad()
def accuracy(model, x, y, batch_size=1000):
    """Accuracy in eval mode (the model's mode is restored)."""
    was = model.training
    model.eval()
    correct = sum((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(y), batch_size))
    model.train(was)
    return correct / len(y)


def _pooled(f, size):
    """Average-pool a feature map to at most size × size (probe inputs of moderate width)."""
    if f.ndim == 4 and f.shape[-1] > size:
        f = nn.AdaptiveAvgPool2d(size)(f)
    return f.flatten(1)


def linear_probe(f_train, y_train, f_eval, y_eval, num_classes, weight_decay=1e-3, steps=100,
                 pool=4):
    """Multinomial logistic regression on frozen features (pooled to ≤ pool × pool per channel,
    standardised with the training statistics), full-batch L-BFGS; returns eval accuracy."""
    a, b = _pooled(f_train, pool), _pooled(f_eval, pool)
    mean, std = a.mean(0), a.std(0) + 1e-3
    a, b = (a - mean) / std, (b - mean) / std
    g = torch.Generator().manual_seed(0)
    head = nn.Linear(a.shape[1], num_classes)
    with torch.no_grad():
        head.weight.normal_(0, 0.01, generator=g)
        head.bias.zero_()
    opt = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=steps, history_size=10,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(a), y_train) + weight_decay * head.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return (head(b).argmax(1) == y_eval).float().mean().item()


def _optimizer(model, lr, backbone_lr_ratio, head="18", weight_decay=5e-4):
    groups = pretrained.param_groups(model, head, lr=lr, backbone_lr_ratio=backbone_lr_ratio)
    groups = [g for g in groups if g["lr"] > 0]
    return torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=weight_decay)


def _epochs(n, batch_size, steps):
    return max(1, math.ceil(steps / math.ceil(n / batch_size)))


def _fit(model, opt, x, y, seed, steps, batch_size):
    """``steps`` (rounded up to whole epochs) of SGD with a cosine schedule, by lib.train.fit."""
    loader = bookdata.make_loader(x, y, batch_size=batch_size, seed=seed)
    epochs = _epochs(len(y), batch_size, steps)
    scheduler, interval = make_schedule("cosine", opt, epochs, len(loader))
    return fit(model, F.cross_entropy, opt, loader, epochs=epochs,
               callbacks=[LRScheduler(scheduler, interval=interval)], device="cpu",
               progress=False)


def _new_net(num_classes, seed, pretrained_weights=True):
    """The pretrained net (or a fresh one) with a new head, channels-last (faster on CPU)."""
    if pretrained_weights:
        net = pretrained.load_source_cnn()
    else:
        net = pretrained.source_cnn(generator=seed)
    net = pretrained.replace_head(net, num_classes, generator=seed)
    return net.to(memory_format=torch.channels_last)


def train_top(target, k, n, seed=0, lr=0.05, backbone_lr_ratio=0.1, steps=60, batch_size=32,
              reinit=False):
    """Stages 1…n copied from the pretrained net and frozen (their cached eval-mode features);
    stages n+1…4 trained on top, from the pretrained weights at lr · backbone_lr_ratio, or freshly
    initialised at lr when ``reinit`` (Yosinski et al.'s AnB); a new head at lr. Returns eval
    accuracy."""
    _, y, feats = target.pool(k, seed)
    torch.manual_seed(seed)
    net = _new_net(target.num_classes, seed)
    if reinit:
        fresh = _new_net(target.num_classes, seed, pretrained_weights=False)
        net[_cut(n):].load_state_dict(fresh[_cut(n):].state_dict())
    top = net[_cut(n):]
    top.train()
    groups = [{"params": list(top[-1].parameters()), "lr": lr}]
    rest = [p for m in list(top)[:-1] for p in m.parameters()]
    if rest:
        groups.append({"params": rest, "lr": lr if reinit else lr * backbone_lr_ratio})
    opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=5e-4)
    _fit(top, opt, feats[n], y, seed, steps, batch_size)
    return accuracy(top, target.feats_eval[n], target.y_eval)


def train_full(target, k, seed=0, pretrained_weights=True, lr=0.05, backbone_lr_ratio=0.1,
               steps=60, batch_size=32, frozen_stages=0, frozen_bn_eval=True, copy_stages=None,
               return_net=False):
    """Train the whole net (from the pretrained weights with a new head, or from scratch) on the
    k-per-class pool; returns eval accuracy. copy_stages=n: only stages 1…n pretrained (at
    lr · backbone_lr_ratio), the rest freshly initialised (at lr). frozen_stages: the first stages
    get requires_grad False, their BatchNorm kept in eval mode (`lib.pretrained.freeze_`) when
    frozen_bn_eval, else left to follow model.train() (the trap). return_net: (accuracy, net)."""
    x, y, _ = target.pool(k, seed)
    torch.manual_seed(seed)
    net = _new_net(target.num_classes, seed, pretrained_weights and copy_stages is None)
    if copy_stages is not None:
        source = pretrained.load_source_cnn()
        net[:_cut(copy_stages)].load_state_dict(source[:_cut(copy_stages)].state_dict())
    copied = _cut(STAGES if copy_stages is None else copy_stages) if pretrained_weights else 0
    if frozen_stages:
        if frozen_bn_eval:
            pretrained.freeze_(net[:_cut(frozen_stages)])
        else:
            net[:_cut(frozen_stages)].requires_grad_(False)
    slow = [p for p in net[:copied].parameters() if p.requires_grad]
    fast = [p for p in net[copied:].parameters() if p.requires_grad]
    groups = [{"params": fast, "lr": lr}]
    if slow and backbone_lr_ratio > 0:
        groups.append({"params": slow, "lr": lr * backbone_lr_ratio})
    opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=5e-4)
    _fit(net, opt, x, y, seed, steps, batch_size)
    result = accuracy(net, target.x_eval, target.y_eval)
    return (result, net) if return_net else result


def run_strategy(target, strategy, k, seed=0, **kw):
    """Accuracy of one of STRATEGIES on k examples per class of ``target``."""
    if strategy == "linear probe":
        _, y, feats = target.pool(k, seed)
        return linear_probe(feats[STAGES], y, target.feats_eval[STAGES], target.y_eval,
                            target.num_classes)
    if strategy == "fine-tune top block":
        return train_top(target, k, STAGES - 1, seed=seed, **kw)
    if strategy == "fine-tune all":
        return train_full(target, k, seed=seed, **kw)
    if strategy == "scratch":
        return train_full(target, k, seed=seed, pretrained_weights=False, **kw)
    raise ValueError(f"unknown strategy {strategy!r}; allowed: {', '.join(map(repr, STRATEGIES))}")


# ----------------------------------------------------------------------------- figures


def filters_figure(net):
    """The 16 first-layer 3×3 filters of ``net`` as images (each scaled to its own range)."""
    w = net[0].weight.detach()[:, 0].numpy()
    fig = Figure(figsize=(8, 1.3), layout="constrained")
    axes = fig.subplots(1, len(w))
    for i, (ax, f) in enumerate(zip(axes, w)):
        lim = np.abs(f).max()
        ax.imshow(f, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=8)
    fig.suptitle("first-layer filters (red +, blue −)", fontsize=10)
    return fig


def probe_figure(probes, k):
    """Linear-probe accuracy per stage: probes = {task: [acc at stage 0 (pixels), 1, …, 4]}."""
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.subplots()
    for name, accs in probes.items():
        ax.plot(range(len(accs)), 100 * np.asarray(accs), "o-", label=name)
    ax.set_xticks(range(STAGES + 1), ["pixels", "stage 1", "stage 2", "stage 3", "stage 4"])
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"linear probe on frozen features, {k} examples per class")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def yosinski_figure(frozen, tuned, scratch, title):
    """Accuracy vs the number n of copied stages: frozen and fine-tuned (mean ± std over seeds,
    arrays (seeds, n)), with the from-scratch level as a band."""
    fig = Figure(figsize=(6.2, 3.6), layout="constrained")
    ax = fig.subplots()
    n = np.arange(frozen.shape[1])
    sm, ss = 100 * np.mean(scratch), 100 * np.std(scratch)
    ax.axhspan(sm - ss, sm + ss, color="0.85")
    ax.axhline(sm, color="0.4", lw=1, label="scratch (n = 0)")
    for a, label, style in ((frozen, "copied and frozen", "o-"), (tuned, "copied, fine-tuned",
                                                                     "s--")):
        ax.errorbar(n, 100 * a.mean(0), 100 * a.std(0), fmt=style, capsize=3, label=label)
    ax.set_xticks(n)
    ax.set_xlabel("stages copied from the pretrained net (n)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    return fig


def table_figure(table, cells):
    """The 2×2 table as points with seed error bars: table[(task, size)][strategy] = accs."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    axes = fig.subplots(1, len(cells), sharey=False)
    for ax, cell in zip(axes, cells):
        for i, s in enumerate(STRATEGIES):
            a = 100 * np.asarray(table[cell][s])
            ax.errorbar([i], [a.mean()], [a.std()], fmt="o", capsize=4, color=f"C{i}")
            ax.plot(np.full(len(a), i + 0.15), a, ".", color=f"C{i}", alpha=0.5)
        ax.set_xticks(range(len(STRATEGIES)), [s.replace(" ", "\n", 1) for s in STRATEGIES],
                      fontsize=7)
        ax.set_title(f"{cell[0]}, {cell[1]}", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("test accuracy (%)")
    return fig


GRID = {}  # filled by the chapter: GRID[task][strategy] = {k: [accuracy per seed]}
GRID_KS = (3, 10, 30, 100)
GRID_CONTROLS = dict(task=["similar", "different"], strategy=list(STRATEGIES),
                     k=widgets.Values(GRID_KS, 10))


def _grid_curve(task, strategy):
    runs = GRID.get(task, {}).get(strategy, {})
    ks = sorted(runs)
    return (np.asarray(ks), np.array([100 * np.mean(runs[k]) for k in ks]),
            np.array([100 * np.std(runs[k]) for k in ks]))


def _grid_update(fig, task="similar", strategy="fine-tune all", k=10):
    lines, marker, text = fig._grid_artists
    for s, line in zip(STRATEGIES, lines, strict=True):  # only what changed: k steps blit
        ks, mean, _ = _grid_curve(task, s)
        if not (np.array_equal(line.get_xdata(), ks) and np.array_equal(line.get_ydata(), mean)):
            line.set_data(ks, mean)
        line.set_linewidth(3 if s == strategy else 1)  # (marks the line changed only if new)
        if line.get_alpha() != (alpha := 1 if s == strategy else 0.45):
            line.set_alpha(alpha)
    ks, mean, std = _grid_curve(task, strategy)
    if k in ks:
        i = list(ks).index(k)
        marker.set_data([k], [mean[i]])
        text.set_text(f"{task} target, {strategy}, {k} per class: {mean[i]:.0f} % "
                      f"(± {std[i]:.0f}, {len(GRID[task][strategy][k])} seeds)")
    else:
        marker.set_data([], [])
        text.set_text("no precomputed runs: execute the chapter's grid cell first"
                      if not GRID else f"{strategy}: not run at {k} per class")
    fig.axes[0].title.set_text(f"{task} target: accuracy vs labelled examples per class")


@widgets.register_widget(controls=GRID_CONTROLS, update=_grid_update)
def grid_figure(task: str = "similar", strategy: str = "fine-tune all", k: int = 10) -> Figure:
    """Test accuracy (mean over seeds, from the chapter's precomputed GRID) against the number of
    labelled examples per class, the four strategies for one target, the chosen one bold."""
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.subplots()
    lines = [ax.plot([], [], "o-", color=f"C{i}", label=s)[0] for i, s in enumerate(STRATEGIES)]
    (marker,) = ax.plot([], [], "o", ms=14, mfc="none", mec="k", mew=2)
    text = ax.text(0.02, 0.03, "", transform=ax.transAxes, fontsize=9)
    ax.set_xscale("log")
    ax.set_xticks(GRID_KS, [str(k) for k in GRID_KS])
    ax.set_xlim(GRID_KS[0] / 1.3, GRID_KS[-1] * 1.3)
    ax.set_ylim(40, 100)
    ax.set_xlabel("labelled training examples per class")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    ax.set_title(" ", fontsize=10)
    fig._grid_artists = (lines, marker, text)
    _grid_update(fig, task, strategy, k)
    return fig
