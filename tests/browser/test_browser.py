"""Every chapter in a real browser: JupyterLab in headless Chromium, driven by Playwright.

Two chapters at a time (two kernels on two cores): open them, clear their outputs, run all cells,
wait until every code cell has run and the kernels are idle, fail on any error output. Then, one
chapter at a time (the other kernel idle), save it, and for every slider press an
arrow key on its handle a few times, and in every dropdown choose the next option: the figure
above (the nearest image output before the controls, in the same cell) must show a new image
each time, exactly once (linked controls redraw once); and drag the first slider of each figure
with the mouse: the figure must change (while dragging, for figures that follow a drag). The time
from the key press to the new image in the DOM is measured in the page and written to
benchmarks/results/browser.json. Then
each figure, scrolled to the top, must fit the 1366×768 window with its controls, and the
notebook must not be marked modified by all this. The first chapter is then saved, closed and
opened again: its widgets must come back from the saved state. Timings are reported, never
asserted.

Run with `make test-browser`. Skips where Playwright or Chromium is missing.
"""

from __future__ import annotations

import os
import statistics
import time

import pytest

pytest.importorskip("playwright.sync_api",
                    reason="Playwright is not installed (.venv/bin/pip install playwright)")

from browser_lab import PAGE_HELPERS, ROOT  # noqa: E402

CHAPTERS = sorted(p.name for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
PRESSES = int(os.environ.get("BOOK_BROWSER_PRESSES", "3"))  # key presses per slider
KERNEL_TIMEOUT_S = 240     # open the notebook and start its kernel
RUN_TIMEOUT_S = 600        # run all cells of one chapter
STALL_S = 60               # kernel idle but cells left unexecuted: run-all stopped
CHANGE_TIMEOUT_S = 20      # key press -> new figure
QUIET_S = 0.15             # kernel idle and figure unchanged this long = every redraw arrived
POLL_MS = 25               # how often the page checks a waited-for condition
DRAG_MOVES, DRAG_PAUSE_MS = 8, 60  # a mouse drag: this many small moves, this far apart
SHOTS = os.environ.get("BOOK_BROWSER_SHOTS")  # folder for screenshots of each widget


def state(page) -> dict:
    return page.evaluate("window.__bt.state()")


def wait_for(page, done, timeout: float, what: str, interval: float = 0.25) -> dict:
    """Poll the notebook state until done(state); fail on an error output or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        s = state(page)
        assert not s["errors"], f"error output while waiting for {what}:\n" + \
            "\n".join(s["errors"])
        if done(s):
            return s
        assert s["status"] not in ("dead", "autorestarting"), f"kernel {s['status']} ({what})"
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for " \
            f"{what}: {s}"
        page.wait_for_timeout(interval * 1000)


def wait_quiet(page, timeout: float = 120) -> None:
    """Wait until the kernel has been idle for QUIET_S (pending widget redraws are done)."""
    page.wait_for_function(f"window.__bt.quiet({QUIET_S * 1000})", timeout=timeout * 1000,
                           polling=POLL_MS)


def start_run(page, chapter: str) -> float:
    """Wait for the chapter's kernel, clear the outputs and send run-all; return the seconds
    waited for the kernel."""
    start = time.monotonic()
    page.wait_for_function("window.jupyterapp?.shell.currentWidget?.sessionContext",
                           timeout=KERNEL_TIMEOUT_S * 1000)
    page.evaluate(PAGE_HELPERS)
    wait_for(page, lambda s: s["path"] == chapter and s["status"] == "idle",
             KERNEL_TIMEOUT_S, "the kernel to start")
    kernel_s = time.monotonic() - start
    page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    wait_for(page, lambda s: s["done"] == 0, 30, "the outputs to clear")
    # Not awaited: the command's promise resolves only once every cell has run.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    return kernel_s


def run_together(pages, chapters: list, started=lambda: None) -> dict:
    """Run all cells of these chapters at once (one page and kernel each), calling started()
    once run-all was sent to all; return {chapter: {kernel_wait_s, run_all_s} or {error}}."""
    out, running = {}, {}
    for chapter in chapters:
        try:
            page = pages.open(chapter)
            out[chapter] = {"kernel_wait_s": round(start_run(page, chapter), 1)}
            running[chapter] = (page, time.monotonic(), {"since": None})
        except Exception as e:  # noqa: BLE001 - reported by the chapter's own test
            out[chapter] = {"error": f"{type(e).__name__}: {str(e)[:1000]}"}
    started()
    while running:
        for chapter, (page, start, stalled) in list(running.items()):
            try:
                s = state(page)
                assert not s["errors"], "error output during run-all:\n" + "\n".join(s["errors"])
                assert s["status"] not in ("dead", "autorestarting"), f"kernel {s['status']}"
                idle = s["status"] == "idle"
                if idle and s["done"] == s["total"]:
                    out[chapter]["run_all_s"] = round(time.monotonic() - start, 1)
                    del running[chapter]
                    continue
                stalled["since"] = (stalled["since"] or time.monotonic()) if idle else None
                assert stalled["since"] is None or time.monotonic() - stalled["since"] < STALL_S, \
                    f"run-all stopped: {s['done']} of {s['total']} code cells ran, kernel idle"
                assert time.monotonic() - start < RUN_TIMEOUT_S, \
                    f"run-all not done after {RUN_TIMEOUT_S} s: {s}"
            except Exception as e:  # noqa: BLE001 - reported by the chapter's own test
                out[chapter]["error"] = f"{type(e).__name__}: {str(e)[:1000]}"
                del running[chapter]
        time.sleep(0.5)
    for chapter, result in out.items():
        if "error" not in result:
            wait_quiet(pages.open(chapter))
    return out


def redraw(page, kind: str, i: int, act) -> dict | None:
    """Arm control i of `kind`, act(); return {ms, readout, changes} once its figure showed a new
    image and both the kernel and the figure have been quiet for QUIET_S (changes: new images in
    all), or None."""
    wait_quiet(page)
    assert page.evaluate("([k, i]) => window.__bt.arm(k, i)", [kind, i]), \
        f"{kind} {i}: no figure image"
    act()
    try:
        page.wait_for_function(f"window.__bt.settled({QUIET_S * 1000})",
                               timeout=CHANGE_TIMEOUT_S * 1000, polling=POLL_MS)
    except Exception:  # playwright's TimeoutError
        page.evaluate("window.__bt.measure.stop()")
        return None
    page.evaluate("window.__bt.measure.stop()")
    return page.evaluate("window.__bt.result()")


def _check(name, result, what, failures) -> bool:
    """Record a failure unless the figure changed exactly once."""
    if result is None:
        failures.append(f"{name}: figure unchanged {CHANGE_TIMEOUT_S} s after {what}")
    elif result["changes"] != 1:
        failures.append(f"{name}: {result['changes']} redraws after {what} (one expected)")
    return result is not None


def exercise_sliders(page) -> tuple[list, dict, list]:
    """Move every slider PRESSES times and choose another option in every dropdown; each must
    redraw its figure exactly once. Return (per-control entries, other widgets, failures)."""
    widgets = page.evaluate("window.__bt.widgets()")
    entries, failures = [], []
    for s in widgets["sliders"]:
        name = f"slider {s['index']} '{s['label']}' (cell {s['cell']})"
        if not s["figure"]:
            failures.append(f"{name}: no figure image before its controls")
            continue
        # Away from the nearer end, so that every press gives a new value.
        key = "ArrowLeft" if s["now"] > (s["min"] + s["max"]) / 2 else "ArrowRight"
        handle = page.locator(".jp-Notebook .widget-slider").nth(s["index"]).locator(".noUi-handle")
        times, readouts = [], [s["readout"]]
        for n in range(PRESSES):
            now = float(handle.get_attribute("aria-valuenow"))
            if n and now == (s["max"] if key == "ArrowRight" else s["min"]):
                break  # at the end: a short slider (e.g. 4 values) has no more steps this way
            result = redraw(page, "slider", s["index"], lambda: handle.press(key))
            if not _check(name, result, f"{key} press {n + 1}", failures):
                break
            times.append(round(result["ms"], 1))
            readouts.append(result["readout"])
        entries.append({"label": s["label"], "cell": s["cell"], "key": key,
                        "readouts": readouts, "latencies_ms": times, **_stats(times)})
    for d in widgets["dropdowns"]:
        name = f"dropdown {d['index']} '{d['label']}' (cell {d['cell']})"
        if not d["figure"]:
            failures.append(f"{name}: no figure image before its controls")
            continue
        chosen = []
        result = redraw(page, "dropdown", d["index"],
                        lambda: chosen.append(page.evaluate(f"window.__bt.choose({d['index']})")))
        if _check(name, result, f"choosing {chosen}", failures):
            entries.append({"label": f"{d['label']} → {chosen[0]}", "cell": d["cell"],
                            "latencies_ms": [round(result["ms"], 1)],
                            **_stats([round(result["ms"], 1)])})
    return entries, {"checkboxes": widgets["checkboxes"]}, failures


def drag_sliders(page) -> tuple[list, list]:
    """Drag the first slider of each figure with the mouse, a quarter of its track towards the
    farther end, in small moves: the figure must show a new image and the readout a new value.
    Return (per-slider entries: redraws during the drag, ms to the first one; failures)."""
    entries, failures, seen = [], [], set()
    for s in page.evaluate("window.__bt.widgets()")["sliders"]:
        if s["cell"] in seen or not s["figure"]:
            continue
        seen.add(s["cell"])
        name = f"slider {s['index']} '{s['label']}' (cell {s['cell']})"
        wait_quiet(page)
        page.evaluate("([k, i]) => window.__bt.arm(k, i)", ["slider", s["index"]])
        at = page.evaluate(f"window.__bt.grab({s['index']})")
        right = at["right"] - at["x"] > at["x"] - at["left"]
        dx = (at["right"] - at["left"]) / 4 * (1 if right else -1)
        page.mouse.move(at["x"], at["y"])
        page.mouse.down()
        for k in range(1, DRAG_MOVES + 1):
            page.mouse.move(at["x"] + dx * k / DRAG_MOVES, at["y"])
            page.wait_for_timeout(DRAG_PAUSE_MS)
        page.mouse.up()
        try:
            page.wait_for_function(f"window.__bt.settled({QUIET_S * 1000})",
                                   timeout=CHANGE_TIMEOUT_S * 1000, polling=POLL_MS)
        except Exception:  # playwright's TimeoutError: reported below
            pass
        page.evaluate("window.__bt.measure.stop()")
        result = page.evaluate("window.__bt.result()")
        readout = page.evaluate(f"window.__bt.widgets().sliders[{s['index']}].readout")
        if result is None:
            failures.append(f"{name}: figure unchanged after a mouse drag")
        elif readout == s["readout"]:
            failures.append(f"{name}: a mouse drag left the readout at {readout}")
        else:
            entries.append({"label": s["label"], "cell": s["cell"], "redraws": result["changes"],
                            "first_ms": round(result["ms"], 1), "readouts": [s["readout"],
                                                                             readout]})
    return entries, failures


def _stats(times) -> dict:
    return ({"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}
            if times else {})


def check_fit(page, chapter: str) -> list:
    """Each interactive figure, scrolled to the top of the notebook, fits the 1366×768 window
    together with its controls; with $BOOK_BROWSER_SHOTS set, save a screenshot of each there."""
    failures, seen = [], set()
    for s in page.evaluate("window.__bt.widgets()")["sliders"]:
        if s["cell"] in seen or not s["figure"]:
            continue
        seen.add(s["cell"])
        fit = page.evaluate("i => window.__bt.fits('slider', i)", s["index"])
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/{chapter.removesuffix('.ipynb')}-{s['cell']}.png")
        if not fit["fits"]:
            failures.append(f"cell {s['cell']}: figure and controls do not fit the window: {fit}")
    return failures


def reopen_saved(pages, page, chapter: str) -> list:
    """Save the chapter as a reader would after playing, close it, open it again: its figures
    and controls must come back from the saved widget state (config/jupyterlab-overrides.json),
    not as "Error displaying widget: model not found"."""
    count = "document.querySelectorAll('.jp-OutputArea-output .widget-image').length"
    images = page.evaluate(count)
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("!window.__bt.dirty()", timeout=30_000)
    pages.close(chapter)
    page = pages.open(chapter)
    try:
        page.wait_for_function(f"{count} >= {images}", timeout=KERNEL_TIMEOUT_S * 1000)
    except Exception:  # playwright's TimeoutError: reported below
        pass
    text = page.evaluate("document.body.innerText")
    if "model not found" in text or page.evaluate(count) < images:
        return [f"reopened after saving: {page.evaluate(count)} of {images} figures restored, "
                f"{text.count('model not found')} 'model not found' errors"]
    return []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.removesuffix(".ipynb") for c in CHAPTERS])
def test_chapter_runs_and_sliders_redraw(chapter, pages, pairing, runs, report):
    entry = {"load_average": os.getloadavg()}
    try:
        together, ahead = pairing
        if chapter not in runs:  # run with its partner; the next two open meanwhile
            runs.update(run_together(pages, together,
                                     lambda: [pages.prefetch(c) for c in ahead]))
        entry.update(runs[chapter], run_with=[c for c in together if c != chapter])
        assert "error" not in runs[chapter], runs[chapter].get("error")
        page = pages.open(chapter)
        page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function("!window.__bt.dirty()", timeout=30_000)
        entry["sliders"], others, failures = exercise_sliders(page)
        entry["drags"], dragged = drag_sliders(page)
        failures += dragged + check_fit(page, chapter)
        if page.evaluate("window.__bt.dirty()"):
            failures.append("moving the controls marked the notebook as modified")
        entry.update(others, failures=failures)
        assert not state(page)["errors"], "error output after moving the sliders"
        if chapter == CHAPTERS[0]:
            failures += reopen_saved(pages, page, chapter)
        assert not failures, "\n".join(failures)
    except BaseException as e:
        entry["error"] = f"{type(e).__name__}: {str(e)[:1000]}"
        raise
    finally:
        report.add(chapter, entry)
        pages.close(chapter)
