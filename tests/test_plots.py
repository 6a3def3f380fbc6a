import matplotlib as mpl
import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lib import plots
from lib.train import History


def small_history(n_epochs=3, steps_per_epoch=4, with_val=True, with_acc=True):
    h = History()
    rng = np.random.default_rng(0)
    h.step_loss = list(np.linspace(2.0, 0.5, n_epochs * steps_per_epoch) + rng.normal(0, 0.1, 12))
    h.step_lr = [0.1] * len(h.step_loss)
    for e in range(1, n_epochs + 1):
        h.epoch["epoch"].append(e)
        h.epoch["step"].append(e * steps_per_epoch)
        h.epoch["train_loss"].append(2.0 / e)
        h.epoch["train_acc"].append(0.5 + 0.1 * e if with_acc else None)
        h.epoch["val_loss"].append(2.2 / e if with_val else None)
        h.epoch["val_acc"].append(0.45 + 0.1 * e if with_val and with_acc else None)
    return h


def test_use_style_sets_rcparams():
    with mpl.rc_context():
        plots.use_style()
        assert mpl.rcParams["figure.dpi"] == 100
        assert mpl.rcParams["axes.grid"] is True
        assert mpl.rcParams["figure.constrained_layout.use"] is True
        assert [c["color"] for c in mpl.rcParams["axes.prop_cycle"]] == plots.COLORS


def test_smooth_is_bias_corrected_ema():
    x = np.array([4.0, 2.0, 6.0, 1.0])
    beta = 0.5
    m, expected = 0.0, []
    for t, v in enumerate(x, start=1):  # the definition, step by step
        m = beta * m + (1 - beta) * v
        expected.append(m / (1 - beta**t))
    np.testing.assert_allclose(plots.smooth(x, beta), expected)
    assert plots.smooth(x, 0.9)[0] == 4.0  # no pull towards 0 at the start
    np.testing.assert_allclose(plots.smooth([3.0] * 50, 0.99), 3.0)  # a constant stays constant
    np.testing.assert_array_equal(plots.smooth(x, 0.0), x)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        plots.smooth(x, 1.0)


def test_new_figure_is_pyplot_free():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig, axes = plots.new_figure(ncols=3, nrows=2)
    assert isinstance(fig, Figure) and axes.shape == (2, 3) and len(fig.axes) == 6
    assert plt.get_fignums() == before  # not registered with pyplot: no auto-display
    fig, ax = plots.new_figure()
    assert len(fig.axes) == 1 and ax is fig.axes[0]


def test_plot_history_axes_and_lines():
    fig = plots.plot_history(small_history(), keys=("loss", "acc", "lr"))
    loss_ax, acc_ax, lr_ax = fig.axes
    assert len(loss_ax.lines) == 3  # smoothed, raw, val
    assert len(acc_ax.lines) == 2  # train, val
    assert len(lr_ax.lines) == 1
    raw = loss_ax.lines[1].get_ydata()
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), plots.smooth(raw, 0.9))
    np.testing.assert_array_equal(loss_ax.lines[2].get_xdata(), [4, 8, 12])  # epoch ends
    fig = plots.plot_history(small_history(with_val=False, with_acc=False), keys="loss")
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2  # no val line


def test_plot_history_overlays_runs_on_given_axes():
    fig, axes = plots.new_figure(ncols=2)
    plots.plot_history(small_history(), ax=axes, label="SGD")
    out = plots.plot_history(small_history(), ax=axes, label="Adam")
    assert out is fig and len(axes[0].lines) == 6
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == [
        "SGD train", "SGD val", "Adam train", "Adam val"]
    with pytest.raises(ValueError, match="2 axes for 1 keys"):
        plots.plot_history(small_history(), keys=("loss",), ax=axes)
    with pytest.raises(ValueError, match="keys must be among"):
        plots.plot_history(small_history(), keys=("accuracy",))


@pytest.mark.parametrize("shape", [(7, 8, 8), (7, 1, 8, 8), (7, 3, 8, 8), (7, 8, 8, 3)])
def test_image_grid(shape):
    images = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    labels = np.arange(7) % 3
    fig = plots.image_grid(images, labels, classes=["cat", "dog", "eel"], ncols=4)
    assert len(fig.axes) == 7  # 2 rows x 4 columns, the empty slot not created
    assert [a.get_title() for a in fig.axes[:4]] == ["cat", "dog", "eel", "cat"]
    assert fig.axes[0].images[0].get_array().shape[:2] == (8, 8)
    with pytest.raises(ValueError, match="6 labels for 7 images"):
        plots.image_grid(images, labels[:6])


@pytest.fixture
def contour_sets(monkeypatch):
    """The ContourSets that Axes.contour / Axes.contourf return during the test, in call order.

    Taken from the calls' return values, not from ax.collections: up to matplotlib 3.7 a contour
    plot adds one Collection per level there, since 3.8 the ContourSet itself.
    """
    made = []

    def recording(draw):
        def record(self, *args, **kwargs):
            made.append(draw(self, *args, **kwargs))
            return made[-1]
        return record

    monkeypatch.setattr(Axes, "contour", recording(Axes.contour))
    monkeypatch.setattr(Axes, "contourf", recording(Axes.contourf))
    return made


def test_decision_boundary_regions_follow_predict_fn(contour_sets):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2))
    y = (x[:, 0] > 0).astype(int)
    fig = plots.decision_boundary(lambda p: (p[:, 0] > 0).astype(int), x, y, resolution=50)
    (ax,) = fig.axes
    (regions,) = contour_sets
    np.testing.assert_array_equal(regions.levels, [-0.5, 0.5, 1.5])  # one band per class
    # class 0's region lies left of x = 0 and class 1's right of it (to within one grid step)
    step = (x[:, 0].max() - x[:, 0].min() + 1.0) / 49
    class0, class1 = (np.concatenate(segs) for segs in regions.allsegs)
    assert class0[:, 0].max() < step and class1[:, 0].min() > -step
    assert class0[:, 0].min() < -2 and class1[:, 0].max() > 2  # each spans its half
    np.testing.assert_allclose(ax.collections[-1].get_offsets(), x)  # the points, drawn on top
    # probabilities (M, C) work too, and give the same regions as their argmax
    probs = lambda p: np.stack([p[:, 0] <= 0, p[:, 0] > 0], axis=1).astype(float)
    plots.decision_boundary(probs, x, y, resolution=50)
    for a, b in zip(contour_sets[1].allsegs, regions.allsegs, strict=True):
        np.testing.assert_array_equal(np.concatenate(a), np.concatenate(b))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.decision_boundary(lambda p: p[:, 0], x[:, :1], y)


def test_contour_trajectories(contour_sets):
    f = lambda x, y: x**2 + 10 * y**2
    paths = {"SGD": np.array([[2.0, 1.0], [1.0, 0.5], [0.0, 0.0]]),
             "Adam": np.array([[-2.0, 1.0], [-1.0, 0.0]])}
    fig = plots.contour_trajectories(f, paths, xlim=(-3, 3), ylim=(-2, 2), levels=12)
    (ax,) = fig.axes
    assert len(ax.lines) == 6  # per path: the path, a start marker, an end marker
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SGD", "Adam"]
    levels = contour_sets[0].levels
    assert len(levels) == 12 and levels[1] - levels[0] < levels[-1] - levels[-2]  # log spacing
    np.testing.assert_allclose(ax.lines[0].get_xydata(), paths["SGD"])
    plots.contour_trajectories(f, {}, (-3, 3), (-2, 2), levels=[1.0, 2.0], log_levels=True)
    np.testing.assert_array_equal(contour_sets[1].levels, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        plots.contour_trajectories(f, {"bad": np.zeros(3)}, (-3, 3), (-2, 2))


def test_note_writes_a_message_and_can_clear_the_ticks():
    fig, (a, b) = plots.new_figure(ncols=2)
    plots.note(a, "select at least one optimizer")
    plots.note(b, "nothing here", clear=True)
    assert [t.get_text() for t in a.texts] == ["select at least one optimizer"]
    assert len(a.get_xticks()) > 0 and len(b.get_xticks()) == 0 and len(b.get_yticks()) == 0


def test_compare_runs_figure_caps_a_diverging_loss():
    healthy, diverging = small_history(), small_history()
    diverging.step_loss = [2.0, 30.0, 1e8, 1e15]
    diverging.diverged_at = 5
    fig = plots.compare_runs_figure({"healthy": healthy, "diverging": diverging}, loss_cap=10)
    ax_loss = fig.axes[0]
    healthy_line, diverging_line = ax_loss.lines
    assert diverging_line.get_ydata().max() == 10.0  # clipped, not 1e15
    np.testing.assert_allclose(healthy_line.get_ydata(), plots.smooth(np.array(healthy.step_loss),
                                                                       0.95))  # below the cap
    assert "clipped at 10" in ax_loss.get_ylabel()
    assert diverging_line.get_label() == "diverging (diverged at step 5)"
