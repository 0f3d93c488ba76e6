"""Markdown maths as MathML, so that an exported page shows formulas offline.

Why MathML from a pure-Python converter (``latex2mathml``): Chromium (since
109), Firefox and Safari draw MathML Core themselves, so the page needs no
script, no font files and no network; MathJax or KaTeX would add a few hundred
kilobytes of script and fonts to every page. The price is a little typographic
polish (stretchy brackets and ``\\mathbb`` letters come from the system's fonts).

:class:`MathMLRenderer` is nbconvert's markdown renderer with its maths hooks
(``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``, ``\\begin{env}``) turned into
MathML. A formula the converter cannot read, or one it would pass through with a
command it does not know (``<mi>\\foo</mi>``), stays as its escaped source in a
``<code class="pl-math-source">`` and is logged as a warning: readable, never
silently wrong.
"""

from __future__ import annotations

import html
import logging
import re

from nbconvert.filters.markdown_mistune import IPythonRenderer

log = logging.getLogger(__name__)

#: a token element holding a backslash command: latex2mathml did not know the command
_UNKNOWN_COMMAND = re.compile(r"<m(?:i|o|n|text)[^>]*>\\[A-Za-z]")

#: how a formula left as text looks (inlined by the exporter's template)
CSS = """
.pl-math-source { color: #8a1c1c; background: #fff4f4; }
math[display="block"] { margin: 0.6em 0; }
"""


def to_mathml(tex: str, display: bool = False) -> str | None:
    """``tex`` as a ``<math>`` element, or None when it cannot be converted faithfully."""
    from latex2mathml.converter import convert

    try:
        out = convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - the converter raises many kinds; the caller warns
        log.debug("latex2mathml refused %r", tex, exc_info=True)
        return None
    return None if _UNKNOWN_COMMAND.search(out) else out


def formula_html(tex: str, display: bool, failures: list[str] | None = None) -> str:
    """MathML for ``tex``; else its source as text, and a warning (``failures`` collects it)."""
    mathml = to_mathml(tex, display)
    if mathml is not None:
        return mathml
    log.warning("export: formula left as text (cannot convert to MathML): %s", tex.strip())
    if failures is not None:
        failures.append(tex.strip())
    delimiter = "$$" if display else "$"
    return f'<code class="pl-math-source">{delimiter}{html.escape(tex)}{delimiter}</code>'


class MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer with formulas as MathML (see the module docstring)."""

    def __init__(self, *args, failures: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.failures = failures

    def block_math(self, body: str) -> str:
        return formula_html(body, True, self.failures)

    def inline_math(self, body: str) -> str:
        return formula_html(body, False, self.failures)

    def latex_environment(self, name: str, body: str) -> str:
        return formula_html(f"\\begin{{{name}}}{body}\\end{{{name}}}", True, self.failures)
