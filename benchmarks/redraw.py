"""The kernel's part of a slider step, for every widget redrawn in place: the time from a new
control value to the JPEG that goes to the browser (update + draw + encode), as the browser
test moves the controls: each slider three steps away from its default (towards the farther
end), each dropdown to its next option, each checkbox toggled. Prints per control the median ms
and how each step was drawn (b = blit, l = layers built, f = full draw, u = unchanged; see
lib.blitting).

The browser adds about 40-85 ms on this machine (messages, decoding), so for a figure to settle
within 100 ms of a key press, a step must take ≤ ~40 ms here.

Usage: python benchmarks/redraw.py [part of a widget's name ...]
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import statistics
import sys
import time

import matplotlib.pyplot as plt

import lib
from lib import widgets

STEPS = 3


def measure(f) -> list[tuple[str, list[float], str]]:
    """[(control, step times in s, draw modes)] for the in-place widget f."""
    defaults = widgets.default_params(f)
    controls = {n: widgets.make_control(n, spec, defaults.get(n, inspect.Parameter.empty))
                for n, spec in f.controls.items()}
    fig = f()
    widgets._freeze_layout(fig)
    live = widgets.LiveFigure(fig, in_place=True)
    out = []
    for name, control in controls.items():
        params, times, modes = dict(defaults), [], ""
        for value in widgets.next_values(control, STEPS):
            params[name] = value
            start = time.perf_counter()
            f.update(fig, **params)
            modes += live.redraw()[0]
            times.append(time.perf_counter() - start)
        out.append((name, times, modes))
        f.update(fig, **defaults)  # back to the default state, as the next control starts there
        live.redraw()
    plt.close(fig)
    return out


def main(patterns) -> None:
    for info in pkgutil.walk_packages(lib.__path__, "lib."):
        importlib.import_module(info.name)
    lib.setup()
    print(f"{'widget / control':<52} {'median ms':>9} {'max ms':>7}  draws")
    for key in sorted(widgets.REGISTRY):
        f = widgets.REGISTRY[key]
        if f.update is None or (patterns and not any(p in key for p in patterns)):
            continue
        print(key.removeprefix("lib.labs."))
        for name, times, modes in measure(f):
            if times:
                print(f"  {name:<50} {1e3 * statistics.median(times):9.1f} "
                      f"{1e3 * max(times):7.1f}  {modes}")


if __name__ == "__main__":
    main(sys.argv[1:])
