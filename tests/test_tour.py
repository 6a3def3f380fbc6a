"""The Tour's lab function and exercise checker."""

import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from lib.exercises.tour import check_batched_probabilities
from lib.labs import tour
from lib.labs.tour import decision_boundary_demo, train_toy_mlp


def _logits(x, weights, biases, relu_last=False):
    h = x
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = h @ w.T + b
        if relu_last or layer < len(weights) - 1:
            h = np.maximum(h, 0)
    return h


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _softmax_batch_max(z):
    e = np.exp(z - z.max())
    return e / e.sum(axis=1, keepdims=True)


def test_checker_accepts_a_correct_solution(capsys):
    assert check_batched_probabilities(lambda x, w, b: _softmax(_logits(x, w, b))) is True
    assert "all checks passed" in capsys.readouterr().out


def test_checker_reports_a_stub_as_not_done(capsys):
    def stub(x, weights, biases):
        raise NotImplementedError

    assert check_batched_probabilities(stub) is False
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda x, w, b: _softmax(_logits(x, w, b, relu_last=True)), "ReLU after the last"),
        (lambda x, w, b: np.exp(_logits(x, w, b)) / np.exp(_logits(x, w, b)).sum(1, keepdims=True),
         "subtract each row's maximum"),
        (lambda x, w, b: _softmax(_logits(x, w, b).T).T, "shape|sum to 1|wrong"),
        (lambda x, w, b: _logits(x, w, b), "sum to 1"),
        (lambda x, w, b: _softmax_batch_max(_logits(x, w, b)), "each row's own maximum"),
    ],
)
def test_checker_rejects_wrong_solutions(wrong, message, capsys):
    assert check_batched_probabilities(wrong) is False
    out = capsys.readouterr().out
    assert out.startswith("✗ check_batched_probabilities:") and re.search(message, out)


def test_toy_training_is_deterministic_and_learns():
    tour._train_toy_mlp.cache_clear()
    model_a, x, y, history_a = train_toy_mlp("moons", hidden=16, lr=1.0, epochs=200, seed=3)
    tour._train_toy_mlp.cache_clear()
    model_b, _, _, history_b = train_toy_mlp("moons", hidden=16, lr=1.0, epochs=200, seed=3)
    assert history_a.step_loss == history_b.step_loss
    assert history_a.epoch["train_acc"][-1] > 0.95
    assert history_a.step_loss[-1] < history_a.step_loss[0] / 5


def test_cached_training_hands_out_copies():
    model, x, y, history = train_toy_mlp("xor", hidden=4, epochs=20, seed=1)
    expected = model.forward(x).copy(), x.copy(), y.copy(), list(history.step_loss)
    model.params["0.weight"][:] = 0.0
    x[:] = 0.0
    y[:] = 0
    history.step_loss.clear()
    model, x, y, history = train_toy_mlp("xor", hidden=4, epochs=20, seed=1)
    assert np.array_equal(x, expected[1]) and np.array_equal(y, expected[2])
    assert np.array_equal(model.forward(x), expected[0])
    assert history.step_loss == expected[3]


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="allowed: .*moons"):
        train_toy_mlp("banana")


def test_demo_returns_a_figure_with_two_panels():
    fig = decision_boundary_demo(dataset="xor", hidden=4, epochs=20)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
