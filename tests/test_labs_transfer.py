"""lib.labs.transfer (chapter 07) and lib.pretrained.freeze_."""

import matplotlib
import numpy as np
import pytest
import torch

from lib import pretrained
from lib.labs import transfer as lab


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def small():
    return lab.make_target("different", k_max=6, n_eval=100)


# the widget's control ends and corners: tests/test_widget_extremes.py (registered controls)


def test_target_pool_holds_k_of_each_class_and_cached_features(small):
    for k in (1, 3, 6):
        x, y, feats = small.pool(k)
        assert len(x) == 10 * k and np.bincount(y.numpy(), minlength=10).tolist() == [k] * 10
        assert [tuple(f.shape[1:]) for f in feats] == [(1, 28, 28), (16, 14, 14), (32, 7, 7),
                                                       (64, 3, 3), (128, 1, 1)]
    assert np.bincount(small.y_eval.numpy()).tolist() == [10] * 10


def test_stage_features_are_the_eval_mode_forward_and_leave_bn_alone():
    net = pretrained.load_source_cnn()
    x = pretrained.task("similar", k=2).x_train
    state = {k: v.clone() for k, v in net.state_dict().items()}
    feats = lab.stage_features(net.train(), x)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    with torch.no_grad():
        want = net.eval()[:16](x)
    torch.testing.assert_close(feats[4], want)
    bottom, top = lab.split_at(net, 2)
    with torch.no_grad():
        torch.testing.assert_close(top(bottom(x)), net(x))


def test_freeze_keeps_bn_in_eval_after_train():
    net = pretrained.load_source_cnn()
    pretrained.freeze_(net[:8])
    net.train()
    assert not any(m.training for m in net[:8]) and all(m.training for m in net[8:])
    assert not any(p.requires_grad for p in net[:8].parameters())
    before = net[1].running_mean.clone()
    net(torch.randn(8, 1, 28, 28) + 3)
    assert torch.equal(before, net[1].running_mean)
    assert not torch.equal(net[9].running_mean, pretrained.load_source_cnn()[9].running_mean)


def test_linear_probe_separates_separable_features():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    f = torch.randn(60, 5, generator=g) + 4 * torch.eye(5)[y]
    assert lab.linear_probe(f[:30], y[:30], f[30:], y[30:], 3) == 1.0


def test_strategies_run_and_report_an_accuracy(small):
    for s in lab.STRATEGIES:
        kw = {} if s == "linear probe" else dict(steps=2)
        a = lab.run_strategy(small, s, 3, seed=0, **kw)
        assert 0.0 <= a <= 1.0
    a = lab.train_full(small, 3, steps=2, copy_stages=2, frozen_stages=1)
    b = lab.train_full(small, 3, steps=2, frozen_stages=4, frozen_bn_eval=False)
    assert 0.0 <= a <= 1.0 and 0.0 <= b <= 1.0
    with pytest.raises(ValueError, match="unknown strategy"):
        lab.run_strategy(small, "freeze everything", 3)


def test_copy_stages_copies_exactly_the_first_n_stages(small, monkeypatch):
    seen = {}
    real_fit = lab._fit

    def spy(model, opt, x, y, seed, steps, batch_size):
        seen["state"] = {k: v.clone() for k, v in model.state_dict().items()}
        seen["lrs"] = sorted(g["lr"] for g in opt.param_groups)
        return real_fit(model, opt, x, y, seed, 1, batch_size)

    monkeypatch.setattr(lab, "_fit", spy)
    lab.train_full(small, 2, copy_stages=2, lr=0.05)
    source = pretrained.load_source_cnn().state_dict()
    assert torch.equal(seen["state"]["4.weight"], source["4.weight"])  # stage 2 copied
    assert not torch.equal(seen["state"]["8.weight"], source["8.weight"])  # stage 3 fresh
    assert seen["lrs"] == pytest.approx([0.005, 0.05])


def test_figures_draw(small):
    matplotlib.use("Agg")
    net = pretrained.load_source_cnn()
    assert len(lab.filters_figure(net).axes) == 16
    lab.probe_figure({"similar": [0.8] * 5, "different": [0.6, 0.8, 0.85, 0.86, 0.7]}, 10)
    a = np.full((3, 5), 0.8)
    lab.yosinski_figure(a, a, a[:, 0], "t")
    table = {(t, s): {st: [0.7, 0.8, 0.75] for st in lab.STRATEGIES}
             for t in ("similar", "different") for s in ("little", "much")}
    assert len(lab.table_figure(table, list(table)).axes) == 4


def test_grid_widget_draws_precomputed_numbers_and_says_when_there_are_none(monkeypatch):
    empty = lab.grid_figure()
    assert "execute the chapter" in empty.axes[0].texts[0].get_text()
    grid = {t: {s: {k: [0.5, 0.7] for k in lab.GRID_KS} for s in lab.STRATEGIES}
            for t in ("similar", "different")}
    monkeypatch.setattr(lab, "GRID", grid)
    fig = lab.grid_figure("different", "scratch", 30)
    assert "60 %" in fig.axes[0].texts[0].get_text()
    line = fig.axes[0].lines[lab.STRATEGIES.index("scratch")]
    assert line.get_linewidth() == 3 and list(line.get_xdata()) == list(lab.GRID_KS)


def test_grid_widget_k_step_changes_only_the_marker_and_text(monkeypatch):
    """A k step leaves the curves, the title and the axes alone, so the redraw blits."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    grid = {t: {s: {k: [acc, 0.7] for k in lab.GRID_KS} for s in lab.STRATEGIES}
            for t, acc in (("similar", 0.5), ("different", 0.6))}
    monkeypatch.setattr(lab, "GRID", grid)
    fig = lab.grid_figure("similar", "scratch", 10)
    FigureCanvasAgg(fig).draw()  # a draw leaves every artist drawn (not stale)
    lab.grid_figure.update(fig, "similar", "scratch", 30)
    ax = fig.axes[0]
    marker, text = ax.lines[-1], ax.texts[0]
    assert marker.stale and text.stale and "30 per class" in text.get_text()
    assert not any(line.stale for line in ax.lines[:-1]) and not ax.title.stale
    lab.grid_figure.update(fig, "different", "scratch", 30)  # another task: new curves, title
    assert ax.title.get_text().startswith("different") and ax.lines[0].stale
