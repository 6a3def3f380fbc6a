"""The static HTML edition (scripts/build_html.py): one page per chapter, figures embedded,
local MathJax, no script from the network, pages linked in order."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
pytest.importorskip("jupyter_server_mathjax")


def _build_module():
    spec = importlib.util.spec_from_file_location("build_html", ROOT / "scripts" / "build_html.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png_outputs(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return sum("image/png" in out.get("data", {})
               for cell in nb["cells"] if cell["cell_type"] == "code" for out in cell["outputs"])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    _build_module().main(["--out", str(out), *map(str, CHAPTERS[:2])])
    return out


def test_each_chapter_page_has_its_figures_and_local_math(site):
    for notebook in CHAPTERS[:2]:
        page = (site / notebook.with_suffix(".html").name).read_text(encoding="utf-8")
        figures = re.findall(r'<img [^>]*src="data:image/png', page)  # alt text varies by nbconvert
        assert len(figures) == _png_outputs(notebook) > 0
        assert 'src="mathjax/MathJax.js' in page and (site / "mathjax" / "MathJax.js").is_file()
        assert not re.search(r'<script src="https?://', page)  # readable offline
        assert "application/vnd.jupyter.widget-view+json" not in page
        assert "book-toggle-code" in page


def test_index_lists_chapters_in_order_and_pages_link_to_each_other(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<li><a href="([^"]+)">', index)
    assert links == [p.with_suffix(".html").name for p in CHAPTERS[:2]]
    assert "A tour of the book" in index
    first = (site / links[0]).read_text(encoding="utf-8")
    assert f'href="{links[1]}">next' in first and "previous" not in first.split("</nav>")[0]
