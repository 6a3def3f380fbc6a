"""The interactive pattern: a plain function `f(**params) -> Figure` plus a thin widget wrapper.

    def lr_demo(lr=0.1, optimizer="SGD"):        # plain: tests and benchmarks call it directly
        ...
        return fig

    interactive_figure(lr_demo, {"lr": LogRange(1e-3, 1.0), "optimizer": ["SGD", "Adam"]})

`interactive_figure` displays f's default figure as an ordinary output (so it is stored in the
notebook, seen in static renderings and compared by nbval), returns the controls (the cell's last
value shows them below the figure), and on every change calls f again and replaces the figure in
place (`DisplayHandle.update`). Sliders that retrain a model: `continuous_update=False`, and cache
the expensive data part of f with `functools.lru_cache`.
"""

from __future__ import annotations

import inspect
import math
import statistics
import time
from dataclasses import dataclass
from decimal import Decimal
from numbers import Real

import ipywidgets as W
from IPython.display import display
from matplotlib.figure import Figure

__all__ = [
    "REGISTRY",
    "register_widget",
    "default_params",
    "LogRange",
    "Controls",
    "make_control",
    "interactive_figure",
    "measure_latency",
]

REGISTRY: dict = {}  # "module.function" -> plain figure function, for benchmarks/chapters.py


def default_params(f) -> dict:
    """f's keyword defaults, {name: default}."""
    return {n: p.default for n, p in inspect.signature(f).parameters.items()
            if p.default is not inspect.Parameter.empty}


def register_widget(f):
    """Decorator: list the plain figure function `f` in `REGISTRY` (benchmarks time it at its
    defaults). Every parameter of f needs a default: the default state is what readers see first."""
    params = inspect.signature(f).parameters
    missing = [n for n in params if n not in default_params(f)]
    if missing:
        raise TypeError(f"{f.__qualname__}: parameters {missing} need defaults to be registered")
    REGISTRY[f"{f.__module__}.{f.__qualname__}"] = f
    return f


@dataclass(frozen=True)
class LogRange:
    """Spec of a log-scale slider from `min` to `max`; `step` in decades (log10 units)."""

    min: float
    max: float
    step: float = 0.1
    default: float | None = None

    def __post_init__(self):
        if not 0 < self.min < self.max:
            raise ValueError(f"LogRange needs 0 < min < max, got min={self.min}, max={self.max}")
        if not self.step > 0:
            raise ValueError(f"LogRange step must be > 0 (in decades), got {self.step}")


class Controls(W.VBox):
    """The box of controls. Its text form (stored in the notebook, shown where widgets cannot
    run) names the parameters and their values instead of the long widget repr."""

    def __init__(self, controls: dict):
        super().__init__(list(controls.values()))
        self.controls = controls

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        values = ", ".join(f"{n}={w.value!r}" for n, w in self.controls.items())
        bundle["text/plain"] = f"[interactive controls: {values}; run the notebook to use them]"
        return bundle


def _is_number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _decimals(step) -> int:
    """Readout decimals that show a slider's step exactly, e.g. 0.25 -> 2, 0.1 -> 1, 5.0 -> 0."""
    return max(0, -Decimal(str(step)).normalize().as_tuple().exponent)


SPEC_HELP = ("a ready ipywidget, (min, max, step[, default]) for a slider, LogRange(min, max), "
             "a list of strings for a dropdown, or a bool for a checkbox")


def make_control(name, spec, default=inspect.Parameter.empty, continuous_update=True):
    """One widget from a compact spec (see `SPEC_HELP`). The initial value is the default in the
    spec if it has one, else `default` (f's default)."""
    if isinstance(spec, W.Widget):
        if not getattr(spec, "description", True):
            spec.description = name
        return spec
    style = {"description_width": "initial"}
    if isinstance(spec, bool):
        return W.Checkbox(value=spec, description=name, indent=False)
    if isinstance(spec, LogRange):
        value = _initial(name, spec.default, default)
        if not spec.min <= value <= spec.max:
            raise ValueError(f"{name}: default {value} outside [{spec.min}, {spec.max}]")
        return W.FloatLogSlider(value=value, base=10, min=math.log10(spec.min),
                                max=math.log10(spec.max), step=spec.step, description=name,
                                continuous_update=continuous_update, readout_format=".3g",
                                style=style)
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, str) for s in spec):
        value = _initial(name, None, default)
        if value not in spec:
            raise ValueError(f"{name}: default {value!r} is not one of the options {list(spec)}")
        return W.Dropdown(options=list(spec), value=value, description=name, style=style)
    if isinstance(spec, (list, tuple)) and len(spec) in (3, 4) and all(map(_is_number, spec)):
        lo, hi, step = spec[:3]
        value = _initial(name, spec[3] if len(spec) == 4 else None, default)
        if not (lo < hi and step > 0 and lo <= value <= hi):
            raise ValueError(f"{name}: need min < max, step > 0 and min <= default <= max, "
                             f"got (min, max, step) = {spec[:3]}, default {value}")
        if all(isinstance(v, int) for v in (lo, hi, step, value)):
            return W.IntSlider(value=value, min=lo, max=hi, step=step, description=name,
                               continuous_update=continuous_update, style=style)
        return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=name,
                             continuous_update=continuous_update,
                             readout_format=f".{_decimals(step)}f", style=style)
    raise TypeError(f"{name}: cannot make a control from {spec!r}; give {SPEC_HELP}")


def _initial(name, spec_default, f_default):
    if spec_default is not None:
        return spec_default
    if f_default is inspect.Parameter.empty:
        raise ValueError(f"{name}: no default value; give the function a default for {name!r}")
    return f_default


def _call(f, params) -> Figure:
    fig = f(**params)
    if not isinstance(fig, Figure):
        raise TypeError(f"{f.__qualname__} must return a matplotlib Figure, "
                        f"got {type(fig).__name__}")
    return fig


def _release(fig) -> None:
    """Forget a figure once shown, so pyplot-made figures are neither shown twice nor leaked."""
    import matplotlib.pyplot as plt

    plt.close(fig)  # no-op for figures made without pyplot (lib.plots)


def interactive_figure(f, controls: dict, continuous_update=True) -> Controls:
    """Display f's figure at its default parameters and return the controls that redraw it.

    controls: {parameter name: spec} (see `make_control`); parameters left out stay at f's defaults.
    Make the call the last line of its cell, so the controls show below the figure.
    """
    defaults = default_params(f)
    params = inspect.signature(f).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [n for n in controls if n not in params and not takes_kwargs]
    if unknown:
        raise ValueError(f"{f.__qualname__} has no parameters {unknown}; it takes {list(params)}")
    widgets = {n: make_control(n, spec, defaults.get(n, inspect.Parameter.empty),
                               continuous_update) for n, spec in controls.items()}

    def values():
        return {n: w.value for n, w in widgets.items()}

    fig = _call(f, values())
    handle = display(fig, display_id=True)
    _release(fig)

    def redraw(change):
        new = _call(f, values())
        handle.update(new)
        _release(new)

    for w in widgets.values():
        w.observe(redraw, names="value")
    return Controls(widgets)


def measure_latency(f, /, repeat=5, **params) -> float:
    """Median wall time in seconds of `repeat` calls f(**params). If f has `cache_clear` (an
    `functools.lru_cache`), it is cleared before each call so the time includes the computation."""
    if not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be a positive int, got {repeat!r}")
    times = []
    for _ in range(repeat):
        if hasattr(f, "cache_clear"):
            f.cache_clear()
        start = time.perf_counter()
        out = f(**params)
        times.append(time.perf_counter() - start)
        if isinstance(out, Figure):
            _release(out)
    return statistics.median(times)
