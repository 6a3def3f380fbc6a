"""lib.doctor: each rule on a synthetic History (cheap, exact), the ranking, the Vitals callback,
and bad input. The gallery of real broken runs is tested in test_sick_runs.py."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lib import doctor
from lib.doctor import Finding, Vitals, diagnose
from lib.train import History, LayerStats, fit

LN10 = math.log(10)


def falling(n=200, start=LN10, end=0.5, noise=0.05, seed=0):
    """A healthy loss curve: exponential decay from `start` towards `end`, with relative noise."""
    rng = np.random.default_rng(seed)
    curve = end + (start - end) * np.exp(-np.arange(n) / (n / 5))
    return list(curve * (1 + noise * rng.standard_normal(n)))


def history(step_loss, step_lr=None, epochs=None, layer_stats=None, diverged_at=None):
    """A History from a step-loss list and per-epoch lists {key: list} (steps split evenly)."""
    h = History(step_loss=list(step_loss), step_lr=list(step_lr or [0.1] * len(step_loss)),
                layer_stats=layer_stats or {}, diverged_at=diverged_at)
    if epochs:
        n = len(next(iter(epochs.values())))
        h.epoch["epoch"] = list(range(1, n + 1))
        h.epoch["step"] = [len(step_loss) * (e + 1) // n for e in range(n)]
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            h.epoch[key] = list(epochs.get(key, [None] * n))
    return h


def names(h, **kwargs):
    return [f.name for f in diagnose(h, num_classes=10, **kwargs)]


def only(h, rule):
    """The finding of one rule, or None."""
    found = diagnose(h, num_classes=10, rules=[rule])
    return found[0] if found else None


# ----------------------------------------------------------------------------- rules


def test_healthy_curve_gets_no_finding():
    h = history(falling(), epochs={"train_loss": [1.5, 0.9, 0.7, 0.6],
                                   "val_loss": [1.4, 0.95, 0.8, 0.75]})
    assert names(h, rules=[r for r in doctor.RULES if r != "still_improving"]) == []


def test_nan_loss_is_diverged_at_its_step():
    h = history(falling(40) + [float("nan")], diverged_at=41)
    f = only(h, "diverged")
    assert f.name == "diverged" and f.step == 41 and f.severity == "serious"
    assert "step 41" in f.symptom and f.confidence == 1.0


def test_loss_blowing_up_without_nan_is_diverged_at_the_first_step_past_the_factor():
    loss = falling(50) + [2.5 * 1.2 ** k for k in range(50)]
    step = next(i for i, v in enumerate(loss) if v > doctor.DIVERGE_FACTOR * loss[0]) + 1
    assert only(history(loss), "diverged").step == step


def test_divergence_right_after_warm_up_names_the_schedule():
    lr = [0.5 * (k + 1) / 50 for k in range(50)] + [0.5] * 10
    loss = falling(55) + [float("nan")]
    f = only(history(loss, step_lr=lr[:56], diverged_at=56), "diverged")
    assert "lr at step 56: 0.5" in f.symptom and "warm-up" in f.symptom
    assert "peak at step 50" in f.symptom


def test_divergence_during_the_warm_up_says_so():
    lr = [0.5 * (k + 1) / 50 for k in range(40)]  # still rising when the loss became NaN
    f = only(history(falling(39) + [float("nan")], step_lr=lr, diverged_at=40), "diverged")
    assert "while the warm-up was still raising it (from 0.01)" in f.symptom
    assert "right after" not in f.symptom


def test_divergence_long_after_warm_up_does_not_blame_it():
    lr = [0.5 * (k + 1) / 10 for k in range(10)] + [0.5] * 90
    f = only(history(falling(99) + [float("nan")], step_lr=lr, diverged_at=100), "diverged")
    assert "warm-up" not in f.symptom


@pytest.mark.parametrize("first, expected", [(LN10, None), (1.4 * LN10, None),
                                             (1.6 * LN10, "02"), (0.4 * LN10, "06")])
def test_initial_loss_against_ln_c(first, expected):
    loss = [first] + falling(99)
    f = only(history(loss), "initial_loss")
    assert (f.chapter[:2] if f else None) == expected


def test_initial_loss_needs_num_classes():
    h = history([10 * LN10] + falling(99))
    assert "initial_loss" not in [f.name for f in diagnose(h)]


def test_flat_loss_with_tiny_updates_is_lr_too_low():
    flat = falling(200, end=2.25, noise=0.01)
    stats = {"0": {"update_ratio": [5e-5] * 10}, "2": {"update_ratio": [2e-5] * 10}}
    assert only(history(flat, layer_stats=stats), "not_learning").name == "lr_too_low"


def test_flat_loss_with_healthy_updates_and_chance_accuracy_is_labels_wrong():
    flat = falling(200, end=2.25, noise=0.01)
    stats = {"0": {"update_ratio": [1e-2] * 10}}
    h = history(flat, layer_stats=stats, epochs={"val_acc": [0.11, 0.09, 0.10, 0.10]})
    assert only(h, "not_learning").name == "labels_wrong"
    h = history(flat, layer_stats=stats, epochs={"val_acc": [0.11, 0.2, 0.25, 0.30]})
    assert only(h, "not_learning").name == "loss_not_falling"


def test_flat_loss_with_frozen_weights_is_not_blamed_on_the_lr():
    flat = falling(200, end=2.25, noise=0.01)
    stats = {"0": {"update_ratio": [0.0] * 10}}
    assert only(history(flat, layer_stats=stats), "not_learning").name == "loss_not_falling"


def test_stall_threshold():
    """A drop just under STALL_DROP stalls; just over does not."""
    for drop, stalled in ((doctor.STALL_DROP - 0.02, True), (doctor.STALL_DROP + 0.02, False)):
        loss = list(np.linspace(LN10, (1 - drop) * LN10, 200))
        assert (only(history(loss), "not_learning") is not None) == stalled


def test_loss_jumping_back_above_its_start_is_lr_too_high():
    loss = falling(100) + [3.5] * 10 + falling(40, start=1.0) + [4.0] * 10 + falling(40, 1.0)
    f = only(history(loss), "lr_too_high")
    assert f.name == "lr_too_high" and f.step == 110


def test_a_loss_that_bounces_above_its_start_is_not_called_stalled():
    loss = falling(50) + [3.5] * 150
    assert names(history(loss), rules=["lr_too_high", "not_learning"]) == ["lr_too_high"]


def test_one_jump_is_not_lr_too_high():
    loss = falling(100) + [3.5] * 10 + falling(90, start=1.0)
    assert only(history(loss), "lr_too_high") is None


def test_small_batch_noise_vs_a_smooth_curve():
    rng = np.random.default_rng(0)
    noisy = [v * rng.exponential() for v in falling(300, noise=0)]  # relative std 1
    assert only(history(noisy), "noisy_loss").name == "small_batch_noise"
    assert only(history(falling(300, noise=0.2)), "noisy_loss") is None


def test_same_batch_order_every_epoch_is_not_shuffled():
    rng = np.random.default_rng(0)
    pattern = list(rng.uniform(0.1, 3.0, 40))
    repeated = history(pattern * 5, epochs={"train_loss": [1.5] * 5})
    assert only(repeated, "not_shuffled").name == "batches_not_shuffled"
    shuffled = history(list(rng.uniform(0.1, 3.0, 200)), epochs={"train_loss": [1.5] * 5})
    assert only(shuffled, "not_shuffled") is None


def test_rising_validation_loss_with_falling_train_loss_is_overfitting():
    epochs = {"train_loss": [1.0, 0.5, 0.2, 0.05], "val_loss": [0.9, 0.7, 0.8, 1.0],
              "train_acc": [0.6, 0.8, 0.95, 1.0], "val_acc": [0.65, 0.72, 0.72, 0.71]}
    f = only(history(falling(200), epochs=epochs), "overfitting")
    assert f.severity == "serious" and "0.7 (epoch 2) -> 1 (epoch 4)" in f.symptom
    assert f.step == 100


def test_mild_overfitting_is_a_warning():
    epochs = {"train_loss": [1.0, 0.7, 0.6, 0.5], "val_loss": [0.9, 0.7, 0.75, 0.8]}
    assert only(history(falling(200), epochs=epochs), "overfitting").severity == "warning"


def test_validation_rise_below_the_threshold_is_not_overfitting():
    epochs = {"train_loss": [1.0, 0.5, 0.2, 0.05], "val_loss": [0.9, 0.7, 0.72, 0.75]}
    assert 0.75 / 0.7 - 1 < doctor.VAL_RISE
    assert only(history(falling(200), epochs=epochs), "overfitting") is None


def test_noisy_train_loss_is_not_overfitting():
    """The validation loss rises but the train loss did not fall: a noisy run, not memorising."""
    epochs = {"train_loss": [1.1, 1.0, 1.05, 1.0], "val_loss": [1.0, 0.95, 1.2, 1.4]}
    assert only(history(falling(200), epochs=epochs), "overfitting") is None


def test_validation_loss_rising_while_accuracy_holds_is_overconfident():
    epochs = {"val_loss": [0.9, 0.7, 0.8, 0.9], "val_acc": [0.7, 0.8, 0.8, 0.81]}
    assert only(history(falling(200), epochs=epochs), "overconfident").severity == "warning"
    epochs["val_acc"] = [0.7, 0.8, 0.75, 0.7]
    assert only(history(falling(200), epochs=epochs), "overconfident") is None


def test_both_losses_high_is_underfitting():
    loss = falling(200, end=1.6, noise=0.02)
    f = only(history(loss, epochs={"val_loss": [2.0, 1.8, 1.7, 1.65]}), "underfitting")
    assert f.name == "underfitting" and "flat at the end" in f.symptom
    assert only(history(loss, epochs={"val_loss": [2.0, 1.5, 1.0, 0.9]}), "underfitting") is None


def test_a_loss_above_ln_c_is_not_underfitting():
    loss = falling(200, start=40.0, end=1.2 * LN10, noise=0.02)
    assert only(history(loss), "underfitting") is None


def test_underfitting_still_falling_says_train_longer():
    loss = list(np.linspace(LN10, 1.5, 200))
    f = only(history(loss), "underfitting")
    assert "still falling" in f.symptom and "train longer" in f.treatment


@pytest.mark.parametrize("frac, severity", [(0.95, "serious"), (0.6, "warning"), (0.3, None)])
def test_dead_units(frac, severity):
    stats = {"1": {"dead_frac": [0.0] * 5 + [frac] * 5}}
    f = only(history(falling(), layer_stats=stats), "dead_units")
    assert (f.severity if f else None) == severity


def test_saturated_units():
    stats = {"1": {"saturated_frac": [0.8] * 10}}
    assert only(history(falling(), layer_stats=stats), "saturated_units").severity == "warning"


def deep_stats(grad_first, act_last, depth=5):
    """LayerStats-like records of `depth` weight layers: the first layer's grad_std and the last
    layer's act_std given, every other value 1."""
    stats = {}
    for i in range(depth):
        stats[str(i)] = {"grad_std": [grad_first if i == 0 else 1.0] * 4,
                         "act_std": [act_last if i == depth - 1 else 1.0] * 4}
    return stats


@pytest.mark.parametrize("grad_first, act_last, expected", [
    (1e-3, 1.0, "vanishing_gradients"), (1.0, 1e-3, "vanishing_gradients"),
    (1e3, 1.0, "exploding_gradients"), (1.0, 1e3, "exploding_gradients"),
    (0.05, 20.0, None),
])
def test_vanishing_and_exploding_over_depth(grad_first, act_last, expected):
    h = history(falling(), layer_stats=deep_stats(grad_first, act_last))
    found = names(h, rules=["vanishing_gradients", "exploding_gradients"])
    assert found == ([expected] if expected else [])


def test_depth_rules_need_depth():
    h = history(falling(), layer_stats=deep_stats(1e-6, 1.0, depth=doctor.MIN_DEPTH - 1))
    assert only(h, "vanishing_gradients") is None


def test_zero_gradients_are_not_vanishing():
    """A layer with exactly zero gradient is dead (or detached), which dead_units reports."""
    h = history(falling(), layer_stats=deep_stats(0.0, 1.0))
    assert only(h, "vanishing_gradients") is None


@pytest.mark.parametrize("ratio, expected", [(1e-3, None), (1e-5, "updates_too_small"),
                                             (0.5, "updates_too_large")])
def test_update_ratio(ratio, expected):
    stats = {"0": {"update_ratio": [ratio] * 10}, "2": {"update_ratio": [1e-3] * 10}}
    f = only(history(falling(), layer_stats=stats), "update_ratio")
    assert (f.name if f else None) == expected


def test_still_improving_is_info():
    f = only(history(falling(), epochs={"val_loss": [1.0, 0.9, 0.8]}), "still_improving")
    assert f.severity == "info"


# ----------------------------------------------------------------------------- ranking, output


def test_findings_are_ranked_by_severity_then_confidence():
    stats = {"1": {"dead_frac": [0.6] * 10}}  # a warning
    loss = [10 * LN10] + falling(99)  # initial_loss: serious, 0.8
    h = history(loss + [float("nan")], layer_stats=stats, diverged_at=101)  # diverged: 1.0
    found = diagnose(h, num_classes=10)
    assert [f.name for f in found][:3] == ["diverged", "initial_loss", "dead_units"]
    keys = [(doctor.SEVERITIES.index(f.severity), -f.confidence) for f in found]
    assert keys == sorted(keys)


def test_every_finding_is_complete():
    stats = {"1": {"dead_frac": [0.95] * 10}}
    h = history([10 * LN10] + falling(99) + [float("nan")], layer_stats=stats, diverged_at=101)
    for f in diagnose(h, num_classes=10):
        assert isinstance(f, Finding) and f.name.isidentifier()
        assert f.severity in doctor.SEVERITIES and 0 <= f.confidence <= 1
        assert f.chapter in doctor.CHAPTERS.values() and f.symptom and f.cause and f.treatment
        assert f.name in str(f) and f.treatment in str(f)


def test_diagnose_reads_as_dict():
    h = history(falling(40) + [float("nan")], diverged_at=41)
    assert names(History(**h.as_dict())) == names(h)
    assert [f.name for f in diagnose(h.as_dict())] == [f.name for f in diagnose(h)]


# ----------------------------------------------------------------------------- bad input


def test_empty_history_is_refused():
    with pytest.raises(ValueError, match="no steps"):
        diagnose(History())


def test_wrong_type_is_refused():
    with pytest.raises(TypeError, match="lib.train.History.*got list"):
        diagnose([2.3, 2.2])


def test_unknown_rules_are_refused_with_the_allowed_names():
    h = history(falling())
    with pytest.raises(ValueError, match=r"unknown rules \['nope'\]; allowed: diverged, "):
        diagnose(h, rules=["nope"])
    with pytest.raises(ValueError, match="allowed: diverged"):
        diagnose(h, rules="diverged")  # a string, not a list of names


@pytest.mark.parametrize("bad", [1, 0, 2.5, True, "10"])
def test_bad_num_classes_is_refused(bad):
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        diagnose(history(falling()), num_classes=bad)


def test_unknown_history_keys_are_refused():
    with pytest.raises(ValueError, match=r"unknown History keys \['loss'\]; allowed: step_loss"):
        diagnose({"loss": [2.3]})


# ----------------------------------------------------------------------------- Vitals


def tiny_fit(model, callbacks, steps=4, lr=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(8 * steps, 4, generator=g), torch.randint(0, 3, (8 * steps,), generator=g)
    batches = [(x[i:i + 8], y[i:i + 8]) for i in range(0, len(y), 8)]
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    return fit(model, F.cross_entropy, optimizer, batches, epochs=1, callbacks=callbacks,
               device="cpu", progress=False)


def net(activation, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), activation, nn.Linear(8, 3))


def test_vitals_update_ratio_is_the_relative_weight_change():
    model = net(nn.ReLU())
    before = model[0].weight.detach().clone()
    h = tiny_fit(model, [Vitals()], steps=1)
    expected = ((model[0].weight.detach() - before).norm() / before.norm()).item()
    assert h.layer_stats["0"]["update_ratio"] == [pytest.approx(expected, rel=1e-6)]
    assert h.layer_stats["0"]["vitals_step"] == [1]


def test_vitals_dead_and_saturated_fractions():
    dead = net(nn.ReLU())
    with torch.no_grad():
        dead[0].bias.fill_(-100.0)
    assert tiny_fit(dead, [Vitals()]).layer_stats["1"]["dead_frac"] == [1.0] * 4
    saturated = net(nn.Tanh())
    with torch.no_grad():
        saturated[0].weight.mul_(1000.0)
    assert min(tiny_fit(saturated, [Vitals()], lr=0.0).layer_stats["1"]["saturated_frac"]) > 0.9
    calm = net(nn.Sigmoid())
    with torch.no_grad():
        calm[0].weight.mul_(1e-3)
    assert max(tiny_fit(calm, [Vitals()]).layer_stats["1"]["saturated_frac"]) == 0.0


def test_vitals_every_and_alongside_layer_stats():
    h = tiny_fit(net(nn.ReLU()), [Vitals(every=2), LayerStats(every=2)])
    stats = h.layer_stats["0"]
    assert stats["vitals_step"] == stats["step"] == [2, 4]
    assert len(stats["update_ratio"]) == len(stats["grad_std"]) == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_vitals_every_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="every must be a positive int"):
        Vitals(every=bad)
