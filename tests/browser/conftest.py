"""Fixtures of the browser test: one JupyterLab server and one headless Chromium for the session.

The browser test takes minutes, so it runs only when asked for by path (`make test-browser`, i.e.
`pytest tests/browser`, or a file or test in it) or with BOOK_BROWSER_TEST=1; a plain `pytest`
(`make test`) lists it as skipped.
"""

from __future__ import annotations

import json
import os
import runpy
import time
from pathlib import Path

import pytest

from browser_lab import CHROMIUM, ROOT, start_lab

HERE = Path(__file__).resolve().parent
REPORT = Path(os.environ.get("BOOK_BROWSER_REPORT", ROOT / "benchmarks/results/browser.json"))


def _asked_for(config) -> bool:
    if os.environ.get("BOOK_BROWSER_TEST") == "1":
        return True
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config, items):
    if _asked_for(config):
        return
    skip = pytest.mark.skip(reason="the browser test runs with `make test-browser` "
                                   "(pytest tests/browser)")
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, config):
    """Print the table of run-all times and slider latencies when this session wrote it."""
    if getattr(config, "_browser_report_written", False) and REPORT.exists():
        table = runpy.run_path(str(ROOT / "benchmarks/browser_report.py"))["format_report"]
        terminalreporter.write_sep("-", f"browser test report ({REPORT})")
        terminalreporter.write_line(table(json.loads(REPORT.read_text())))


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab server on a temporary copy of the chapters; stopped at the end, always."""
    server = start_lab(tmp_path_factory.mktemp("jupyterlab"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, "
                    "or set BOOK_CHROMIUM)")
    with sync_playwright() as pw:
        args = ["--disable-dev-shm-usage"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        yield chromium
        chromium.close()


class Pages:
    """One browser page per chapter. `open` may be called ahead of time: the next chapters'
    kernels then start while the current ones run (not while their sliders are timed)."""

    def __init__(self, browser, lab):
        self.browser, self.lab, self.open_pages = browser, lab, {}

    def open(self, chapter: str):
        if chapter not in self.open_pages:
            page = self.browser.new_page(viewport={"width": 1366, "height": 768})
            self.open_pages[chapter] = page
            page.goto(self.lab.url(chapter), timeout=120_000)
        return self.open_pages[chapter]

    def prefetch(self, chapter: str | None) -> None:
        """Open `chapter` ahead of its test; on failure its test opens it again."""
        if chapter is None:
            return
        try:
            self.open(chapter)
        except Exception:
            self.close(chapter)

    def close(self, chapter: str) -> None:
        page = self.open_pages.pop(chapter, None)
        if page is None:
            return
        try:  # free the kernel now rather than when the server stops
            page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        except Exception:
            pass
        page.close()


@pytest.fixture(scope="session")
def pages(browser, lab):
    opened = Pages(browser, lab)
    yield opened
    for chapter in list(opened.open_pages):
        opened.close(chapter)


@pytest.fixture
def pairing(request) -> tuple[list, list]:
    """(this test's chapter and its partner, the next two): the selected chapters are run two at
    a time (two kernels on two cores), and the next two open while they run."""
    chapters = [i.callspec.params["chapter"] for i in request.session.items
                if hasattr(i, "callspec") and "chapter" in i.callspec.params]
    k = chapters.index(request.node.callspec.params["chapter"]) // 2 * 2
    return chapters[k:k + 2], chapters[k + 2:k + 4]


@pytest.fixture(scope="session")
def runs() -> dict:
    """{chapter: its run-all result}, filled two chapters at a time."""
    return {}


class Report:
    """The JSON report, rewritten after each chapter so that a failure keeps what was measured."""

    def __init__(self, config):
        self.config = config
        self.data = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                     "load_average": os.getloadavg(), "chapters": {}}

    def add(self, chapter: str, entry: dict) -> None:
        self.data["chapters"][chapter] = entry
        self.data["load_average_end"] = os.getloadavg()
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(json.dumps(self.data, indent=1) + "\n")
        self.config._browser_report_written = True


@pytest.fixture(scope="session")
def report(request):
    return Report(request.config)
