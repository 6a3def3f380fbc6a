"""Checkers for the exercises of chapter 08 (the training doctor), written with the one exercise
harness (`lib.exercises.harness`): each returns True only when every check passes."""

from __future__ import annotations

import math

from lib.exercises.harness import Wrong, checker, choices_answer
from lib.history import History

__all__ = ["MYSTERY_KINDS", "FINDING_NAMES", "check_mystery_runs", "check_receptive_field",
           "check_initial_loss_rule"]

# the three mystery runs of the exercise: label -> gallery kind (lib.sick_runs.GALLERY)
MYSTERY_KINDS = {"A": "labels_shuffled", "B": "vanishing", "C": "small_batch"}
# label -> (the finding that names it, why)
_MYSTERY_ANSWERS = {
    "A": ("labels_wrong", "the loss barely falls although the weights move at a healthy rate, "
          "and validation accuracy stays near chance: the labels do not match the images"),
    "B": ("vanishing_gradients", "the loss sits near ln 10 and the gradient reaching the first "
          "layer is orders of magnitude smaller than the last layer's: 10 sigmoid layers"),
    "C": ("small_batch_noise", "the smoothed loss falls steadily while single steps scatter "
          "widely around it: batches of 2"),
}
FINDING_NAMES = ("diverged", "initial_loss", "lr_too_low", "labels_wrong", "loss_not_falling",
                 "lr_too_high", "small_batch_noise", "batches_not_shuffled", "overfitting",
                 "overconfident", "underfitting", "dead_units", "saturated_units",
                 "vanishing_gradients", "exploding_gradients")


@checker
def check_mystery_runs(your_answers):
    """``your_answers() -> {"A": finding name, "B": ..., "C": ...}`` with names from
    FINDING_NAMES: what is wrong with each mystery run."""
    answers = choices_answer(your_answers(), _MYSTERY_ANSWERS, FINDING_NAMES, what="run")
    for label, (right, _) in _MYSTERY_ANSWERS.items():
        if answers[label] != right:
            raise Wrong(f"run {label}: not {answers[label]!r}; look at where the loss starts "
                        "(ln 10 ≈ 2.3?), whether it falls, how the single steps scatter around "
                        "the smoothed curve, and the validation accuracy")
    return "; ".join(f"{k}: {why}" for k, (_, why) in _MYSTERY_ANSWERS.items())


def _reference_rf(kernels, strides):
    r, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        r += (k - 1) * jump
        jump *= s
    return r


@checker
def check_receptive_field(your_rf):
    """``your_rf(kernels, strides) -> int``: the receptive field (in input pixels, along one
    side) of one output unit of a stack of convolutions / poolings with these kernel sizes and
    strides, applied in order."""
    cases = [([3], [1]), ([3, 3], [1, 1]), ([3, 3, 3], [1, 1, 1]), ([7], [1]),
             ([11, 3], [4, 2]), ([3, 2, 3], [1, 2, 1]), ([7, 3, 3, 3], [2, 2, 1, 1]),
             ([1, 3, 1], [1, 1, 1])]
    for kernels, strides in cases:
        want = _reference_rf(kernels, strides)
        got = your_rf(list(kernels), list(strides))
        if got != want:
            hint = ("each layer adds (k − 1) × the product of the strides BEFORE it"
                    if any(s > 1 for s in strides) else "each stride-1 k×k layer adds k − 1")
            raise Wrong(f"kernels {kernels}, strides {strides}: got {got}, expected {want}; "
                        f"{hint}")
    return ("three stacked 3×3 see 7×7 like one 7×7; strides multiply the growth: AlexNet's "
            "11×11/4 conv then a 3×3/2 pool see 19×19")


def _history(first_loss, steps=20):
    h = History()
    h.step_loss = [first_loss] + [first_loss * 0.9 ** k for k in range(1, steps)]
    return h


@checker
def check_initial_loss_rule(your_rule):
    """``your_rule(history, num_classes) -> bool``: True when the loss of the first step is
    more than 1.5 × ln(num_classes) (the untrained net is confidently wrong) or below
    0.5 × ln(num_classes) (it already beats chance: a leak), False otherwise; a NaN first
    loss is not this rule's business (False)."""
    cases = []
    for c in (10, 2, 100):
        ln_c = math.log(c)
        cases += [(ln_c, c, False), (1.02 * ln_c, c, False), (1.49 * ln_c, c, False),
                  (1.51 * ln_c, c, True), (10 * ln_c, c, True), (0.49 * ln_c, c, True),
                  (0.51 * ln_c, c, False)]
    cases.append((float("nan"), 10, False))
    for first, c, want in cases:
        got = your_rule(_history(first), c)
        if not isinstance(got, bool):
            raise Wrong(f"return True or False, got {got!r}")
        if got != want:
            raise Wrong(f"first loss {first:.3g} with {c} classes (ln C = {math.log(c):.3g}): "
                        f"returned {got}, expected {want}; compare history.step_loss[0] with "
                        "1.5·ln C and 0.5·ln C, and skip non-finite losses")
    return ("the first loss tells a uniform guess (ln C) from a confidently wrong start; "
            "lib.doctor.initial_loss is the same rule with the cause and fix attached")
