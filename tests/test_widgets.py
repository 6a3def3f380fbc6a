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


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, obj):
        self.updates.append(obj)


@pytest.fixture
def shown(monkeypatch):
    """Replaces IPython's display: records what is displayed and the figure handle's updates."""
    record = {"displayed": [], "handle": FakeHandle()}

    def fake_display(obj, display_id=False):
        record["displayed"].append((obj, display_id))
        return record["handle"] if display_id else None

    monkeypatch.setattr(widgets, "display", fake_display)
    return record


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
    assert isinstance(lr, W.FloatLogSlider) and (lr.min, lr.max, lr.step) == (-4, 0, 0.5)
    assert lr.value == pytest.approx(0.01)
    for name in ("freq", "n_points", "lr"):
        assert c[name].continuous_update is False
    assert list(box.children) == list(c.values())
    assert [w.description for w in box.children] == list(c)


def test_default_figure_displayed_once_with_a_display_id(shown):
    box = widgets.interactive_figure(wave, {"freq": (0.5, 5.0, 0.5, 2.0)})
    ((fig, display_id),) = shown["displayed"]  # the controls are returned, not displayed
    assert isinstance(fig, Figure) and display_id is True
    assert fig.axes[0].get_title() == "sin 2.0 0.01"  # the spec's default wins over f's
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
    box.controls["freq"].value = 3.0
    box.controls["kind"].value = "cos"
    assert calls[1:] == [{"freq": 3.0, "kind": "sin"}, {"freq": 3.0, "kind": "cos"}]
    updates = shown["handle"].updates
    assert len(updates) == 2 and all(isinstance(f, Figure) for f in updates)
    assert updates[-1].axes[0].get_title() == "cos 3.0 0.01"


def test_ready_widgets_are_used_as_given(shown):
    slider = W.FloatSlider(value=1.5, min=1, max=2)
    box = widgets.interactive_figure(wave, {"freq": slider})
    assert box.controls["freq"] is slider and slider.description == "freq"
    assert shown["displayed"][0][0].axes[0].get_title() == "sin 1.5 0.01"


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
