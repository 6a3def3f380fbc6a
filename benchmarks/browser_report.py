"""Print the browser test's report (benchmarks/results/browser.json, written by
`make test-browser`): per chapter the kernel start and run-all times in JupyterLab, and per
slider the time from a key press on its handle to the new figure in the page; per figure, how
many times a mouse drag of its first slider redrew it.

Usage: python benchmarks/browser_report.py [report.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent / "results" / "browser.json"


def format_report(data: dict) -> str:
    load = ", ".join(f"{x:.1f}" for x in data.get("load_average", []))
    lines = [f"browser test of {data.get('started', '?')} (load average {load})",
             f"{'chapter / slider':<44} {'kernel s':>8} {'run-all s':>9} "
             f"{'median ms':>9} {'min ms':>7} {'max ms':>7}"]
    for chapter, c in data.get("chapters", {}).items():
        kernel, run = c.get("kernel_wait_s", c.get("kernel_start_s")), c.get("run_all_s")
        lines.append(f"{chapter:<44} {_num(kernel, 8, '.1f')} {_num(run, 9, '.1f')}")
        for s in c.get("sliders", []):
            label = f"  cell {s['cell']}: {s['label']}"
            lines.append(f"{label:<44} {'':>8} {'':>9} {_num(s.get('median_ms'), 9, '.0f')} "
                         f"{_num(s.get('min_ms'), 7, '.0f')} {_num(s.get('max_ms'), 7, '.0f')}")
        for d in c.get("drags", []):
            label = f"  cell {d['cell']}: {d['label']} (mouse drag)"
            lines.append(f"{label:<44} {'':>8} {'':>9} {d['redraws']:>4} redraws, first after "
                         f"{d['first_ms']:.0f} ms")
        for problem in c.get("failures", []) + ([c["error"]] if "error" in c else []):
            lines.append(f"  FAILED: {problem.splitlines()[0]}")
    return "\n".join(lines)


def _num(x, width: int, fmt: str) -> str:
    return f"{x:{width}{fmt}}" if isinstance(x, (int, float)) else f"{'-':>{width}}"


def main(path: Path = DEFAULT) -> None:
    if not path.exists():
        print(f"No browser report at {path}: run `make test-browser` to measure.")
        return
    print(format_report(json.loads(path.read_text())))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
