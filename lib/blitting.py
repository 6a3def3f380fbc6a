"""Redraw a figure after an in-place update by drawing only what changed ("blitting").

A full Agg draw of a two-panel figure takes 35-80 ms, most of it ticks, tick labels and legends
that a slider never changes. `Blitter` splits the figure, in the exact order Agg draws it, into
three layers:

    background  every artist drawn before the first one that changes  (rendered once, stored)
    changing    the artists from the first to the last one that changes (drawn on every redraw)
    overlay     every artist drawn after the last one that changes      (rendered once, with
                transparency, and laid over: a legend above changing curves)

A redraw restores the background, draws the changing artists and lays the overlay over them:
the same picture as a full draw (up to rounding of the overlay's transparent edges), for the
cost of the changing artists only. Which artists change is read from matplotlib's `stale` flag,
which every setter (`set_data`, `set_text`, ...) raises. Artists that changed once stay in the
changing layer, so moving another slider does not rebuild the layers.

The figure is drawn in full instead, and the layers rebuilt at the next redraw, whenever the
layers would no longer be right: an axes' limits, scale, ticks or position changed (the stored
ticks would be stale), an artist of the background or overlay changed or was removed, or an
artist was added below the background's top. So an update function that keeps its artists and
its axes limits (no `cla()`, no new legend per redraw) is redrawn by blitting.

Axes that overlap (twin axes, insets) are layered together, in their drawing order.
"""

from __future__ import annotations

from operator import attrgetter

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["Blitter"]


def _children(artist) -> list:
    """What the artist contains; for an axis, the ticks it has (its `get_children` would ask
    the locators for the ticks, which costs milliseconds on a log axis)."""
    if isinstance(artist, Axis):
        return [artist.label, artist.offsetText, *artist.majorTicks, *artist.minorTicks]
    return artist.get_children()


def _changed(artist) -> bool:
    """Has the artist (or anything it contains) changed since the last full draw? (`_settle`
    clears the flags that a draw leaves raised: on empty texts, on ticks.)"""
    return artist.stale or any(_changed(child) for child in _children(artist))


def _settle(artist) -> None:
    """Mark the artist and everything it contains as drawn."""
    artist.stale = False  # lowering the flag does not propagate; raising it does
    for child in _children(artist):
        _settle(child)


def _axes_items(ax) -> list:
    """ax's artists in the order `Axes.draw` draws them (its patch first)."""
    items = [a for a in ax.get_children() if a is not ax.patch]
    if not (ax.axison and ax._frameon):
        items = [a for a in items if a not in ax.spines.values()]
    if not ax.axison:
        items = [a for a in items if a not in ax._axis_map.values()]
    items = [a for a in items if not a.get_animated()]
    patch = [ax.patch] if ax.axison and ax._frameon else []
    return patch + sorted(items, key=attrgetter("zorder"))


def _groups(fig) -> list[list] | None:
    """The figure's artists in drawing order, as independent groups: one per set of
    overlapping axes, then the figure's own artists (texts, legends). None where the figure
    draws in a way this module does not follow (subfigures, figure artists below the axes)."""
    children = [a for a in fig.get_children() if a is not fig.patch and not a.get_animated()]
    children = sorted(children, key=attrgetter("zorder"))
    axes = [a for a in children if isinstance(a, Axes) and a.get_visible()]
    own = [a for a in children if not isinstance(a, Axes)]
    if any(isinstance(a, Figure) or a.zorder < 0 for a in own):
        return None
    clusters: list[list] = []
    for ax in axes:
        box = ax.bbox
        touching = [c for c in clusters if any(box.overlaps(other.bbox) for other in c)]
        merged = [a for c in touching for a in c] + [ax]
        clusters = [c for c in clusters if not any(c is t for t in touching)] + [merged]
    groups = [[a for ax in sorted(c, key=axes.index) for a in _axes_items(ax)] for c in clusters]
    return groups + [own]


def _signature(fig) -> tuple:
    """What the background's ticks, tick labels and positions depend on."""
    sig = [fig.bbox.bounds, fig.dpi, fig.patch.get_facecolor(), fig.patch.get_visible()]
    for ax in fig.axes:
        sig.append((id(ax), ax.get_visible(), ax.get_position().bounds, ax.axison))
        if ax.get_visible():
            for axis in ax._axis_map.values():
                sig.append((axis.get_view_interval().tolist(), axis.get_scale(),
                            id(axis.get_major_locator()), id(axis.get_major_formatter()),
                            id(axis.get_minor_locator()), axis.get_visible()))
    return tuple(sig)


class _Layers:
    """The three layers of one figure state (see the module docstring)."""

    def __init__(self, groups, splits):
        # per group: (background ids, changing artists, overlay ids)
        self.parts = [(tuple(map(id, g[:a])), g[a:b], tuple(map(id, g[b:])))
                      for g, (a, b) in zip(groups, splits, strict=True)]
        self.background = None   # canvas region (copy_from_bbox)
        self.overlay = []        # [(slice rows, slice cols, premultiplied rgb, 255 - alpha)]

    def fits(self, groups) -> bool:
        """Are these layers right for the figure's artists now?"""
        if len(groups) != len(self.parts):
            return False
        for g, (below, _, above) in zip(groups, self.parts, strict=True):
            n, m = len(below), len(above)
            if len(g) < n + m or tuple(map(id, g[:n])) != below \
                    or tuple(map(id, g[len(g) - m:])) != above:
                return False
            if any(_changed(a) for a in g[:n]) or any(_changed(a) for a in g[len(g) - m:]):
                return False
        return True

    def changing(self, groups) -> list:
        """The artists to draw over the background, in drawing order."""
        out = []
        for g, (below, _, above) in zip(groups, self.parts, strict=True):
            out += g[len(below):len(g) - len(above)]
        return out


class Blitter:
    """Draws `fig` after in-place updates, blitting when it can (see the module docstring).

    `draw()` leaves the canvas's buffer (`FigureCanvasAgg.buffer_rgba()`) holding the figure, as
    `canvas.draw()` would, and returns how: "full", "layers" (the layers were built), "blit", or
    "unchanged" (nothing changed since the last draw: the buffer holds the figure already).
    """

    def __init__(self, fig: Figure):
        self.fig = fig
        self.canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) \
            else FigureCanvasAgg(fig)
        self.layers: _Layers | None = None
        self._full()

    def draw(self) -> str:
        groups = _groups(self.fig)
        if groups is None or _signature(self.fig) != self.signature:
            return self._full()
        if self.layers is not None and self.layers.fits(groups):
            self._blit(self.layers.changing(groups))
            return "blit"
        # What changed now, and what changed before (it stays in the changing layer).
        ids = {id(a) for a in self.layers.changing(groups)} if self.layers else set()
        splits = []
        for g in groups:
            at = [i for i, a in enumerate(g) if id(a) in ids or _changed(a)]
            splits.append((at[0], at[-1] + 1) if at else (len(g), len(g)))
        if all(a == b for a, b in splits):
            return "unchanged"
        self.layers = _Layers(groups, splits)
        self._build(groups, splits)
        self._blit(self.layers.changing(groups))
        return "layers"

    def _full(self) -> str:
        self.canvas.draw()
        _settle(self.fig)
        self.signature, self.layers = _signature(self.fig), None
        return "full"

    def _build(self, groups, splits) -> None:
        """Render the background (changing and overlay hidden) and the overlay (only it shown,
        on a transparent canvas)."""
        below = [a for g, (start, _) in zip(groups, splits, strict=True) for a in g[:start]]
        changing = [a for g, (s, e) in zip(groups, splits, strict=True) for a in g[s:e]]
        above = [a for g, (_, end) in zip(groups, splits, strict=True) for a in g[end:]]
        # Axes.draw lines its titles up with the highest one, and finds a hidden title at the
        # bottom of the figure: keep the titles where the last full draw placed them.
        auto = [(ax, ax._autotitlepos) for ax in self.fig.axes]
        for ax, _ in auto:
            ax._autotitlepos = False
        try:
            with _hidden(changing + above):
                self.canvas.draw()
            self.layers.background = self.canvas.copy_from_bbox(self.fig.bbox)
            if above:
                with _hidden(below + changing + [self.fig.patch]):
                    self.canvas.draw()
                self.layers.overlay = _overlay_tiles(np.asarray(self.canvas.buffer_rgba()))
        finally:
            for ax, value in auto:
                ax._autotitlepos = value
        _settle(self.fig)  # (hiding and showing again marked them as changed)

    def _blit(self, changing) -> None:
        self.canvas.restore_region(self.layers.background)
        renderer = self.canvas.get_renderer()
        for a in changing:
            a.draw(renderer)
        if self.layers.overlay:
            image = np.asarray(self.canvas.buffer_rgba())
            for rows, cols, premultiplied, transparency in self.layers.overlay:
                rgb = image[rows, cols, :3].astype(np.uint32)
                image[rows, cols, :3] = (premultiplied + rgb * transparency + 127) // 255


class _hidden:
    """Context: these artists invisible, then visible again as they were."""

    def __init__(self, artists):
        self.artists = [a for a in artists if a.get_visible()]

    def __enter__(self):
        for a in self.artists:
            a.set_visible(False)

    def __exit__(self, *exc):
        for a in self.artists:
            a.set_visible(True)


def _overlay_tiles(rgba: np.ndarray, tile: int = 64) -> list:
    """The non-transparent parts of an RGBA image, as tiles ready to lay over another image:
    (rows, cols, colour × alpha, 255 − alpha), in uint32 to blend without overflow."""
    alpha = rgba[..., 3]
    tiles = []
    for r0 in range(0, alpha.shape[0], tile):
        for c0 in range(0, alpha.shape[1], tile):
            rows, cols = slice(r0, r0 + tile), slice(c0, c0 + tile)
            a = alpha[rows, cols]
            if not a.any():
                continue
            rr, cc = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
            rows = slice(r0 + rr[0], r0 + rr[-1] + 1)
            cols = slice(c0 + cc[0], c0 + cc[-1] + 1)
            a = rgba[rows, cols, 3:4].astype(np.uint32)
            tiles.append((rows, cols, rgba[rows, cols, :3].astype(np.uint32) * a, 255 - a))
    return tiles
