"""K-fold cross-validation from scratch (the split rule of ``sklearn.model_selection.KFold``).

    for train_idx, val_idx in kfold_indices(n=100, n_splits=5):
        ...                                    # fit on train_idx, score on val_idx
    scores = cross_val_scores(score_fn, n=100, n_splits=5)   # score_fn(train_idx, val_idx) -> float

The n examples are cut into K consecutive folds; the first n mod K folds hold ⌊n/K⌋ + 1 examples,
the others ⌊n/K⌋ (scikit-learn's rule). Fold k is the validation set of split k, the other K − 1
folds its training set, so every example is validated on exactly once. ``shuffle=True`` permutes
the indices first with ``np.random.default_rng(seed)`` (scikit-learn shuffles with the legacy
RandomState, so shuffled folds have the same sizes but not the same members).
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["fold_sizes", "kfold_indices", "cross_val_scores"]


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def fold_sizes(n: int, n_splits: int = 5) -> np.ndarray:
    """Sizes of the K folds: ⌊n/K⌋ + 1 for the first n mod K folds, ⌊n/K⌋ for the rest."""
    _check_int("n_splits", n_splits, 2)
    _check_int("n", n, n_splits)
    sizes = np.full(n_splits, n // n_splits, dtype=np.int64)
    sizes[: n % n_splits] += 1
    return sizes


def kfold_indices(n: int, n_splits: int = 5, shuffle: bool = False, seed=None) -> list:
    """[(train_idx, val_idx)] for the K splits; val_idx of split k is fold k (sorted indices
    when shuffle=False), train_idx the other folds in increasing order."""
    sizes = fold_sizes(n, n_splits)
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    if not shuffle and seed is not None:
        raise ValueError("seed has no effect unless shuffle=True (as in sklearn's KFold)")
    indices = np.arange(n)
    if shuffle:
        indices = np.random.default_rng(seed).permutation(n)
    splits, start = [], 0
    for size in sizes:
        stop = start + size
        val_idx = indices[start:stop]
        train_idx = np.concatenate([indices[:start], indices[stop:]])
        splits.append((train_idx, val_idx))
        start = stop
    return splits


def cross_val_scores(score_fn, n: int, n_splits: int = 5, shuffle: bool = False,
                     seed=None) -> np.ndarray:
    """[score_fn(train_idx, val_idx) for each split]: K scores (fits), one per fold. Report their
    mean as the estimate and their spread as a reminder that it is itself noisy."""
    if not callable(score_fn):
        raise TypeError("score_fn must be callable: score_fn(train_idx, val_idx) -> float")
    return np.array([float(score_fn(tr, va))
                     for tr, va in kfold_indices(n, n_splits, shuffle, seed)])
