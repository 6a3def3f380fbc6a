"""The interactive pattern: a plain function `f(**params) -> Figure` plus a thin widget wrapper.

    @register_widget(controls={"lr": LogRange(1e-3, 1.0), "optimizer": ["SGD", "Adam"]})
    def lr_demo(lr=0.1, optimizer="SGD"):        # plain: tests and benchmarks call it directly
        ...
        return fig

    interactive_figure(lr_demo)                   # in the notebook: the figure and its controls

`interactive_figure` shows f's default figure as a `LiveFigure`: an image widget that a moved
control redraws, and whose saved form (the notebook file, GitHub, the HTML edition) is the PNG of
the default state. A redraw replaces the image through the widget, never the cell's output, so
playing with the controls does not modify the notebook. By default a redraw calls f again; a
function registered with `update=` is instead redrawn in place: `update(fig, **params)` changes
the artists of the figure f made (set_data, set_text, ...), with the layout computed once, and
`lib.blitting` draws only the artists that changed over a stored picture of the rest: keep the
artists and the axes limits (no `cla()`, no new legend per redraw) and a redraw costs a few ms
of drawing and a JPEG encoding. Heavy functions (retraining a model)
register `continuous_update=False` and cache their data part with `functools.lru_cache`.
"""

from __future__ import annotations

import base64
import inspect
import io
import math
import statistics
import time
from dataclasses import dataclass
from decimal import Decimal
from numbers import Real

import ipywidgets as W
import numpy as np
from IPython.display import display
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imsave

from lib.blitting import Blitter

__all__ = [
    "REGISTRY",
    "register_widget",
    "default_params",
    "LogRange",
    "Many",
    "Values",
    "Controls",
    "LiveFigure",
    "make_control",
    "interactive_figure",
    "rescale",
    "measure_latency",
    "next_values",
]

REGISTRY: dict = {}  # "module.function" -> plain figure function (benchmarks, extreme-value tests)


def default_params(f) -> dict:
    """f's keyword defaults, {name: default}."""
    return {n: p.default for n, p in inspect.signature(f).parameters.items()
            if p.default is not inspect.Parameter.empty}


@dataclass(frozen=True)
class LogRange:
    """Spec of a log-scale slider from `min` to `max`, `step` in decades (log10 units). Its values
    are rounded to 3 significant digits, and the default (and any value another control loads)
    is added to them, so the slider shows and passes exactly those numbers."""

    min: float
    max: float
    step: float = 0.1
    default: float | None = None

    def __post_init__(self):
        if not 0 < self.min < self.max:
            raise ValueError(f"LogRange needs 0 < min < max, got min={self.min}, max={self.max}")
        if not self.step > 0:
            raise ValueError(f"LogRange step must be > 0 (in decades), got {self.step}")

    def values(self, extra=()) -> list[float]:
        lo, hi = math.log10(self.min), math.log10(self.max)
        n = math.floor((hi - lo) / self.step + 1e-9)
        grid = {float(f"{10 ** (lo + k * self.step):.3g}") for k in range(n + 1)}
        grid = {v for v in grid if self.min <= v < self.max}
        return sorted(grid | {self.min, self.max, *extra})


@dataclass(frozen=True)
class Many:
    """Spec of a list where any subset of `options` can be selected (f gets a tuple)."""

    options: tuple
    rows: int | None = None


@dataclass(frozen=True)
class Values:
    """Spec of a slider over exactly these numbers, in this order (e.g. the learning rates of a
    precomputed sweep); `default` must be one of them (else f's default is used)."""

    options: tuple
    default: float | None = None


SPEC_HELP = ("a ready ipywidget, (min, max, step[, default]) for a slider, LogRange(min, max), "
             "Values(numbers) for a slider over exactly those numbers, a list of strings for a "
             "dropdown, Many(options) for a multiple selection, or a bool for a checkbox")


def register_widget(f=None, *, controls: dict | None = None, update=None,
                    continuous_update: bool = True, links: dict | None = None):
    """Decorator: list the plain figure function f in `REGISTRY`, with its controls.

    controls: {parameter: spec} (see `make_control`), used by `interactive_figure(f)` and by the
    extreme-value tests; update: `update(fig, **params)` redraws a figure made by f in place;
    continuous_update=False for functions too slow to follow a drag; links: {control: {value:
    {other control: value}}}, e.g. a surface that loads its learning rate. Every parameter of f
    needs a default: the default state is what readers see first.
    """
    if f is None:
        return lambda g: register_widget(g, controls=controls, update=update,
                                         continuous_update=continuous_update, links=links)
    missing = [n for n in inspect.signature(f).parameters if n not in default_params(f)]
    if missing:
        raise TypeError(f"{f.__qualname__}: parameters {missing} need defaults to be registered")
    if controls is not None:
        _check_names(f, controls)
        extra = _linked_values(links)
        for name, spec in controls.items():  # a bad spec fails here, at import, not in a notebook
            _control_args(name, spec, default_params(f).get(name, inspect.Parameter.empty), True,
                          extra.get(name, ()))
    f.controls, f.update, f.continuous_update, f.links = controls, update, continuous_update, links
    REGISTRY[f"{f.__module__}.{f.__qualname__}"] = f
    return f


def _check_names(f, controls):
    params = inspect.signature(f).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [n for n in controls if n not in params and not takes_kwargs]
    if unknown:
        raise ValueError(f"{f.__qualname__} has no parameters {unknown}; it takes {list(params)}")


def _linked_values(links) -> dict:
    """{control: values that links may load into it}."""
    extra = {}
    for table in (links or {}).values():
        for settings in table.values():
            for name, value in settings.items():
                extra.setdefault(name, set()).add(value)
    return extra


class Controls(W.VBox):
    """The box of controls: one column, or side by side in `columns` (lists of control names).
    Its text form (stored in the notebook, shown where widgets cannot run) names the
    parameters and their values instead of the widget repr."""

    def __init__(self, controls: dict, columns: list | None = None):
        if columns is None:
            items = list(controls.values())
        else:
            placed = [n for column in columns for n in column]
            if sorted(placed) != sorted(controls):
                raise ValueError(f"columns must place each control once: {list(controls)}, "
                                 f"got {columns}")
            items = [W.HBox([W.VBox([controls[n] for n in column]) for column in columns])]
        super().__init__(items)
        self.controls = controls

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        values = ", ".join(f"{n}={w.value!r}" for n, w in self.controls.items())
        bundle["text/plain"] = f"[interactive controls: {values}; run the notebook to use them]"
        return bundle


def _encode(fig: Figure, fmt: str = "png") -> bytes:
    """The figure drawn by Agg at its own size, as PNG (what notebooks store) or JPEG (live
    redraws: encoding takes a few ms, a PNG of the same figure ten times more)."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    out = io.BytesIO()
    if fmt == "png":
        canvas.print_png(out, metadata={"Software": None})
    else:
        canvas.draw()
        return _jpeg(canvas)
    return out.getvalue()


def _jpeg(canvas: FigureCanvasAgg) -> bytes:
    """What the canvas holds now (no new draw), as JPEG."""
    out = io.BytesIO()
    imsave(out, np.asarray(canvas.buffer_rgba()), format="jpeg", pil_kwargs={"quality": 90})
    return out.getvalue()


class LiveFigure(W.Image):
    """A figure shown as an image widget; `show(fig)` replaces the picture with another figure,
    `redraw()` shows this figure again after an in-place update (in_place=True: drawn by a
    `lib.blitting.Blitter`, made here so that the first update already blits). Saved notebooks
    and static renderings (which cannot run widgets) show the PNG it was first displayed with."""

    def __init__(self, fig: Figure, in_place: bool = False):
        self._static = _encode(fig, "png")
        self._blitter = Blitter(fig) if in_place else None
        super().__init__(value=_jpeg(self._blitter.canvas) if in_place else _encode(fig, "jpeg"),
                         format="jpeg")

    def show(self, fig: Figure) -> None:
        self.value = _encode(fig, "jpeg")

    def redraw(self) -> str:
        """Show the figure again after its artists were changed in place; return how it was
        drawn ("full", "layers", "blit" or "unchanged", see `lib.blitting`)."""
        if self._blitter is None:
            raise ValueError("redraw() needs a LiveFigure made with in_place=True")
        mode = self._blitter.draw()
        self.value = _jpeg(self._blitter.canvas)
        return mode

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self._static).decode("ascii")
        bundle["text/plain"] = "[figure: run the notebook to use its controls]"
        return bundle


def _is_number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _decimals(step) -> int:
    """Readout decimals that show a slider's step exactly, e.g. 0.25 -> 2, 0.1 -> 1, 5.0 -> 0."""
    return max(0, -Decimal(str(step)).normalize().as_tuple().exponent)


def make_control(name, spec, default=inspect.Parameter.empty, continuous_update=True, extra=()):
    """One widget from a compact spec (see `SPEC_HELP`). The initial value is the default in the
    spec if it has one, else `default` (f's default); it must be a value the control can show
    exactly. extra: values a LogRange slider must offer too (loaded by linked controls)."""
    if isinstance(spec, W.Widget):
        if not getattr(spec, "description", True):
            spec.description = name
        return spec
    cls, kwargs = _control_args(name, spec, default, continuous_update, extra)
    return cls(**kwargs)


def _control_args(name, spec, default, continuous_update, extra=()):
    """(widget class, keyword arguments) for `make_control`; checks the spec and the default."""
    if isinstance(spec, W.Widget):
        return type(spec), {}
    common = {"description": name, "style": {"description_width": "initial"}}
    if isinstance(spec, bool):
        return W.Checkbox, {"value": spec, "description": name, "indent": False}
    if isinstance(spec, LogRange):
        value = _initial(name, spec.default, default)
        if not spec.min <= value <= spec.max:
            raise ValueError(f"{name}: default {value} outside [{spec.min}, {spec.max}]")
        options = [(f"{v:.3g}", v) for v in spec.values({value, *extra})]
        return W.SelectionSlider, {"options": options, "value": value,
                                   "continuous_update": continuous_update, **common}
    if isinstance(spec, Values):
        value = _initial(name, spec.default, default)
        if not spec.options or not all(map(_is_number, spec.options)):
            raise ValueError(f"{name}: Values needs a non-empty sequence of numbers, "
                             f"got {spec.options!r}")
        if value not in spec.options:
            raise ValueError(f"{name}: default {value!r} is not one of {list(spec.options)}")
        return W.SelectionSlider, {"options": [(f"{v:g}", v) for v in spec.options],
                                   "value": value, "continuous_update": continuous_update,
                                   **common}
    if isinstance(spec, Many):
        value = tuple(_initial(name, None, default))
        if not set(value) <= set(spec.options):
            raise ValueError(f"{name}: default {value} is not a subset of {list(spec.options)}")
        return W.SelectMultiple, {"options": tuple(spec.options), "value": value,
                                  "rows": spec.rows or len(spec.options), **common}
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, str) for s in spec):
        value = _initial(name, None, default)
        if value not in spec:
            raise ValueError(f"{name}: default {value!r} is not one of the options {list(spec)}")
        return W.Dropdown, {"options": list(spec), "value": value, **common}
    if isinstance(spec, (list, tuple)) and len(spec) in (3, 4) and all(map(_is_number, spec)):
        lo, hi, step = spec[:3]
        value = _initial(name, spec[3] if len(spec) == 4 else None, default)
        if not (lo < hi and step > 0 and lo <= value <= hi):
            raise ValueError(f"{name}: need min < max, step > 0 and min <= default <= max, "
                             f"got (min, max, step) = {spec[:3]}, default {value}")
        k = (value - lo) / step
        if abs(k - round(k)) > 1e-9:
            raise ValueError(f"{name}: default {value} is not on the slider's grid min + k·step "
                             f"(min {lo}, step {step}); change min or step")
        args = {"value": value, "min": lo, "max": hi, "step": step,
                "continuous_update": continuous_update, **common}
        if all(isinstance(v, int) for v in (lo, hi, step, value)):
            return W.IntSlider, args
        return W.FloatSlider, {**args, "readout_format": f".{_decimals(step)}f"}
    raise TypeError(f"{name}: cannot make a control from {spec!r}; give {SPEC_HELP}")


def _initial(name, spec_default, f_default):
    if spec_default is not None:
        return spec_default
    if f_default is inspect.Parameter.empty:
        raise ValueError(f"{name}: no default value; give the function a default for {name!r}")
    return f_default


def _value(widget):
    """A control's value as the reader sees it: float sliders rounded to their step's decimals
    (the browser adds steps in binary floating point: 0.1 + 0.2 = 0.30000000000000004)."""
    if isinstance(widget, W.FloatSlider):
        return round(widget.value, _decimals(widget.step))
    return widget.value


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


def _freeze_layout(fig) -> None:
    """Compute the layout once (a first draw), then keep it: in-place redraws skip it."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    fig.set_layout_engine("none")


def rescale(ax) -> None:
    """Fit an axes' limits to its visible artists again, after their data changed in place."""
    ax.relim(visible_only=True)
    ax.autoscale()  # on again (set_xlim/set_ylim turn it off), and rescale


def interactive_figure(f, controls: dict | None = None, continuous_update: bool | None = None,
                       columns: list | None = None) -> Controls:
    """Display f's figure at its default parameters and return the controls that redraw it.

    controls: {parameter name: spec} (see `make_control`), by default the ones f was registered
    with; parameters left out stay at f's defaults. continuous_update: redraw while a slider is
    dragged (default: as registered, else True). columns: the controls side by side, as lists
    of control names, one per column (to fit the figure and its controls on a laptop screen).
    Make the call the last line of its cell, so the controls show below the figure.
    """
    if controls is None:
        controls = getattr(f, "controls", None)
        if controls is None:
            raise ValueError(f"{f.__qualname__}: give its controls, or register it with "
                             "@register_widget(controls=...)")
    if continuous_update is None:
        continuous_update = getattr(f, "continuous_update", True)
    update, links = getattr(f, "update", None), getattr(f, "links", None) or {}
    _check_names(f, controls)
    defaults, extra = default_params(f), _linked_values(links)
    widgets = {n: make_control(n, spec, defaults.get(n, inspect.Parameter.empty),
                               continuous_update, extra.get(n, ())) for n, spec in controls.items()}

    def values():
        return {n: _value(w) for n, w in widgets.items()}

    fig = _call(f, values())
    if update is not None:
        _freeze_layout(fig)
    live = LiveFigure(fig, in_place=update is not None)
    display(live)
    if update is None:
        _release(fig)

    def redraw():
        if update is not None:
            update(fig, **{**defaults, **values()})
            live.redraw()
        else:
            new = _call(f, values())
            live.show(new)
            _release(new)

    loading = []  # set while a linked control loads others' values: they do not redraw

    def changed(name, change):
        if loading:
            return
        loading.append(name)
        try:
            for other, value in links.get(name, {}).get(change["new"], {}).items():
                widgets[other].value = value
        finally:
            loading.pop()
        redraw()

    for name, w in widgets.items():
        w.observe(lambda change, name=name: changed(name, change), names="value")
    box = Controls(widgets, columns)
    box.figure = live
    return box


def next_values(control, n: int = 3) -> list:
    """The values a reader gives a control by pressing an arrow key n times on a slider (away
    from its nearer end), choosing the next option of a dropdown, or toggling a checkbox; a
    multiple selection adds its first unselected option. Used to time and test redraws."""
    if isinstance(control, W.Checkbox):
        return [not control.value]
    if isinstance(control, W.Dropdown):
        options = list(control.options)
        return [options[(options.index(control.value) + 1) % len(options)]]
    if isinstance(control, W.SelectMultiple):
        rest = [o for o in control.options if o not in control.value]
        return [(*control.value, rest[0])] if rest else []
    if isinstance(control, W.SelectionSlider):
        values = [o[1] if isinstance(o, tuple) else o for o in control.options]
        i = values.index(control.value)
        way = -1 if i > (len(values) - 1) / 2 else 1
        return [values[i + way * k] for k in range(1, n + 1) if 0 <= i + way * k < len(values)]
    if isinstance(control, (W.IntSlider, W.FloatSlider)):
        way = -1 if control.value > (control.min + control.max) / 2 else 1
        values = [control.value + way * k * control.step for k in range(1, n + 1)]
        return [round(v, 10) for v in values if control.min <= v <= control.max]
    raise TypeError(f"no next values for a {type(control).__name__}")


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
