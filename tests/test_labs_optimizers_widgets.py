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
