"""A static site of tutorials: one offline page per notebook and an index.

    python -m proppo_lab export notebooks/ -o site/

writes ``site/<notebook>.html`` for every notebook in the folder (executed
first, :func:`.export.execute`, unless ``--no-execute``), ``site/index.html``
(each page's title, a one-line summary and a thumbnail of its first graph,
``site/thumbs/<notebook>.svg``) and ``site/plotly.min.js``. The pages load
plotly.js from that one file instead of inlining it (about 4.6 MB each), so
the site is ready for any static host (GitHub Pages, a folder on a USB stick)
and a browser fetches plotly.js once for all the pages.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbconvert.filters.markdown_mistune import MarkdownWithMath

from .export import OfflineHTMLExporter, execute
from .graph_snapshot import standalone
from .maths import CSS as MATHS_CSS
from .maths import MathMLRenderer
from .static_widgets import METADATA_KEY

log = logging.getLogger(__name__)

PLOTLY_FILE = "plotly.min.js"

_INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 960px; margin: 2em auto; padding: 0 1em;
       color: #222; }}
.pl-card {{ display: flex; gap: 16px; align-items: center; padding: 12px 0;
           border-bottom: 1px solid #e5e5e5; }}
.pl-card img {{ width: 180px; height: 90px; object-fit: contain; flex: none;
               background: #fafafa; border: 1px solid #eee; border-radius: 4px; }}
.pl-card h2 {{ font-size: 1.15em; margin: 0 0 4px; }}
.pl-card p {{ margin: 0; color: #444; }}
{maths}
</style></head>
<body><h1>{title}</h1>
{cards}
</body></html>
"""


def build(
    folder: str | Path,
    output: str | Path,
    *,
    execute_first: bool = True,
    timeout: int = 600,
    kernel_name: str | None = None,
    title: str = "Proppo Lab tutorials",
    load: Callable[[Path], nbformat.NotebookNode] | None = None,
) -> dict:
    """Build the site (see the module docstring); returns its sizes in bytes:
    ``{"pages": {name: bytes}, "plotly_js": bytes, "index": bytes, "total": bytes}``.

    ``load(path)``: the executed notebook to export (tests pass notebooks they
    already executed); default: read it and, with ``execute_first``, run it.
    """
    folder, output = Path(folder), Path(output)
    notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {folder}")
    (output / "thumbs").mkdir(parents=True, exist_ok=True)
    from plotly.offline import get_plotlyjs

    (output / PLOTLY_FILE).write_text(get_plotlyjs(), encoding="utf-8")
    cards, pages = [], {}
    for path in notebooks:
        nb = load(path) if load is not None else _read(path, execute_first, timeout, kernel_name)
        thumb = _thumbnail(nb)  # read before export: the preprocessor drops the snapshots
        body, _ = OfflineHTMLExporter(plotly_src=PLOTLY_FILE).from_notebook_node(
            nb, resources={"metadata": {"name": path.stem, "path": str(path.parent)}}
        )
        page = output / f"{path.stem}.html"
        page.write_text(body, encoding="utf-8")
        pages[page.name] = page.stat().st_size
        if thumb:
            (output / "thumbs" / f"{path.stem}.svg").write_text(thumb, encoding="utf-8")
        cards.append(_card(page.name, nb, f"thumbs/{path.stem}.svg" if thumb else ""))
    index = output / "index.html"
    index.write_text(
        _INDEX.format(title=html.escape(title), cards="\n".join(cards), maths=MATHS_CSS),
        encoding="utf-8",
    )
    sizes = {
        "pages": pages,
        "plotly_js": (output / PLOTLY_FILE).stat().st_size,
        "index": index.stat().st_size,
        "thumbs": sum(p.stat().st_size for p in (output / "thumbs").glob("*.svg")),
    }
    sizes["total"] = sum(pages.values()) + sizes["plotly_js"] + sizes["index"] + sizes["thumbs"]
    return sizes


def _read(path: Path, execute_first: bool, timeout: int, kernel_name: str | None):
    nb = nbformat.read(path, as_version=4)
    if execute_first:
        log.info("site: executing %s", path.name)
        execute(nb, cwd=path.parent.resolve(), timeout=timeout, kernel_name=kernel_name)
    return nb


def title_and_summary(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """The first markdown heading, and the first sentence of the text after it
    (markdown, maths included, left for the index to render).

    A paragraph that ends in a colon introduces what follows it (a formula, a
    list) and has no full stop of its own; the card does not show what follows,
    so its summary ends at the colon's clause, with a full stop.
    """
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    heading = re.search(r"^#\s+(.+)$", text, re.M)
    title = heading.group(1).strip() if heading else "Untitled notebook"
    rest = text[heading.end() :] if heading else text
    paragraph = next((p.strip() for p in re.split(r"\n\s*\n", rest) if _is_prose(p)), "")
    # a sentence ends at ". " outside maths; formulas may hold dots and spaces
    sentence, in_maths = [], False
    for i, ch in enumerate(paragraph):
        sentence.append(ch)
        in_maths ^= ch == "$"
        if ch == "." and not in_maths and paragraph[i + 1 : i + 2] in ("", " ", "\n"):
            break
    summary = " ".join("".join(sentence).split())
    if summary.endswith(":"):
        summary = summary[:-1] + "."
    return title, summary


def _is_prose(paragraph: str) -> bool:
    p = paragraph.strip()
    return bool(p) and not p.startswith(("#", "|", "$$", "```", "<", "*", "-", ">"))


def _card(page: str, nb: nbformat.NotebookNode, thumb: str) -> str:
    title, summary = title_and_summary(nb)
    summary_html = MarkdownWithMath(renderer=MathMLRenderer(escape=False)).render(summary)
    img = f'<img src="{html.escape(thumb)}" alt="">' if thumb else ""
    return (
        f'<div class="pl-card">{img}<div><h2><a href="{html.escape(page)}">'
        f"{html.escape(title)}</a></h2>{summary_html}</div></div>"
    )


def _thumbnail(nb: nbformat.NotebookNode) -> str:
    """The first graph the notebook shows, as a standalone SVG ('' when it has none)."""
    snapshots = (nb.metadata.get(METADATA_KEY) or {}).get("snapshots") or {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            model = (data.get("application/vnd.jupyter.widget-view+json") or {}).get("model_id")
            svg = _graph_svg(snapshots, model) if model else ""
            svg = svg or standalone(data.get("image/svg+xml") or "")
            if svg:
                return '<?xml version="1.0" encoding="UTF-8"?>\n' + svg
    return ""


def _graph_svg(snapshots: dict, model_id: str) -> str:
    snap = snapshots.get(model_id) or {}
    if snap.get("kind") == "lab":
        snap = snapshots.get(snap.get("graph", "")) or {}
    return standalone(snap.get("svg") or "") if snap.get("kind") == "graph" else ""


def report(sizes: dict) -> str:
    """The sizes as a short text (the CLI prints it)."""
    mb = 1024 * 1024
    lines = [f"  {name:<40} {size / mb:6.2f} MB" for name, size in sizes["pages"].items()]
    lines.append(f"  {PLOTLY_FILE + ' (shared)':<40} {sizes['plotly_js'] / mb:6.2f} MB")
    lines.append(f"  {'total':<40} {sizes['total'] / mb:6.2f} MB")
    return "\n".join(lines) + "\n" + json.dumps(sizes)
