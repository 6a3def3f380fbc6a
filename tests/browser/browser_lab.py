"""JupyterLab + Chromium plumbing for the browser test: start a throw-away JupyterLab server, and
the JavaScript that reads a notebook's state and times a slider's redraw inside the page.

The server runs on 127.0.0.1 with a random port and token, on a temporary copy of the chapters
and with temporary settings, runtime, workspace and config folders: nothing in the repository or
in ~/.jupyter is read or written. `window.jupyterapp` is exposed so the test can run commands.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("BOOK_CHROMIUM", "/usr/bin/chromium")

# JupyterLab settings for a quiet, predictable page: no news or update pop-ups, every cell kept
# in the DOM (the default windowing detaches cells outside the viewport), no autosave.
OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension:plugin": {"autosave": False},
}

# ... plus the book's own defaults, as `make lab` installs them (widget state saved with the
# notebook).
OVERRIDES.update(json.loads((ROOT / "config" / "jupyterlab-overrides.json").read_text()))

THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab server."""

    proc: subprocess.Popen
    base: str
    token: str
    log: Path

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM (the server shuts its kernels down), then SIGKILL the group if it hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def log_tail(self, n: int = 30) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def prepare(tmp: Path) -> Path:
    """Copy the chapters and write the settings under `tmp`; return the notebook folder."""
    notebooks = tmp / "chapters"
    notebooks.mkdir(parents=True)
    for nb in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        shutil.copy2(nb, notebooks / nb.name)
    for name in ("app-settings", "user-settings", "workspaces", "runtime", "config"):
        (tmp / name).mkdir()
    (tmp / "app-settings" / "overrides.json").write_text(json.dumps(OVERRIDES, indent=1))
    return notebooks


def start_lab(tmp: Path, timeout: float = 120, attempts: int = 2) -> Lab:
    """Start JupyterLab serving `tmp`/chapters; wait until it answers. Retries once on failure."""
    notebooks = prepare(tmp)
    env = dict(os.environ, BOOK_DEVICE="cpu", **THREADS,
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"))
    errors = []
    for attempt in range(1, attempts + 1):
        port, token = free_port(), secrets.token_hex(16)
        log = tmp / f"jupyterlab-{attempt}.log"
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
               f"--LabApp.app_settings_dir={tmp / 'app-settings'}",
               "--LabApp.expose_app_in_browser=True"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, env=env, cwd=notebooks, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        lab = Lab(proc, f"http://127.0.0.1:{port}", token, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if lab.answers():
                return lab
            time.sleep(0.5)
        lab.stop()
        errors.append(f"attempt {attempt}: exit code {proc.returncode}, log:\n{lab.log_tail()}")
    raise RuntimeError("JupyterLab did not start:\n" + "\n".join(errors))


# Installed in the page once the notebook is open: window.__bt.state() reports the kernel status,
# the executed code cells and any error; arm()/result() time one slider's redraw.
PAGE_HELPERS = r"""
() => {
  const app = window.jupyterapp;
  const panel = () => app.shell.currentWidget;
  const text = t => [].concat(t ?? []).join('');
  const controls = kind => [...document.querySelectorAll(`.jp-Notebook .widget-${kind}`)];
  const sliders = () => controls('slider');

  // The figure a slider drives: the nearest output before the slider's own output, in the same
  // cell, that shows an image (lib.widgets displays the figure, then the controls below it).
  function figureOf(slider) {
    let child = slider.closest('.jp-OutputArea-child');
    while ((child = child && child.previousElementSibling)) {
      if (child.querySelector('img')) return child;
    }
    return null;
  }
  const imgSrc = child => child?.querySelector('img')?.getAttribute('src') ?? null;

  // When the kernel's status last changed (busy or idle), in the page's clock.
  let statusSince = performance.now();
  panel().sessionContext.statusChanged.connect(() => { statusSince = performance.now(); });
  const kernelStatus = () => panel().sessionContext.session?.kernel?.status ?? 'none';

  window.__bt = {
    // The kernel idle for at least ms.
    quiet(ms) {
      return kernelStatus() === 'idle' && performance.now() - statusSince >= ms;
    },

    // The armed control's figure changed, and since then neither it nor the kernel has for ms.
    settled(ms) {
      const m = window.__bt.measure;
      return m.changed !== null && window.__bt.quiet(ms) && performance.now() - m.last >= ms;
    },

    state() {
      const nb = panel();
      const cells = nb.content.widgets;
      const errors = [];
      let total = 0, done = 0;
      cells.forEach((cell, i) => {
        if (cell.model.type !== 'code') return;
        const source = cell.model.sharedModel.getSource();
        if (source.trim()) { total += 1; done += cell.model.executionCount !== null ? 1 : 0; }
        for (const o of cell.model.outputs.toJSON()) {
          if (o.output_type === 'error') {
            errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
          } else if (o.output_type === 'stream' && o.name === 'stderr'
                     && text(o.text).includes('Traceback')) {
            errors.push(`cell ${i} (stderr): ${text(o.text).slice(-500)}`);
          }
        }
      });
      const stderr = 'application/vnd.jupyter.stderr';
      for (const el of document.querySelectorAll(
          `.jp-Notebook .jp-OutputArea-output[data-mime-type="${stderr}"]`)) {
        if (el.textContent.includes('Traceback')) errors.push('error output: ' +
                                                               el.textContent.slice(-500));
      }
      for (const el of document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')) {
        if (/Error displaying widget|Error rendering output/.test(el.textContent))
          errors.push('widget: ' + el.textContent.slice(0, 300));
      }
      const kernel = nb.sessionContext.session?.kernel;
      return {path: nb.context?.path ?? null, status: kernel ? kernel.status : 'none',
              total, done, errors: [...new Set(errors)]};
    },

    widgets() {
      const cellOf = el => {
        const cell = el.closest('.jp-Cell');
        return [...cell.parentElement.children].indexOf(cell);
      };
      return {
        checkboxes: controls('checkbox').length,
        dropdowns: controls('dropdown').map((d, i) => ({
          index: i, label: d.querySelector('.widget-label')?.textContent.trim() ?? '',
          cell: cellOf(d), figure: figureOf(d) !== null})),
        sliders: sliders().map((s, i) => {
          const h = s.querySelector('.noUi-handle');
          return {index: i, label: s.querySelector('.widget-label')?.textContent.trim() ?? '',
                  readout: s.querySelector('.widget-readout')?.textContent.trim() ?? '',
                  cell: cellOf(s),
                  now: +h.getAttribute('aria-valuenow'), min: +h.getAttribute('aria-valuemin'),
                  max: +h.getAttribute('aria-valuemax'), figure: figureOf(s) !== null};
        }),
      };
    },

    // Arm control i of a kind ('slider' or 'dropdown'): remember its figure's image, then record
    // the time of the next key press on the page (or of choose()), the time a different image
    // appears in the figure's output, and how many new images arrive.
    arm(kind, i) {
      const control = controls(kind)[i];
      const area = control.closest('.jp-OutputArea');
      let last = imgSrc(figureOf(control));
      const m = window.__bt.measure = {pressed: null, changed: null, last: null, readout: null,
                                       changes: 0};
      document.addEventListener('keydown', () => { m.pressed = performance.now(); },
                                {capture: true, once: true});
      const check = () => {
        const src = imgSrc(figureOf(controls(kind)[i]));
        if (m.pressed === null || src === null || src === last) return;
        last = src;
        m.changes += 1;
        m.last = performance.now();
        if (m.changed === null) {
          m.changed = performance.now();
          m.readout = controls(kind)[i].querySelector('.widget-readout')?.textContent.trim();
        }
      };
      const observer = new MutationObserver(check);
      observer.observe(area, {subtree: true, childList: true, attributes: true,
                              attributeFilter: ['src']});
      m.stop = () => observer.disconnect();
      return last !== null;
    },

    // Select dropdown i's next option (as a reader would); return the option chosen.
    choose(i) {
      const select = controls('dropdown')[i].querySelector('select');
      select.selectedIndex = (select.selectedIndex + 1) % select.options.length;
      window.__bt.measure.pressed = performance.now();
      select.dispatchEvent(new Event('change', {bubbles: true}));
      return select.value;
    },

    result() {
      const m = window.__bt.measure;
      return m.changed === null ? null
        : {ms: m.changed - m.pressed, readout: m.readout, changes: m.changes};
    },

    // Scroll control i's figure to the top of the notebook; return whether the figure and all
    // the controls below it (the cell's output after the figure) lie within the window.
    fits(kind, i) {
      const control = controls(kind)[i];
      const figure = figureOf(control);
      figure.scrollIntoView({block: 'start'});
      const box = control.closest('.jp-OutputArea-child').getBoundingClientRect();
      const fig = figure.getBoundingClientRect();
      const bottom = Math.max(box.bottom, fig.bottom), right = Math.max(box.right, fig.right);
      return {fits: fig.top >= 0 && bottom <= window.innerHeight && right <= window.innerWidth,
              figure: [fig.width, fig.height], bottom, right,
              window: [window.innerWidth, window.innerHeight]};
    },

    // Slider i's handle and track in window coordinates (scrolled into view), for a mouse drag;
    // the measure armed for it starts at the mouse press.
    grab(i) {
      const slider = sliders()[i];
      slider.scrollIntoView({block: 'center'});
      const h = slider.querySelector('.noUi-handle').getBoundingClientRect();
      const track = slider.querySelector('.noUi-base, .noUi-target').getBoundingClientRect();
      document.addEventListener('pointerdown', () => {
        window.__bt.measure.pressed = performance.now(); }, {capture: true, once: true});
      return {x: h.x + h.width / 2, y: h.y + h.height / 2, left: track.left, right: track.right};
    },

    dirty() { return panel().context.model.dirty; },
  };
}
"""
