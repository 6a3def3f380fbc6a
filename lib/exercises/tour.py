"""Checker for the Tour's exercise: class probabilities of a whole batch in one pass."""

from __future__ import annotations

import numpy as np

from lib.exercises.harness import Wrong, checker
from lib.numpy_ref.activations import ReLU
from lib.numpy_ref.layers import Linear
from lib.numpy_ref.losses import softmax
from lib.numpy_ref.module import Sequential

CASES = (([5, 7, 3], 4), ([6, 9, 8, 2], 1), ([3, 4], 11))


def _reference_mlp(sizes, rng) -> Sequential:
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(Linear(n_in, n_out, rng=rng))
        if i < len(sizes) - 2:
            layers.append(ReLU())
    return Sequential(*layers)


@checker
def check_batched_probabilities(predict_proba, seed=0):
    """Check predict_proba(x, weights, biases) -> (B, C) class probabilities of a ReLU MLP:
    h ← ReLU(h Wᵀ + b) for every layer but the last, then p = softmax(h Wᵀ + b) per row,
    computed for the whole batch at once and without overflow for large scores.

    Prints ✓ or ✗ with a hint and returns True only when every check passes
    (`lib.exercises.harness`)."""
    rng = np.random.default_rng(seed)
    for sizes, batch in CASES:
        net = _reference_mlp(sizes, rng)
        linears = [layer for layer in net.layers if isinstance(layer, Linear)]
        weights = [layer.params["weight"].copy() for layer in linears]
        biases = [layer.params["bias"].copy() for layer in linears]
        x = rng.standard_normal((batch, sizes[0]))
        expected = softmax(net(x), axis=1)
        got = np.asarray(predict_proba(x, weights, biases))
        if got.shape != expected.shape:
            raise Wrong(f"for sizes {sizes} and a batch of {batch} the result should have "
                                 f"shape {expected.shape} = (batch, classes), got {got.shape}")
        if not np.allclose(got.sum(axis=1), 1.0):
            raise Wrong("each row must sum to 1: apply the softmax over the classes "
                                 "(axis=1), not over the batch")
        if not np.allclose(got, expected, rtol=1e-9, atol=1e-12):
            raise Wrong(f"wrong probabilities for sizes {sizes} (max abs error "
                                 f"{np.abs(got - expected).max():.3g}); is there a ReLU after the "
                                 "last Linear layer? (there should not be)")
    big = [np.eye(3) * 1000.0], [np.zeros(3)]
    with np.errstate(all="ignore"):
        got = np.asarray(predict_proba(np.eye(3), *big))
    if not np.all(np.isfinite(got)) or not np.allclose(got, np.eye(3)):
        raise Wrong("scores of 1000 give inf/nan: subtract each row's maximum before "
                             "exp (softmax(z) = softmax(z - max z))")
    # Row maxima 1000 and -500: one maximum for the whole batch (1000) sends every exp of the
    # second row to 0, and 0/0 = nan. Each row needs its own maximum.
    scores = np.array([[1000.0, 999.0, 0.0], [-500.0, -501.0, -500.0]])
    with np.errstate(all="ignore"):
        got = np.asarray(predict_proba(scores, [np.eye(3)], [np.zeros(3)]))
    if got.shape != scores.shape or not np.allclose(got, softmax(scores, axis=1)):
        raise Wrong("rows whose maxima differ by 1500 give wrong probabilities: subtract "
                             "each row's own maximum (z.max(axis=1, keepdims=True)), not one "
                             "maximum for the whole batch")
    return "all checks passed: one softmax per row, for the whole batch at once"
