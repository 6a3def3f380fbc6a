"""lib.labs.doctor: the CNN arithmetic (exact), the curve statistics on synthetic runs, the
confusion matrix layout, the breakage grid's description, and the figures on small inputs."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from lib import doctor
from lib.labs import doctor as lab
from lib.train import History, LayerStats, Vitals, fit


def test_depth_products_are_the_notes_numbers():
    p = lab.depth_products((0.9, 1.1), depth=100)
    assert p[0.9][0] == 1.0 and p[0.9][100] == pytest.approx(2.6561e-5, rel=1e-4)
    assert p[1.1][100] == pytest.approx(13780.6, rel=1e-5)


def test_receptive_field_and_one_vs_stack():
    assert lab.stacked_receptive_field([3, 3, 3]) == 7 == lab.stacked_receptive_field([7])
    assert lab.stacked_receptive_field([11, 3], [4, 2]) == 19
    assert lab.stacked_receptive_field([3, 2, 3], [1, 2, 1]) == 8
    costs = lab.one_vs_stack(64)
    assert costs["one 7×7"] == (1, 49 * 64 * 64, 7, 1)
    assert costs["3 × 3×3"] == (3, 27 * 64 * 64, 7, 3)
    assert list(lab.one_vs_stack(8, big=5)) == ["one 5×5", "2 × 3×3"]


def test_block_costs_match_torch():
    costs = lab.block_costs(256, 64, size=56)
    assert costs["basic (2 × 3×3)"] == (1_179_648, 1_179_648 * 56 * 56)
    assert costs["bottleneck (1×1, 3×3, 1×1)"][0] == 69_632
    assert lab.conv_params(3, 96, 11, bias=True) == 34_944 == lab.count_params(
        nn.Conv2d(3, 96, 11))


def _history(losses, val=None):
    h = History()
    h.step_loss = list(losses)
    if val is not None:
        for i, v in enumerate(val, start=1):
            h.add_epoch(epoch=i, step=i * len(losses) // len(val), train_loss=v, train_acc=None,
                        val_loss=v, val_acc=None)
    return h


def test_residual_stats_tell_a_rising_trend_from_noise():
    rng = np.random.default_rng(0)
    steps = np.arange(200)
    rising = _history(2 + steps / 50 + 0.1 * rng.standard_normal(200))
    noisy = _history(np.exp(-steps / 100) * 2 * (1 + 0.6 * rng.standard_normal(200)).clip(0.2))
    rel_r, rises_r, drop_r = lab.residual_stats(rising)
    rel_n, rises_n, drop_n = lab.residual_stats(noisy)
    assert rises_r >= 10 and drop_r < 0 and rel_r < 0.1
    assert rises_n <= 1 and drop_n > 0.5 and rel_n > 0.4


def test_step_curve_drops_nan():
    loss, smooth = lab.step_curve(_history([2.0, 1.0, float("nan")]))
    assert loss.tolist() == [2.0, 1.0] and len(smooth) == 2


def test_confusion_matrix_columns_follow_the_expected_findings():
    from collections import Counter

    table = {"a": Counter({"x": 2}), "b": Counter({"y": 1, "z": 1}), "h": Counter({"none": 2})}
    rows, cols, counts = lab.confusion_matrix(table, {"a": "x", "b": "y", "h": None})
    assert rows == ["a", "b", "h"] and cols == ["x", "y", "none", "z"]
    assert counts.tolist() == [[2, 0, 0, 0], [0, 1, 0, 1], [0, 0, 2, 0]]
    fig = lab.confusion_figure(table, {"a": "x", "b": "y", "h": None})
    assert len(fig.axes) == 1


def test_breakages_name_real_findings_and_three_severities():
    names = {"diverged", "initial_loss", "lr_too_low", "lr_too_high", "dead_units",
             "overfitting", "small_batch_noise"}
    for _what, specs in lab.BREAKAGES.values():
        assert sorted(specs) == [1, 2, 3]
        assert all(spec.expect in names for spec in specs.values())
    assert lab.BREAKAGE_CONTROLS["severity"] == (0, 3, 1)
    assert set(doctor.RULES) >= {"diverged", "initial_loss", "lr_too_high"}


def test_findings_text():
    assert lab.findings_text([]).startswith("no findings")
    f = doctor.Finding("x", "a symptom " * 20, "c", "t", "03 optimizers", 0.5, "serious")
    text = lab.findings_text([f], width=40)
    assert text.splitlines()[0] == "[serious] x (50%) → chapter 03 optimizers"
    assert all(len(line) <= 40 for line in text.splitlines()[1:])


def _tiny_fit(callbacks, steps=4):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    return fit(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
               [(x, y)] * steps, callbacks=callbacks, device="cpu", progress=False)


def test_layer_stats_first_records_step_one():
    assert _tiny_fit([LayerStats(every=3)]).layer_stats["0"]["step"] == [3]
    assert _tiny_fit([LayerStats(every=3, first=True)]).layer_stats["0"]["step"] == [1, 3]
    with pytest.raises(TypeError, match="first must be True or False"):
        LayerStats(first=1)


def test_vitals_lives_in_train_and_doctor_reexports_it():
    assert doctor.Vitals is Vitals
    assert _tiny_fit([Vitals(every=2)]).layer_stats["0"]["vitals_step"] == [2, 4]


def test_layer_grad_norms_and_profile_figure():
    h = _tiny_fit([LayerStats(every=2, first=True)])
    names, steps, values = lab.layer_grad_norms(h)
    assert names == ["0", "2"] and steps == [1, 2, 4] and values.shape == (3, 2)
    fig = lab.grad_profile_figure({"tiny": h})
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 3


def test_hook_and_oscillation_figures_draw_every_run():
    h = _history([2.3 * 0.99 ** k for k in range(40)], val=[2.0, 1.5])
    bad = _history([2.3, 5.0])
    bad.diverged_at = 3
    fig = lab.hook_figure({"a": h, "b": bad}, labels=["run A", "run B"])
    assert [ax.get_title() for ax in fig.axes] == ["run A", "run B"]
    assert lab.oscillation_figure({"a": h}).axes[0].get_title() == "a"
    assert math.isfinite(lab.final_train_loss(h, last=5))


def test_degradation_runs_record_the_main_path_only():
    runs = lab.degradation_runs(0, blocks=(1,), epochs=1, every=16)
    assert sorted(runs) == [(6, "plain"), (6, "residual")]
    for h in runs.values():
        names, steps, _ = lab.layer_grad_norms(h)
        assert len(names) == 6 and not any("shortcut" in n for n in names)
        assert steps == [1, 16, 32] and len(h.step_loss) == 32  # 2000 images, batch 64
    assert set(lab.RECIPES) == {"He et al. 2016", "naive"}


def test_breakage_lab_trains_only_the_run_it_shows(monkeypatch):
    """A new seed trains one run (the one the figure shows), once; the grid trains the rest."""
    trained = []

    def fake_run(spec, seed):
        trained.append((spec.what, seed))
        return _history(np.geomspace(2.3, 0.5, 200), val=[2.0, 1.5, 1.0, 0.8, 0.6])

    monkeypatch.setattr(lab, "run_spec", fake_run)
    monkeypatch.setattr(lab, "diagnose", lambda h, num_classes: [])
    lab.breakage_run.cache_clear()
    try:
        fig = lab.breakage_figure("too little data", 3, seed=77)
        spec = lab.BREAKAGES["too little data"][1][3]
        assert trained == [(spec.what, 77)]
        lab.breakage_figure.update(fig, "too little data", 3, seed=77)
        lab.breakage_figure.update(fig, "too little data", 0, seed=77)
        assert trained == [(spec.what, 77), (lab.HEALTHY_SPEC.what, 77)]
        assert len(lab.breakage_grid(77)) == 1 + 3 * len(lab.BREAKAGES) == len(trained)
        assert fig.axes[1].texts[0].get_text().startswith("no findings")
    finally:
        lab.breakage_run.cache_clear()


def test_breakage_limits_are_one_range_per_breakage_widened_by_decades():
    inside = np.array([0.3, 2.3])
    for name, (lo, hi) in lab.BREAKAGE_YLIM.items():
        xlim, ylim = lab._breakage_limits(name, inside)
        steps = [len(range(0, spec.subset or 2000, spec.batch_size)) * spec.epochs
                 for spec in [lab.HEALTHY_SPEC, *lab.BREAKAGES[name][1].values()]]
        assert xlim == (0.0, 1.05 * max(steps)) and ylim == (lo, hi)
    xlim, ylim = lab._breakage_limits("learning rate too low", np.array([0.0, 2e-3, 2.3, 345.0]))
    assert ylim == (1e-3, 1e3) and xlim == (0.0, 210.0)
    assert lab._breakage_limits("batch too small", inside)[0] == (0.0, 420.0)
