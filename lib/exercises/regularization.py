"""Checkers for the exercises of chapter 04 (overfitting and regularization), written with the
one exercise harness (`lib.exercises.harness`): each returns True only when every check passes."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import KFold

from lib.exercises.harness import Wrong, checker

__all__ = ["check_inverted_dropout", "check_kfold", "check_soft_threshold"]


@checker
def check_inverted_dropout(your_dropout):
    """``your_dropout(x, p, rng, train) -> y``: p = DROP probability (PyTorch's convention);
    train: y = x·m/(1 − p), m ~ Bernoulli(1 − p); eval (train=False): y = x."""
    x = np.random.default_rng(0).normal(1.0, 1.0, 200_000)
    for p in (0.2, 0.5, 0.8):
        y = np.asarray(your_dropout(x.copy(), p, np.random.default_rng(1), True), dtype=float)
        if y.shape != x.shape:
            raise Wrong(f"output shape {y.shape}, expected {x.shape}")
        kept = np.mean(y != 0)
        if abs(kept - (1 - p)) > 0.01:
            hint = " — p is the DROP probability" if abs(kept - p) < 0.01 else ""
            raise Wrong(f"p={p}: {kept:.3f} of the units are kept, expected {1 - p:.3f}{hint}")
        ratio = y[y != 0] / x[y != 0]
        if not np.allclose(ratio, 1 / (1 - p)):
            raise Wrong(f"p={p}: kept units are multiplied by {np.median(ratio):.3f}, expected "
                        f"1/(1 − p) = {1 / (1 - p):.3f} (inverted dropout rescales in training)")
        if abs(y.mean() - x.mean()) > 0.02:
            raise Wrong(f"p={p}: mean output {y.mean():.3f} differs from the mean input "
                        f"{x.mean():.3f}")
        y_eval = np.asarray(your_dropout(x.copy(), p, np.random.default_rng(1), False))
        if not np.array_equal(y_eval, x):
            raise Wrong("with train=False the output must be x itself (no scaling at test time)")
    a = your_dropout(x[:1000].copy(), 0.5, np.random.default_rng(7), True)
    b = your_dropout(x[:1000].copy(), 0.5, np.random.default_rng(7), True)
    if not np.array_equal(a, b):
        raise Wrong("two calls with equal rng seeds gave different masks: draw from `rng`, "
                    "not from np.random")
    t = torch.nn.Dropout(0.5).eval()(torch.from_numpy(x[:10]))
    if not np.array_equal(np.asarray(your_dropout(x[:10].copy(), 0.5, None, False)), t.numpy()):
        raise Wrong("in eval mode torch.nn.Dropout returns x unchanged; yours does not")


@checker
def check_kfold(your_kfold):
    """``your_kfold(n, k) -> [(train_idx, val_idx), ...]``: consecutive folds, the first n mod k
    of size ⌊n/k⌋ + 1, as sklearn.model_selection.KFold(n_splits=k) (no shuffling)."""
    for n, k in ((10, 5), (11, 3), (7, 7), (23, 4), (100, 10)):
        ours = list(your_kfold(n, k))
        ref = list(KFold(n_splits=k).split(np.arange(n)))
        if len(ours) != k:
            raise Wrong(f"n={n}, k={k}: {len(ours)} splits, expected {k}")
        for i, ((tr, va), (rtr, rva)) in enumerate(zip(ours, ref, strict=True)):
            va, tr = np.asarray(va), np.asarray(tr)
            if len(va) != len(rva):
                raise Wrong(f"n={n}, k={k}: fold {i} has {len(va)} examples, expected {len(rva)} "
                            "(the first n % k folds get one extra)")
            if not np.array_equal(np.sort(va), rva):
                raise Wrong(f"n={n}, k={k}: fold {i} is {np.sort(va)[:5]}…, expected "
                            f"{rva[:5]}… (consecutive indices)")
            if not np.array_equal(np.sort(tr), rtr):
                raise Wrong(f"n={n}, k={k}: the training indices of split {i} must be all the "
                            "others, each once")


@checker
def check_soft_threshold(your_soft_threshold):
    """``your_soft_threshold(v, t) -> sign(v)·max(|v| − t, 0)`` elementwise."""
    v = np.array([-3.0, -1.0, -0.5, 0.0, 0.2, 0.5, 0.7, 2.5])
    for t in (0.0, 0.5, 1.0, 4.0):
        got = np.asarray(your_soft_threshold(v.copy(), t), dtype=float)
        want = np.sign(v) * np.maximum(np.abs(v) - t, 0.0)
        if got.shape != v.shape:
            raise Wrong(f"output shape {got.shape}, expected {v.shape}")
        if not np.allclose(got, want, atol=1e-12):
            i = int(np.argmax(np.abs(got - want)))
            hint = ""
            if np.allclose(got, np.where(np.abs(v) > t, v, 0.0)):
                hint = " — that is hard thresholding: also shrink the survivors by t"
            elif np.allclose(got, np.maximum(v - t, 0.0)):
                hint = " — negative entries must shrink towards 0 too (use sign and |v|)"
            raise Wrong(f"t={t}: S({v[i]}) = {got[i]}, expected {want[i]}{hint}")
        if t > 0 and np.count_nonzero(got[np.abs(v) <= t]) != 0:
            raise Wrong(f"t={t}: entries with |v| <= t must be exactly 0")
