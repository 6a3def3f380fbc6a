"""Pretrain the book's small CNN on the source task and write data/pretrained_fashion5.pt + .json.

Run from the repository root, on one CPU thread (about one minute of CPU time)::

    BOOK_DEVICE=cpu OMP_NUM_THREADS=1 python scripts/pretrain.py

What it does (everything seeded: the same machine gives the same bits; another CPU or BLAS may
differ in the last bits, so the file's sha256 is only guaranteed on the machine that made it):

1. Data: ``lib.pretrained.task("source")``: the 10,000 training images of five Fashion-MNIST
   classes (T-shirt/top, Trouser, Pullover, Sandal, Bag; 2,000 each), prepared by
   ``lib.data.fashion_mnist`` (standardised with the whole training split's pixel mean/std).
   The other five classes are the chapter's *similar* target task, MNIST digits the *different*
   one; none of their images is seen here.
2. Model: ``lib.models.cnn(**lib.pretrained.ARCHITECTURE, init=..., generator=SEED)``.
3. Training: ``lib.train.fit`` with RECIPE below (SGD with momentum and weight decay, cosine
   schedule per step from ``lib.experiments.make_schedule``), batches shuffled by
   ``lib.data.make_loader(seed=SEED)``.
4. Output: the ``state_dict`` (``torch.save``), and a JSON record of the recipe, training time,
   validation/test accuracy on the source task, the weights' size and sha256. The sha256 must then
   be copied into ``lib.pretrained.SHA256`` and data/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from torch.nn import functional as F

import lib
from lib import data, models, pretrained
from lib.experiments import make_schedule
from lib.train import LRScheduler, fit

SEED = 0
RECIPE = {
    "task": "source",
    "classes": [data.FASHION_CLASSES[c] for c in pretrained.SOURCE_CLASSES],
    "architecture": {k: list(v) if isinstance(v, tuple) else v
                     for k, v in pretrained.ARCHITECTURE.items()},
    "init": "kaiming_normal",
    "optimizer": "SGD",
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "schedule": "cosine",
    "epochs": 8,
    "batch_size": 128,
    "seed": SEED,
}


def pretrain(recipe=RECIPE):
    """Train the source CNN as ``recipe`` says; return (model, record dict without the file)."""
    torch.set_num_threads(lib.TORCH_THREADS)
    source = pretrained.task(recipe["task"])
    model = models.cnn(**pretrained.ARCHITECTURE, init=recipe["init"], generator=recipe["seed"])
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=recipe["momentum"],
                                weight_decay=recipe["weight_decay"])
    train = data.make_loader(source.x_train, source.y_train, batch_size=recipe["batch_size"],
                             seed=recipe["seed"])
    val = data.make_loader(source.x_val, source.y_val, batch_size=1000, shuffle=False)
    scheduler, interval = make_schedule(recipe["schedule"], optimizer, recipe["epochs"], len(train))
    start = time.process_time()
    history = fit(model, F.cross_entropy, optimizer, train, val, epochs=recipe["epochs"],
                  callbacks=[LRScheduler(scheduler, interval)], device="cpu", progress=False)
    seconds = time.process_time() - start
    model.eval()
    record = {
        "recipe": recipe,
        "cpu_seconds": round(seconds, 1),
        "machine": f"{platform.machine()}, {platform.processor() or 'unknown CPU'}, 1 thread, "
                   f"torch {torch.__version__}",
        "val_acc": round(history.epoch["val_acc"][-1], 4),
        "test_acc": round(accuracy(model, source.x_test, source.y_test), 4),
        "epochs": {k: [round(v, 4) for v in history.epoch[k]]
                   for k in ("train_loss", "train_acc", "val_loss", "val_acc")},
    }
    return model, record


@torch.no_grad()
def accuracy(model, x, y, batch_size=1000):
    """Fraction of correct argmax predictions of ``model`` (in eval mode) on x, y."""
    model.eval()
    correct = sum((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(y), batch_size))
    return correct / len(y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(data.DATA_DIR), help="folder for the two files")
    args = parser.parse_args(argv)
    print("recipe:", json.dumps(RECIPE))
    model, record = pretrain()
    weights = f"{args.out}/{pretrained.WEIGHTS}"
    torch.save(model.state_dict(), weights)
    record["bytes"] = len(open(weights, "rb").read())
    record["sha256"] = data.sha256_file(weights)
    with open(f"{args.out}/{pretrained.RECORD}", "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    for key in ("cpu_seconds", "machine", "val_acc", "test_acc", "bytes", "sha256"):
        print(f"{key}: {record[key]}")
    if record["sha256"] != pretrained.SHA256[pretrained.WEIGHTS]:
        print(f"new sha256: copy it into lib.pretrained.SHA256[{pretrained.WEIGHTS!r}] and "
              "data/README.md")


if __name__ == "__main__":
    main()
