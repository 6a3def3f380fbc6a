"""lib.blitting: a blitted redraw is the picture a full draw makes, for a figure built to
exercise every layer, and for every widget redrawn in place, as the controls move."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

import lib
from lib import widgets
from lib.blitting import Blitter, _settle

for _info in pkgutil.walk_packages(lib.__path__, "lib."):
    importlib.import_module(_info.name)
LIVE = sorted(n for n, f in widgets.REGISTRY.items() if f.update is not None)


def _full_draw_differs(blitter) -> int:
    """The largest difference (0-255) between the blitted picture and a full draw of it."""
    got = np.asarray(blitter.canvas.buffer_rgba()).astype(int)
    blitter.canvas.draw()
    _settle(blitter.fig)  # as after the blitter's own full draws
    return int(np.abs(got - np.asarray(blitter.canvas.buffer_rgba())).max())


def _layered_figure():
    """Two panels: a curve under a legend and a text (overlay), a static curve below it
    (background), a title that changes; a twin axes over the second panel."""
    fig = Figure(figsize=(6, 3), dpi=80)
    a, b = fig.subplots(1, 2)
    x = np.linspace(0, 1, 50)
    a.plot(x, x, color="grey", label="static")
    moving, = a.plot(x, x**2, lw=3, label="moving")
    a.legend(loc="center", framealpha=0.7)
    a.text(0.5, 0.5, "over the curve", fontsize=14, alpha=0.6)
    a.set_ylim(-1, 2)
    b.plot(x, 1 - x)
    twin_line, = b.twinx().plot(x, np.sin(6 * x), color="red")
    fig.canvas.draw()
    return fig, moving, twin_line


def test_changed_artists_are_blitted_under_the_overlay():
    fig, moving, twin_line = _layered_figure()
    blitter = Blitter(fig)
    modes = []
    for k in range(1, 5):
        moving.set_ydata(np.linspace(0, 1, 50) ** (k + 1) + 0.1 * k)
        twin_line.set_color(f"C{k}")
        fig.axes[0].set_title(f"step {k}")
        modes.append(blitter.draw())
        assert blitter.layers is None or blitter.layers.overlay  # the legend and text are over
        assert _full_draw_differs(blitter) <= 2, f"step {k}"  # overlay edges: rounding only
    assert modes == ["layers", "blit", "blit", "blit"]


def test_new_limits_or_removed_background_artists_draw_in_full():
    fig, moving, _ = _layered_figure()
    blitter = Blitter(fig)
    moving.set_ydata(np.zeros(50))
    assert blitter.draw() == "layers"
    fig.axes[0].set_ylim(-2, 2)          # new ticks: the background is out of date
    moving.set_ydata(np.ones(50))
    assert blitter.draw() == "full"
    assert _full_draw_differs(blitter) == 0
    fig.axes[0].lines[0].remove()        # a background artist goes
    moving.set_ydata(np.zeros(50))
    assert blitter.draw() == "layers"
    assert _full_draw_differs(blitter) <= 2


def _live_widget(name):
    """(f, its defaults, its figure as displayed with a Blitter, {control name: control})."""
    f = widgets.REGISTRY[name]
    defaults = widgets.default_params(f)
    fig = f()
    widgets._freeze_layout(fig)
    controls = {n: widgets.make_control(n, spec, defaults.get(n, inspect.Parameter.empty))
                for n, spec in f.controls.items()}
    return f, defaults, Blitter(fig), controls


@pytest.mark.parametrize("name", LIVE)
def test_widget_redraws_match_a_full_draw(name):
    """Every control stepped as a reader would (widgets.next_values), each picture compared
    with a full draw of the same figure."""
    f, defaults, blitter, controls = _live_widget(name)
    for n, control in controls.items():
        for value in widgets.next_values(control, 2):
            f.update(blitter.fig, **{**defaults, n: value})
            mode = blitter.draw()
            assert _full_draw_differs(blitter) <= 2, f"{name}({n}={value!r}) drawn by {mode}"
    plt.close(blitter.fig)


def test_a_title_in_the_background_stays_in_place():
    """A title below the changing curve is drawn into the background while the (empty) left and
    right titles are hidden: it must stay where a full draw puts it."""
    fig = Figure(figsize=(4, 3), dpi=80)
    ax = fig.subplots()
    line, = ax.plot([0, 1], [0, 1])
    ax.set_title("static title")
    ax.title.set_zorder(1)
    blitter = Blitter(fig)
    line.set_ydata([1, 0])
    assert blitter.draw() == "layers"
    assert _full_draw_differs(blitter) == 0


SLIDERS = (widgets.W.IntSlider, widgets.W.FloatSlider, widgets.W.SelectionSlider)
FOLLOW_A_DRAG = [n for n in LIVE if widgets.REGISTRY[n].continuous_update]


@pytest.mark.parametrize("name", FOLLOW_A_DRAG)
def test_sliders_that_follow_a_drag_are_blitted(name):
    """What keeps a slider live: after its first step (which may build the layers), each step of
    each slider redraws only what changed. (Timings are not portable; the draw mode is.)"""
    f, defaults, blitter, controls = _live_widget(name)
    for n, control in controls.items():
        if not isinstance(control, SLIDERS):
            continue
        modes = []
        for value in widgets.next_values(control, 3):
            f.update(blitter.fig, **{**defaults, n: value})
            modes.append(blitter.draw())
        assert all(m in ("blit", "unchanged") for m in modes[1:]), f"{name}: {n} drawn by {modes}"
        f.update(blitter.fig, **defaults)
        blitter.draw()
    plt.close(blitter.fig)
