import functools
import inspect
import math

import ipywidgets as W
import pytest
from matplotlib.figure import Figure

from lib import plots, widgets


def wave(freq=1.0, n_points=50, kind="sin", grid=True, lr=0.01):
    """A small plain figure function like the chapters' ones."""
    fig, ax = plots.new_figure()
    xs = [i / n_points for i in range(n_points)]
    fn = math.sin if kind == "sin" else math.cos
    ax.plot(xs, [fn(freq * x) for x in xs])
    ax.grid(grid)
    ax.set_title(f"{kind} {freq} {lr}")
    return fig


@pytest.fixture
def shown(monkeypatch):
    """Replaces IPython's display: records what is displayed (the LiveFigure)."""
    displayed = []
    monkeypatch.setattr(widgets, "display", displayed.append)
    return displayed


def test_plain_function_returns_a_figure():
    fig = wave(freq=2.0, kind="cos")
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "cos 2.0 0.01"


def test_controls_built_from_specs(shown):
    box = widgets.interactive_figure(wave, {
        "freq": (0.5, 5.0, 0.25),
        "n_points": (10, 100, 10),
        "kind": ["sin", "cos"],
        "grid": False,
        "lr": widgets.LogRange(1e-4, 1.0, step=0.5),
    }, continuous_update=False)
    c = box.controls
    assert isinstance(c["freq"], W.FloatSlider)
    assert (c["freq"].min, c["freq"].max, c["freq"].step, c["freq"].value) == (0.5, 5.0, 0.25, 1.0)
    assert c["freq"].readout_format == ".2f"
    assert isinstance(c["n_points"], W.IntSlider)
    assert (c["n_points"].min, c["n_points"].max, c["n_points"].step) == (10, 100, 10)
    assert c["n_points"].value == 50  # f's default
    assert isinstance(c["kind"], W.Dropdown) and c["kind"].options == ("sin", "cos")
    assert c["kind"].value == "sin"
    assert isinstance(c["grid"], W.Checkbox) and c["grid"].value is False  # the spec's value wins
    lr = c["lr"]
    assert isinstance(lr, W.SelectionSlider) and lr.value == 0.01  # exactly the default
    assert [v for _, v in lr.options] == [1e-4, 3.16e-4, 1e-3, 3.16e-3, 0.01, 0.0316, 0.1,
                                          0.316, 1.0]
    assert lr.label == "0.01"
    for name in ("freq", "n_points", "lr"):
        assert c[name].continuous_update is False
    assert list(box.children) == list(c.values())
    assert [w.description for w in box.children] == list(c)


def test_default_figure_displayed_once_as_a_live_figure(shown):
    box = widgets.interactive_figure(wave, {"freq": (0.5, 5.0, 0.5, 2.0)})
    (live,) = shown  # the controls are returned, not displayed
    assert isinstance(live, widgets.LiveFigure) and box.figure is live
    bundle = live._repr_mimebundle_()
    assert bundle["image/png"]  # what the saved notebook, GitHub and the HTML edition show
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert box.controls["freq"].continuous_update is True
    text = box._repr_mimebundle_()["text/plain"]
    assert text == "[interactive controls: freq=2.0; run the notebook to use them]"


def test_a_change_redraws_with_the_new_value(shown):
    calls = []

    def spy(**params):
        calls.append(params)
        return wave(**params)

    spy.__signature__ = inspect.signature(wave)  # the wrapper reads defaults from it
    box = widgets.interactive_figure(spy, {"freq": (0.5, 5.0, 0.5), "kind": ["sin", "cos"]})
    assert calls == [{"freq": 1.0, "kind": "sin"}]
    (live,) = shown
    first = live.value
    box.controls["freq"].value = 3.0
    box.controls["kind"].value = "cos"
    assert calls[1:] == [{"freq": 3.0, "kind": "sin"}, {"freq": 3.0, "kind": "cos"}]
    assert live.value != first
    box.controls["freq"].value = 0.5 + 0.1 + 0.2 - 0.3 + 0.5  # a float slider's binary sum
    assert calls[-1]["freq"] == 1.0  # rounded to the step's decimals


def _dots(n=3, scale=1.0):
    fig, ax = plots.new_figure()
    ax.plot(range(n), [scale * i for i in range(n)])
    return fig


def test_registered_widgets_redraw_in_place(shown):
    calls = []

    def update(fig, n=3, scale=1.0):
        fig.axes[0].lines[0].set_data(range(n), [scale * i for i in range(n)])
        calls.append((n, scale))

    with pytest.raises(ValueError, match=r"has no parameters \['m'\]"):  # checked at once
        widgets.register_widget(_dots, controls={"m": (2, 10, 1)})
    f = widgets.register_widget(_dots, controls={"n": (2, 10, 1), "scale": (0.5, 2.0, 0.5)},
                                update=update)
    assert widgets.REGISTRY.pop(f"{__name__}._dots") is f
    box = widgets.interactive_figure(f)  # the registered controls
    box.controls["n"].value = 5
    assert calls == [(5, 1.0)]  # in place: the plain function is not called again
    (live,) = shown
    before = live.value
    box.controls["scale"].value = 2.0
    assert live.value != before and calls[-1] == (5, 2.0)


def test_linked_controls_load_values_with_one_redraw(shown):
    def preset_dots(n=3, scale=1.0, preset="small"):
        return _dots(n, scale)

    f = widgets.register_widget(preset_dots, controls={
        "n": (2, 10, 1), "scale": widgets.LogRange(0.5, 2.0), "preset": ["small", "large"]},
        links={"preset": {"large": {"n": 10, "scale": 1.75}, "small": {"n": 3, "scale": 1.0}}})
    widgets.REGISTRY.pop(f"{__name__}.{preset_dots.__qualname__}")
    calls = []
    f.update = lambda fig, **p: calls.append(p)
    box = widgets.interactive_figure(f)
    assert 1.75 in [v for _, v in box.controls["scale"].options]  # linked values are offered
    box.controls["preset"].value = "large"
    assert calls == [{"n": 10, "scale": 1.75, "preset": "large"}]  # one redraw, not three
    assert (box.controls["n"].value, box.controls["scale"].value) == (10, 1.75)


def test_columns_lay_the_controls_out_side_by_side(shown):
    specs = {"freq": (0.5, 5.0, 0.5), "n_points": (10, 100, 10), "kind": ["sin", "cos"]}
    box = widgets.interactive_figure(wave, specs, columns=[["kind"], ["freq", "n_points"]])
    (row,) = box.children
    assert [[w.description for w in col.children] for col in row.children] == \
        [["kind"], ["freq", "n_points"]]
    with pytest.raises(ValueError, match="each control once"):
        widgets.interactive_figure(wave, specs, columns=[["kind"], ["freq"]])


def test_ready_widgets_are_used_as_given(shown):
    slider = W.FloatSlider(value=1.5, min=1, max=2)
    box = widgets.interactive_figure(wave, {"freq": slider})
    assert box.controls["freq"] is slider and slider.description == "freq"
    assert box.controls["freq"].value == 1.5


def test_pyplot_figures_are_closed_after_display(shown):
    import matplotlib.pyplot as plt

    def pyplot_fig(a=1):
        fig, ax = plt.subplots()
        ax.plot([0, a])
        return fig

    before = plt.get_fignums()
    box = widgets.interactive_figure(pyplot_fig, {"a": (1, 3, 1)})
    box.controls["a"].value = 2
    assert plt.get_fignums() == before  # neither shown twice by the inline backend nor leaked


def test_spec_errors(shown):
    def f(a=1.0, b="x", c=None):
        return wave()

    with pytest.raises(ValueError, match=r"has no parameters \['z'\]"):
        widgets.interactive_figure(f, {"z": (0, 1, 0.1)})
    with pytest.raises(ValueError, match="min < max"):
        widgets.interactive_figure(f, {"a": (2.0, 1.0, 0.1)})
    with pytest.raises(ValueError, match="min <= default <= max"):
        widgets.interactive_figure(f, {"a": (2.0, 3.0, 0.1)})  # f's default 1.0 is outside
    with pytest.raises(ValueError, match="not one of the options"):
        widgets.interactive_figure(f, {"b": ["y", "z"]})
    with pytest.raises(TypeError, match="cannot make a control"):
        widgets.interactive_figure(f, {"a": {"min": 0}})
    with pytest.raises(ValueError, match="0 < min < max"):
        widgets.LogRange(0.0, 1.0)
    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        widgets.interactive_figure(lambda a=1: {"a": a}, {"a": (0, 2, 1)})

    def no_default(a):
        return wave()

    with pytest.raises(ValueError, match="no default"):
        widgets.interactive_figure(no_default, {"a": (0, 2, 1)})
    with pytest.raises(ValueError, match="not on the slider's grid"):
        widgets.interactive_figure(f, {"a": (0.0, 2.0, 0.3)})
    with pytest.raises(ValueError, match="give its controls"):
        widgets.interactive_figure(f)
    with pytest.raises(ValueError, match="not on the slider's grid"):  # at definition time
        widgets.register_widget(f, controls={"a": (0.0, 2.0, 0.3)})
    with pytest.raises(ValueError, match="not a subset"):
        widgets.interactive_figure(f, {"b": widgets.Many(("y", "z"))})
    with pytest.raises(ValueError, match=r"default 1.0 is not one of \[0.3, 3.0\]"):
        widgets.interactive_figure(f, {"a": widgets.Values((0.3, 3.0))})
    with pytest.raises(ValueError, match="non-empty sequence of numbers"):
        widgets.interactive_figure(f, {"a": widgets.Values(())})


def test_values_slider_offers_exactly_its_numbers(shown):
    box = widgets.interactive_figure(wave, {"freq": widgets.Values((0.5, 1.0, 3.0))})
    slider = box.controls["freq"]
    assert isinstance(slider, W.SelectionSlider)
    assert [v for _, v in slider.options] == [0.5, 1.0, 3.0] and slider.value == 1.0


def test_register_widget_and_measure_latency():
    @widgets.register_widget
    def demo(freq=1.0):
        return wave(freq)

    key = f"{__name__}.test_register_widget_and_measure_latency.<locals>.demo"
    assert widgets.REGISTRY.pop(key) is demo
    assert widgets.default_params(demo) == {"freq": 1.0}
    with pytest.raises(TypeError, match=r"\['a'\] need defaults"):
        widgets.register_widget(lambda a, b=1: None)

    calls = []

    @functools.lru_cache
    def data(n):
        calls.append(n)
        return n

    seconds = widgets.measure_latency(data, repeat=3, n=5)
    assert calls == [5, 5, 5]  # the cache was cleared before each call
    assert 0 <= seconds < 1
    with pytest.raises(ValueError, match="repeat"):
        widgets.measure_latency(data, repeat=0)
