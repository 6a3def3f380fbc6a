"""Every chapter in a real browser: JupyterLab in headless Chromium, driven by Playwright.

For each chapter: open it, clear its outputs, run all cells, wait until every code cell has run
and the kernel is idle, and fail on any error output. Then, for every slider, press an arrow key
on its handle a few times and check that the figure above it (the nearest image output before
the controls, in the same cell) shows a new image each time; the time from the key press to the
new image in the DOM is measured in the page and written to benchmarks/results/browser.json.
Timings are reported, never asserted; only "the figure changed within CHANGE_TIMEOUT_S" is.

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
QUIET_S = 0.2              # kernel idle this long = every redraw has arrived


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
    since = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        idle = state(page)["status"] == "idle"
        now = time.monotonic()
        since = (since or now) if idle else None
        if since is not None and now - since >= QUIET_S:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"kernel not idle within {timeout} s")


def run_all(page, chapter: str, started=lambda: None) -> tuple[float, float]:
    """Wait for the chapter's kernel, run all cells, calling started() once run-all was sent;
    return (seconds waited for the kernel, run-all seconds)."""
    start = time.monotonic()
    page.wait_for_function("window.jupyterapp?.shell.currentWidget?.sessionContext",
                           timeout=KERNEL_TIMEOUT_S * 1000)
    page.evaluate(PAGE_HELPERS)
    wait_for(page, lambda s: s["path"] == chapter and s["status"] == "idle",
             KERNEL_TIMEOUT_S, "the kernel to start")
    kernel_s = time.monotonic() - start

    page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    wait_for(page, lambda s: s["done"] == 0, 30, "the outputs to clear")
    start = time.monotonic()
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    started()
    stalled = {"since": None}

    def finished(s):
        if s["done"] == s["total"] and s["status"] == "idle":
            return True
        idle_unfinished = s["status"] == "idle" and s["done"] < s["total"]
        stalled["since"] = (stalled["since"] or time.monotonic()) if idle_unfinished else None
        assert stalled["since"] is None or time.monotonic() - stalled["since"] < STALL_S, \
            f"run-all stopped: {s['done']} of {s['total']} code cells ran, kernel idle"
        return False

    wait_for(page, finished, RUN_TIMEOUT_S, "run-all", interval=0.5)
    run_s = time.monotonic() - start
    wait_quiet(page)
    return kernel_s, run_s


def press_slider(page, i: int, key: str) -> dict | None:
    """Press `key` on slider i's handle; return {ms, readout} once its figure changed, or None."""
    wait_quiet(page)
    assert page.evaluate("i => window.__bt.arm(i)", i), f"slider {i}: no figure image"
    handle = page.locator(".jp-Notebook .widget-slider").nth(i).locator(".noUi-handle")
    handle.press(key)
    try:
        page.wait_for_function("window.__bt.result() !== null",
                               timeout=CHANGE_TIMEOUT_S * 1000, polling=50)
    except Exception:  # playwright's TimeoutError
        page.evaluate("window.__bt.measure.stop()")
        return None
    return page.evaluate("window.__bt.result()")


def exercise_sliders(page) -> tuple[list, dict, list]:
    """Move every slider PRESSES times; return (per-slider entries, other widgets, failures)."""
    widgets = page.evaluate("window.__bt.widgets()")
    entries, failures = [], []
    for s in widgets["sliders"]:
        name = f"slider {s['index']} '{s['label']}' (cell {s['cell']})"
        if not s["figure"]:
            failures.append(f"{name}: no figure image before its controls")
            continue
        # Away from the nearer end, so that every press gives a new value.
        key = "ArrowLeft" if s["now"] > (s["min"] + s["max"]) / 2 else "ArrowRight"
        times, readouts = [], [s["readout"]]
        for n in range(PRESSES):
            result = press_slider(page, s["index"], key)
            if result is None:
                failures.append(f"{name}: figure unchanged {CHANGE_TIMEOUT_S} s after "
                                f"{key} press {n + 1}")
                break
            times.append(round(result["ms"], 1))
            readouts.append(result["readout"])
        entries.append({"label": s["label"], "cell": s["cell"], "key": key,
                        "readouts": readouts, "latencies_ms": times,
                        **({"median_ms": statistics.median(times), "min_ms": min(times),
                            "max_ms": max(times)} if times else {})})
    others = {"dropdowns": widgets["dropdowns"], "checkboxes": widgets["checkboxes"]}
    return entries, others, failures


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.removesuffix(".ipynb") for c in CHAPTERS])
def test_chapter_runs_and_sliders_redraw(chapter, pages, next_chapter, report):
    entry = {"load_average": os.getloadavg()}
    try:
        page = pages.open(chapter)
        # The next chapter opens (its kernel starts) while this one runs all cells.
        kernel_s, run_s = run_all(page, chapter,
                                  lambda: pages.prefetch(next_chapter))
        entry.update(kernel_wait_s=round(kernel_s, 1), run_all_s=round(run_s, 1))
        entry["sliders"], others, failures = exercise_sliders(page)
        entry.update(others, failures=failures)
        assert not state(page)["errors"], "error output after moving the sliders"
        assert not failures, "\n".join(failures)
    except BaseException as e:
        entry["error"] = f"{type(e).__name__}: {str(e)[:1000]}"
        raise
    finally:
        report.add(chapter, entry)
        pages.close(chapter)
