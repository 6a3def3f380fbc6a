"""Build the static HTML edition of the book: the executed chapters as web pages, offline.

    python scripts/build_html.py [--out build/html] [chapters/00_tour.ipynb ...]

Each chapter's stored outputs (no kernel is started: the notebooks are executed by `make test`
and committed with their outputs) become one page with its figures embedded, math rendered by a
local copy of MathJax 2 (from the `jupyter-server-mathjax` package, so no CDN is needed), a
"hide code" switch and links to the previous / next chapter. index.html lists the chapters in
order with their first heading. Widgets need a kernel, so their views are dropped (each
interactive cell's default figure stays) and no page loads a script from the network. Open
build/html/index.html in any browser.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"

TOOLBAR = """
<nav class="book-nav">
  <a href="index.html">Contents</a>{prev}{next}
  <button id="book-toggle-code" type="button">hide code</button>
</nav>
<script>
document.getElementById("book-toggle-code").addEventListener("click", function () {{
  var hidden = document.body.classList.toggle("book-hide-code");
  this.textContent = hidden ? "show code" : "hide code";
}});
</script>
"""
STYLE = """
<style>
.book-nav { position: sticky; top: 0; z-index: 10; background: #f7f7f7; padding: 6px 16px;
  border-bottom: 1px solid #ddd; font-family: sans-serif; font-size: 14px; }
.book-nav a { margin-right: 16px; }
.book-nav button { float: right; }
body.book-hide-code .jp-CodeCell .jp-Cell-inputWrapper { display: none; }
</style>
"""


def chapter_title(nb) -> str:
    """The first Markdown heading of the notebook (e.g. "00 · A tour of the book")."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "untitled"


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
REMOTE_SCRIPT = re.compile(r'<script src="https?://[^"]*"></script>')


def without_widgets(nb):
    """Drop live-widget views and saved widget state: they need a kernel (or a CDN) to show
    anything. An interactive cell's figure (a `lib.widgets.LiveFigure`) also stores the PNG of
    its default state: that output stays, as a plain image."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            for o in cell.outputs:
                if "image/png" in o.get("data", {}):
                    o.data.pop(WIDGET_VIEW, None)
            cell.outputs = [o for o in cell.outputs if WIDGET_VIEW not in o.get("data", {})]
    return nb


def mathjax_folder() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError as err:
        raise SystemExit(
            "the HTML edition needs a local MathJax: pip install jupyter-server-mathjax "
            "(it is in requirements.txt)"
        ) from err
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def build(notebooks, out: Path) -> list[Path]:
    """Write one page per notebook and index.html into ``out``; returns the page paths."""
    notebooks = [Path(p) for p in notebooks]
    if not notebooks:
        raise SystemExit("no notebooks to build")
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "mathjax").exists():
        shutil.copytree(mathjax_folder(), out / "mathjax")
    exporter = HTMLExporter(template_name="lab")
    exporter.mathjax_url = f"mathjax/MathJax.js?config={MATHJAX_CONFIG}"
    pages, titles = [p.with_suffix(".html").name for p in notebooks], []
    for i, path in enumerate(notebooks):
        nb = without_widgets(nbformat.read(path, as_version=4))
        titles.append(chapter_title(nb))
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": titles[-1]}})
        prev = f'<a href="{pages[i - 1]}">← previous</a>' if i > 0 else ""
        nxt = f'<a href="{pages[i + 1]}">next →</a>' if i + 1 < len(pages) else ""
        body = REMOTE_SCRIPT.sub("", body).replace("</head>", STYLE + "</head>", 1)
        start = body.index(">", body.index("<body")) + 1
        body = body[:start] + TOOLBAR.format(prev=prev, next=nxt) + body[start:]
        (out / pages[i]).write_text(body, encoding="utf-8")
    items = "\n".join(
        f'  <li><a href="{page}">{html.escape(title)}</a></li>'
        for page, title in zip(pages, titles, strict=True)
    )
    (out / "index.html").write_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        "<title>Training Neural Networks Well</title></head>\n<body style='font-family: "
        "sans-serif; max-width: 760px; margin: 40px auto'>\n<h1>Training Neural Networks Well"
        "</h1>\n<p>The static edition: every chapter with the outputs of its last run. The "
        "sliders need a running kernel (<code>make lab</code>); here each one shows its default "
        f"figure.</p>\n<ol start='0'>\n{items}\n</ol>\n</body></html>\n",
        encoding="utf-8",
    )
    return [out / page for page in pages]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="default: chapters/*.ipynb in order")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "html")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    for page in build(notebooks, args.out):
        print(page.relative_to(args.out.parent) if args.out.parent in page.parents else page)
    print(f"open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
