"""Every registered widget is safe by construction: its plain function draws something sensible
at both ends of every control, at the all-min and all-max corners and with every dropdown
option; and a figure redrawn in place (`update`) shows what the plain function draws.

Widgets are found by importing every `lib` module (`@register_widget` fills the registry), so a
new chapter's widgets are checked as soon as they are registered, and must register their
control ranges to pass.
"""

from __future__ import annotations

import importlib
import pkgutil

import matplotlib.pyplot as plt
import numpy as np
import pytest

import lib
from lib import widgets

for _info in pkgutil.walk_packages(lib.__path__, "lib."):
    importlib.import_module(_info.name)
NAMES = sorted(widgets.REGISTRY)


def _ends(spec) -> list:
    """The values a control must be tried at: a slider's two ends, every dropdown option, both
    states of a checkbox, no and all options of a multiple selection."""
    if isinstance(spec, widgets.LogRange):
        return [spec.min, spec.max]
    if isinstance(spec, widgets.Values):
        return [spec.options[0], spec.options[-1]]
    if isinstance(spec, widgets.Many):
        return [(), tuple(spec.options)]
    if isinstance(spec, bool):
        return [False, True]
    if all(isinstance(s, str) for s in spec):
        return list(spec)
    return list(spec[:2])


def settings(controls: dict) -> list[dict]:
    """Each control at each of its `_ends` (the others at their defaults), then all controls at
    their first end, then all at their last (a dropdown at its first / last option)."""
    ends = {n: _ends(s) for n, s in controls.items()}
    single = [{n: v} for n, values in ends.items() for v in values]
    return single + [{n: v[0] for n, v in ends.items()}, {n: v[-1] for n, v in ends.items()}]


def _check_drawn(fig, where):
    """Every visible axes shows something (a curve, patch, image or a note) within finite
    limits; a diverged run must be shown as such, never as blank axes."""
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        shown = [a for a in (*ax.lines, *ax.patches, *ax.collections, *ax.images, *ax.texts)
                 if a.get_visible()]
        assert shown, f"{where}: blank axes {ax.get_title()!r}"
        for lo, hi in (ax.get_xlim(), ax.get_ylim()):
            assert np.isfinite(lo) and np.isfinite(hi) and lo != hi, f"{where}: limits {lo, hi}"


def test_every_registered_widget_has_control_ranges():
    missing = [n for n in NAMES if widgets.REGISTRY[n].controls is None]
    assert not missing, ("register these widgets' control ranges with "
                         f"@register_widget(controls=...): {missing}")


@pytest.mark.parametrize("name", NAMES)
def test_widget_at_the_ends_of_its_controls(name):
    f = widgets.REGISTRY[name]
    if f.controls is None:
        pytest.fail(f"{name}: no control ranges registered")
    for params in settings(f.controls):
        fig = f(**params)
        _check_drawn(fig, f"{name}({params})")
        plt.close(fig)


# ----------------------------------------------------------------------------- in-place redraws


def picture(fig) -> list:
    """What a figure shows, artist by artist (visible ones only): data, text, styles, limits."""
    out = [[t.get_text() for t in fig.texts if t.get_visible()],
           [[t.get_text() for t in legend.get_texts()] for legend in fig.legends]]
    for ax in fig.axes:
        items = [ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale(),
                 ax.get_yscale(), ax.get_xlim(), ax.get_ylim()]
        for line in ax.lines:
            if line.get_visible():
                items.append(("line", line.get_xydata(), line.get_linestyle(),
                              line.get_marker(), line.get_color(), line.get_label()))
        for patch in ax.patches:
            if patch.get_visible():
                items.append(("patch", patch.get_path().vertices, patch.get_facecolor()))
        for coll in ax.collections:
            if coll.get_visible():
                items.append(("collection", [p.vertices for p in coll.get_paths()],
                              coll.get_offsets(), coll.get_label()))
        for image in ax.images:
            items.append(("image", image.get_array()))
        for text in ax.texts:
            if text.get_visible():
                items.append(("text", text.get_text(), text.get_position()))
        legend = ax.get_legend()
        if legend is not None:
            items.append(("legend", [t.get_text() for t in legend.get_texts()]))
        out.append(items)
    return out


def assert_same(a, b, where=""):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), f"{where}: {len(a)} vs {len(b)} items: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        x, y = np.ma.filled(np.ma.asarray(a, float), np.nan), np.ma.filled(np.ma.asarray(b, float),
                                                                           np.nan)
        assert x.shape == y.shape and np.allclose(x, y, rtol=1e-12, atol=0, equal_nan=True), \
            f"{where}: arrays differ"
    elif isinstance(a, float) and isinstance(b, float):  # limits: equal up to rounding
        assert a == pytest.approx(b, rel=1e-12), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


LIVE = [n for n in NAMES if widgets.REGISTRY[n].update is not None]


@pytest.mark.parametrize("name", LIVE)
def test_in_place_redraw_shows_what_the_plain_function_draws(name):
    f = widgets.REGISTRY[name]
    defaults = widgets.default_params(f)
    live = f()
    widgets._freeze_layout(live)
    for params in [*settings(f.controls), {}]:  # ... and back to the defaults
        f.update(live, **{**defaults, **params})
        plain = f(**params)
        assert_same(picture(live), picture(plain), f"{name}({params})")
        plt.close(plain)
