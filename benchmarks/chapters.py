"""Chapter runtimes and widget latencies (a measurement, not a pass/fail test).

1. Executes each chapter notebook (chapters/NN_*.ipynb) with nbclient in a fresh kernel, with a
   temporary folder as working directory; the stored notebook is never modified. Reports the wall
   time, kernel start included, against the 90 s budget of CONTRIBUTING.md.
2. Imports every `lib` module, so that `@lib.widgets.register_widget` fills `lib.widgets.REGISTRY`,
   and times each registered plain figure function at its default parameters: the first call
   ("cold", caches empty) and the median of 5 more ("warm").

Usage: python benchmarks/chapters.py [--skip-chapters] [--skip-widgets] [notebook ...]
Exit status 1 when a notebook or a module fails (the table still lists everything else).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import lib
from lib import widgets

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 90  # per chapter on a 2-core CPU


def run_notebook(path: Path, timeout: int = 600) -> float:
    """Execute a notebook in memory in a temporary working directory; return the wall time (s)."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": tmp}})
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start


def bench_chapters(paths) -> bool:
    print(f"{'chapter':<40} {'seconds':>8}")
    ok = True
    for path in paths:
        try:
            seconds = run_notebook(path)
        except Exception as e:  # report and go on with the other chapters
            print(f"{path.name:<40} {'FAILED':>8}  {type(e).__name__}: {str(e).splitlines()[0:1]}")
            ok = False
            continue
        note = f"  over the {BUDGET_S} s budget" if seconds > BUDGET_S else ""
        print(f"{path.name:<40} {seconds:8.1f}{note}", flush=True)
    return ok


def import_lib_modules() -> dict:
    """Import every lib module (filling REGISTRY); return {module name: exception} for failures."""
    failures = {}
    for info in pkgutil.walk_packages(lib.__path__, "lib."):
        try:
            importlib.import_module(info.name)
        except Exception as e:  # a broken module must not hide the others' timings
            failures[info.name] = e
    return failures


def bench_widgets() -> bool:
    failures = import_lib_modules()
    for name, e in failures.items():
        print(f"import of {name} FAILED: {type(e).__name__}: {e}")
    print(f"\n{'widget (plain function at defaults)':<60} {'cold ms':>8} {'warm ms':>8}")
    if not widgets.REGISTRY:
        print("(no functions registered with @lib.widgets.register_widget)")
    for name, f in sorted(widgets.REGISTRY.items()):
        params = widgets.default_params(f)
        cold = widgets.measure_latency(f, repeat=1, **params)
        warm = widgets.measure_latency(f, repeat=5, **params)
        print(f"{name:<60} {1e3 * cold:8.0f} {1e3 * warm:8.0f}", flush=True)
    return not failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: chapters/NN_*.ipynb)")
    parser.add_argument("--skip-chapters", action="store_true")
    parser.add_argument("--skip-widgets", action="store_true")
    args = parser.parse_args(argv)
    lib.setup(seed=0)  # the chapters' thread count and style, for comparable widget timings
    ok = True
    if not args.skip_chapters:
        ok &= bench_chapters(args.notebooks or sorted(ROOT.glob("chapters/[0-9][0-9]_*.ipynb")))
    if not args.skip_widgets:
        ok &= bench_widgets()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
