"""A gallery of deliberately broken training runs (and healthy ones), made by code from a seed.

    history = sick_run("lr_too_high", seed=0)      # a History, as fit returns it
    table = confusion_table(run_gallery(seeds=range(5)))  # kind x the doctor's top finding

Every run is a small MLP on the first 2,000 Fashion-MNIST training images (validation: 500),
trained with `lib.train.fit` for a few hundred steps on the CPU, recording `LayerStats` and
`lib.train.Vitals` every few steps. Weights, batch order and every tweak come from `seed`
through explicit generators, so a kind and a seed always give the same run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch.nn import functional as F

from lib import data, models
from lib.doctor import diagnose
from lib.experiments import make_schedule
from lib.train import History, LayerStats, LRScheduler, Vitals, fit

__all__ = ["SickRun", "GALLERY", "HEALTHY", "KINDS", "sick_run", "run_spec", "run_gallery",
           "confusion_table"]

N_TRAIN, N_VAL = 2000, 500
NUM_CLASSES = 10


@dataclass(frozen=True)
class SickRun:
    """One kind of run: what is wrong (`what`), the doctor's finding expected first (`expect`;
    None for a healthy run) and the recipe. sizes / activation / init: for `models.mlp`;
    weight_scale multiplies every weight matrix after the init and first_bias fills the first
    layer's bias; optimizer(params) -> torch.optim.Optimizer; subset: train on the first n
    images only; shuffle_labels: permute the training labels; sorted_batches: feed the batches
    class by class, in the same order every epoch; record_every: for LayerStats and Vitals;
    warmup: the "warmup_cosine" schedule of lib.experiments (a linear warm-up from lr/10 over
    the first 10 % of the steps, then cosine decay) with the optimizer's lr as the peak."""

    what: str
    expect: str | None
    sizes: tuple = (784, 32, 10)
    activation: str = "relu"
    init: str = "default"
    weight_scale: float = 1.0
    first_bias: float | None = None
    optimizer: Callable = partial(torch.optim.SGD, lr=0.05, momentum=0.9)
    batch_size: int = 50
    epochs: int = 5
    subset: int | None = None
    shuffle_labels: bool = False
    sorted_batches: bool = False
    record_every: int = 5
    warmup: bool = False


SGD, Adam = torch.optim.SGD, torch.optim.Adam
DEEP = (784,) + (32,) * 10 + (10,)  # 11 weight layers

HEALTHY = {
    "healthy_sgd": SickRun("SGD with momentum 0.9, lr 0.05, batch 50", None),
    "healthy_adam": SickRun("Adam, lr 1e-3, batch 50", None, optimizer=partial(Adam, lr=1e-3)),
}

GALLERY = {
    "lr_far_too_high": SickRun("SGD lr 10", "diverged", optimizer=partial(SGD, lr=10.0)),
    "lr_too_high": SickRun("a tanh net, SGD lr 1 with momentum 0.9", "lr_too_high",
                           activation="tanh", optimizer=partial(SGD, lr=1.0, momentum=0.9)),
    "lr_too_low": SickRun("SGD lr 1e-4 without momentum", "lr_too_low",
                          optimizer=partial(SGD, lr=1e-4)),
    "bad_init": SickRun("default init with every weight x10", "initial_loss",
                        weight_scale=10.0),
    "dead_relu": SickRun("first-layer bias -10: every ReLU outputs 0", "dead_units",
                         first_bias=-10.0),
    "overfit": SickRun("a 256-unit net on 100 images for 30 epochs", "overfitting",
                       sizes=(784, 256, 10), optimizer=partial(Adam, lr=1e-3), batch_size=20,
                       epochs=30, subset=100),
    "underfit": SickRun("a bottleneck of 1 hidden tanh unit", "underfitting",
                        sizes=(784, 1, 10), activation="tanh"),
    "unshuffled": SickRun("batches sorted by class", "batches_not_shuffled",
                          optimizer=partial(SGD, lr=0.01), sorted_batches=True),
    "labels_shuffled": SickRun("training labels randomly permuted", "labels_wrong",
                               shuffle_labels=True),
    "vanishing": SickRun("10 sigmoid layers, default init", "vanishing_gradients",
                         sizes=DEEP, activation="sigmoid", epochs=2),
    # the explosion shows at step 1 and a few updates shrink it: record every step
    "exploding": SickRun("12 ReLU layers, He init x1.8", "exploding_gradients",
                         sizes=(784,) + (32,) * 12 + (10,), init="kaiming_normal",
                         weight_scale=1.8, optimizer=partial(SGD, lr=1e-5, momentum=0.9),
                         epochs=1, record_every=1),
    "small_batch": SickRun("batch size 2", "small_batch_noise", batch_size=2, epochs=1,
                           subset=800, optimizer=partial(SGD, lr=0.03)),
    # a warm-up does not rescue a peak learning rate that is far too high: NaN as it ends
    "warmup_too_high": SickRun("a warm-up from lr 2 to a peak of SGD lr 20", "diverged",
                               optimizer=partial(SGD, lr=20.0), warmup=True),
}
KINDS = {**GALLERY, **HEALTHY}


class _Batches:
    """(x, y) tensor batches from NumPy arrays: in a new random order every epoch, drawn from
    `rng` (a shuffled DataLoader without its per-example collate cost), or in the given order
    when rng is None."""

    def __init__(self, x, y, batch_size, rng=None):
        self.x, self.y, self.batch_size, self.rng = x, y, batch_size, rng

    def __iter__(self):
        n = len(self.y)
        order = np.arange(n) if self.rng is None else self.rng.permutation(n)
        for start in range(0, n, self.batch_size):
            i = order[start:start + self.batch_size]
            yield torch.from_numpy(self.x[i]), torch.from_numpy(self.y[i])


def sick_run(kind: str, seed: int = 0) -> History:
    """Train the run `kind` (a key of KINDS) with `seed`; return its History. The weights come
    from torch.Generator().manual_seed(seed), the label permutation and the batch order from
    np.random.default_rng(seed)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
    return run_spec(KINDS[kind], seed)


def run_spec(spec: SickRun, seed: int = 0, callbacks=None) -> History:
    """Train the run described by `spec` (e.g. a variant made with dataclasses.replace) with
    `seed`, as sick_run does. callbacks: None = LayerStats and Vitals every spec.record_every
    steps."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    prepared = data.fashion_mnist(n_train=N_TRAIN, n_val=N_VAL)  # fresh arrays every call
    x, y = prepared.x_train[:spec.subset], prepared.y_train[:spec.subset]
    rng = np.random.default_rng(seed)
    if spec.shuffle_labels:
        y = y[rng.permutation(len(y))]
    if spec.sorted_batches:  # class by class, the same order every epoch
        order = np.argsort(y, kind="stable")
        train = _Batches(x[order], y[order], spec.batch_size)
    else:
        train = _Batches(x, y, spec.batch_size, rng)
    model = models.mlp(spec.sizes, activation=spec.activation, init=spec.init,
                       generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.mul_(spec.weight_scale)
        if spec.first_bias is not None:
            model[0].bias.fill_(spec.first_bias)
    val = _Batches(prepared.x_val, prepared.y_val, N_VAL)
    if callbacks is None:
        callbacks = [LayerStats(every=spec.record_every), Vitals(every=spec.record_every)]
    optimizer = spec.optimizer(model.parameters())
    if spec.warmup:
        steps_per_epoch = -(-len(y) // spec.batch_size)
        schedule, interval = make_schedule("warmup_cosine", optimizer, spec.epochs,
                                           steps_per_epoch)
        callbacks = [LRScheduler(schedule, interval=interval), *callbacks]
    return fit(model, F.cross_entropy, optimizer, train, val, epochs=spec.epochs,
               callbacks=callbacks, device="cpu", progress=False)


def run_gallery(seeds=range(5), kinds=None) -> dict:
    """{(kind, seed): History} for every kind (default: all of KINDS) and seed."""
    kinds = list(KINDS) if kinds is None else list(kinds)
    return {(kind, seed): sick_run(kind, seed) for kind in kinds for seed in seeds}


def confusion_table(histories: dict) -> dict:
    """{kind: Counter(top finding name)} from run_gallery's result; "none" = no finding."""
    table = {}
    for (kind, _seed), history in histories.items():
        findings = diagnose(history, num_classes=NUM_CLASSES)
        table.setdefault(kind, Counter())[findings[0].name if findings else "none"] += 1
    return table
