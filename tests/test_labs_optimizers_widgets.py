"""Chapter 03's widgets at the ends of their sliders, empty selections, the race's surface
defaults, and the lab's data returning fresh (never shared, mutable) tensors."""

import itertools
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lib import experiments, widgets
from lib.labs import optimizers as L


def _ends(spec):
    """(min, max) of a slider spec: a (min, max, step) tuple or a LogRange."""
    if isinstance(spec, widgets.LogRange):
        return spec.min, spec.max
    return spec[0], spec[1]


def _sliders(controls):
    return {n: s for n, s in controls.items()
            if isinstance(s, widgets.LogRange) or (isinstance(s, tuple) and len(s) == 3)}


def _check_drawn(fig):
    """Every axes shows something: a curve, a filled contour, or a note (text)."""
    for ax in fig.axes:
        shown = ax.lines or ax.collections or ax.texts
        assert shown, f"blank axes: {ax.get_title()!r}"
        lo, hi = ax.get_ylim()
        assert np.isfinite(lo) and np.isfinite(hi) and lo < hi
    plt.close(fig)


def _extreme_settings(controls):
    """Each slider at its min and at its max (others at the defaults), then all at their mins,
    all at their maxes, and every corner of the first three sliders."""
    ends = {n: _ends(s) for n, s in _sliders(controls).items()}
    for name, (lo, hi) in ends.items():
        yield {name: lo}
        yield {name: hi}
    yield {n: lo for n, (lo, _) in ends.items()}
    yield {n: hi for n, (_, hi) in ends.items()}
    first = list(ends)[:3]
    for corner in itertools.product(*(ends[n] for n in first)):
        yield dict(zip(first, corner, strict=True))


@pytest.mark.parametrize("surface", list(L.RACE_DEFAULTS))
def test_race_at_the_ends_of_every_slider(surface):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings either
        for settings in _extreme_settings(L.RACE_CONTROLS):
            settings = {**L.RACE_DEFAULTS[surface], **settings}
            _check_drawn(L.race_figure(surface=surface, **settings))


def test_race_shows_divergence_as_a_result():
    # κ = 500 at lr 0.025: ηL = 12.5 > 2, the SGD family blows up (chapter 03, things to try)
    fig = L.race_figure(condition_number=500.0)
    legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    for name in ("SGD", "Momentum", "Nesterov"):
        assert f"{name} (diverged at step" in legend
    assert "Adam (diverged" not in legend
    _check_drawn(fig)


def test_nesterov_at_momentum_zero_is_sgd():
    _, runs = L.race_runs(momentum=0.0)  # used to raise: PyTorch's Nesterov needs momentum > 0
    np.testing.assert_array_equal(runs["Nesterov"]["xy"], runs["SGD"]["xy"])
    np.testing.assert_array_equal(runs["Momentum"]["xy"], runs["SGD"]["xy"])
    with pytest.raises(ValueError, match="unknown optimizers"):
        L.race_runs(optimizers=["Lion"])


def test_ema_and_schedule_widgets_at_the_ends_of_their_sliders():
    for settings in _extreme_settings(L.EMA_CONTROLS):
        for correction in (True, False):
            _check_drawn(L.ema_figure(bias_correction=correction, **settings))
    for settings in _extreme_settings(L.SCHEDULE_CONTROLS):
        for log_scale in (True, False):
            fig = L.schedule_figure(log_scale=log_scale, **settings)
            assert len(fig.axes[0].lines) == len(experiments.SCHEDULES)
            _check_drawn(fig)


@pytest.mark.parametrize(
    "call, what",
    [
        (lambda: L.race_figure(optimizers=()), "optimizer"),
        (lambda: L.schedule_figure(schedules=()), "schedule"),
    ],
)
def test_empty_selection_shows_a_note(call, what):
    fig = call()
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert f"select at least one {what}" in notes
    _check_drawn(fig)


def test_choosing_a_surface_loads_its_defaults_and_redraws_once(monkeypatch):
    monkeypatch.setattr(widgets, "display", lambda obj: None)  # outside a notebook
    redraws = []
    monkeypatch.setattr(L.race_figure, "update", lambda fig, **p: redraws.append(p))
    box = L.race_widget()
    controls = box.controls
    for surface in ("rosenbrock", "saddle", "multiple_minima", "quadratic"):
        redraws.clear()
        controls["surface"].value = surface
        assert len(redraws) == 1 and redraws[0]["surface"] == surface
        for name, value in L.RACE_DEFAULTS[surface].items():
            assert controls[name].value == value, (surface, name)  # exactly, as in the prose
            assert redraws[0][name] == value
    plt.close("all")


def test_the_lab_caches_nothing():
    """Every call computes afresh: no function of the lab hands out a cached object."""
    assert not any(hasattr(getattr(L, name), "cache_info") for name in dir(L))


@pytest.mark.parametrize("f", [L.race_figure, L.ema_figure, L.schedule_figure],
                         ids=lambda f: f.__name__)
def test_slider_steps_keep_the_limits(f):
    """Three arrow-key presses of any slider from the defaults keep every axes' limits (so the
    redraw blits: lib.blitting draws in full when limits change), and the legends."""
    defaults = widgets.default_params(f)
    fig = f()
    before = [(ax.get_xlim(), ax.get_ylim()) for ax in fig.axes]
    legends = [leg for ax in fig.axes for leg in [ax.get_legend()] if leg] + fig.legends
    for name, spec in _sliders(f.controls).items():
        control = widgets.make_control(name, spec, defaults[name])
        for value in widgets.next_values(control, 3):
            f.update(fig, **{**defaults, name: value})
            assert [(ax.get_xlim(), ax.get_ylim()) for ax in fig.axes] == before, (name, value)
            now = [leg for ax in fig.axes for leg in [ax.get_legend()] if leg] + fig.legends
            assert all(a is b for a, b in zip(now, legends, strict=True)), (name, value)
        f.update(fig, **defaults)
    plt.close(fig)


def test_race_re_uses_runs_and_their_prefixes_exactly():
    """The widget keeps runs per figure: a shorter run is the prefix of a longer one, and the
    runs of one family do not depend on the other's lr; what it shows equals a fresh race."""
    fig = L.race_figure()
    for params in (dict(steps=130), dict(steps=110, adaptive_lr=0.1), dict(steps=120, lr=0.01),
                   dict(condition_number=500.0, steps=20), dict(condition_number=500.0)):
        L.race_figure.update(fig, **{**widgets.default_params(L.race_figure), **params})
        s, runs = L.race_runs(**params)
        paths = fig.axes[0].lines[1::2][: len(runs)]  # after the minimum marker: path, star, ...
        for (name, run), line in zip(runs.items(), paths, strict=True):
            np.testing.assert_array_equal(line.get_xydata(), run["xy"], err_msg=name)
        assert [t.get_text() for t in fig.legends[0].get_texts()] == [
            n if r["diverged_at"] is None else f"{n} (diverged at step {r['diverged_at']})"
            for n, r in runs.items()]
    plt.close(fig)
