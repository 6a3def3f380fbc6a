"""lib.crossval: K-fold splits identical to sklearn's KFold (shuffle=False), same sizes shuffled."""

import numpy as np
import pytest
from sklearn.model_selection import KFold

from lib import crossval


@pytest.mark.parametrize("n,k", [(2, 2), (10, 3), (11, 5), (29, 4), (100, 10), (7, 7)])
def test_identical_to_sklearn_without_shuffle(n, k):
    ours = crossval.kfold_indices(n, k)
    theirs = list(KFold(n_splits=k).split(np.arange(n)))
    assert len(ours) == k
    for (tr, va), (rtr, rva) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(tr, rtr)
        np.testing.assert_array_equal(va, rva)


@pytest.mark.parametrize("n,k", [(10, 3), (101, 5)])
def test_shuffled_same_sizes_and_partition(n, k):
    ours = crossval.kfold_indices(n, k, shuffle=True, seed=3)
    theirs = list(KFold(n_splits=k, shuffle=True, random_state=3).split(np.arange(n)))
    assert [len(v) for _, v in ours] == [len(v) for _, v in theirs]
    np.testing.assert_array_equal(np.sort(np.concatenate([v for _, v in ours])), np.arange(n))
    for tr, va in ours:
        assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == n
    again = crossval.kfold_indices(n, k, shuffle=True, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(ours, again, strict=True))


def test_fold_sizes_rule():
    np.testing.assert_array_equal(crossval.fold_sizes(11, 3), [4, 4, 3])


def test_cross_val_scores_calls_once_per_fold():
    calls = []
    scores = crossval.cross_val_scores(lambda tr, va: calls.append(len(va)) or len(va), 10, 4)
    np.testing.assert_array_equal(scores, [3, 3, 2, 2])
    assert calls == [3, 3, 2, 2]


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 10, "n_splits": 1}, "n_splits"),
    ({"n": 3, "n_splits": 5}, "n must be"),
    ({"n": 10, "n_splits": 2.5}, "n_splits"),
    ({"n": 10, "n_splits": 2, "seed": 1}, "shuffle"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        crossval.kfold_indices(**kwargs)
    with pytest.raises(TypeError, match="shuffle"):
        crossval.kfold_indices(10, 2, shuffle="yes")
