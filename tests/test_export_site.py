"""Publishing: the site (`python -m proppo_lab export FOLDER -o SITE`), maths, published runs.

* ``test_small_site_*``: the CLI builds a site from tests/data/site/ (a Lab that
  publishes RP, LR and TP and compares RP with TP; a Lab that publishes nothing
  and ran LR once). Checked: the index links every page and each link resolves,
  pages load the one shared plotly.min.js instead of inlining it, thumbnails,
  sizes, MathML instead of raw LaTeX, and that the page without published runs
  shows its latest run as exports always did, without the kernel-only controls.
* ``test_tutorial_site`` (slow): the same checks on the site of all tutorials,
  built from the notebooks the session already executed (``executed_tutorial``
  in conftest, shared with test_notebooks.py); its sizes are written to
  test-artifacts/site-sizes.json.
* The maths converter and the published runs are also checked directly, without
  a kernel.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser.conftest import ARTIFACTS
from bs4 import BeautifulSoup
from conftest import TUTORIALS
from test_export import _needs_dot

import proppo_lab as pl
from proppo_lab.lab import maths, publish, site

SITE_DATA = Path(__file__).parent / "data" / "site"
MAX_PAGE = 2 * 1024 * 1024  # bytes per page, plotly.js (shared) not counted
#: a $-delimited formula with a LaTeX command left in the page's text
RAW_LATEX = re.compile(r"\$[^$\n]*\\[A-Za-z]+[^$\n]*\$")


def prose_text(page_html: str) -> str:
    """The page's text outside code, outputs, scripts and styles: where formulas live."""
    soup = BeautifulSoup(page_html, "html.parser")
    for tag in soup(["script", "style", "code", "pre", "math"]):
        tag.decompose()
    for div in soup.select(".jp-InputArea, .jp-OutputArea"):
        div.decompose()
    return soup.get_text(" ")


def check_site(root: Path, expected: list[str]) -> dict:
    """What every site must satisfy; returns {page name: size in bytes}."""
    index = BeautifulSoup((root / "index.html").read_text(), "html.parser")
    links = [a["href"] for a in index.select(".pl-card h2 a")]
    assert links == [f"{name}.html" for name in expected]
    plotly_js = root / site.PLOTLY_FILE
    assert plotly_js.stat().st_size > 1_000_000  # the real plotly.min.js, once
    sizes = {}
    for card, link in zip(index.select(".pl-card"), links):
        page = root / link
        assert page.is_file(), link
        img = card.find("img")
        assert img is not None and (root / img["src"]).read_text().lstrip().startswith("<?xml")
        assert card.find("p").get_text(strip=True), f"{link}: no summary"
        text = page.read_text()
        soup = BeautifulSoup(text, "html.parser")
        # plotly.js comes from the shared file: never inlined, never from the network
        assert [s["src"] for s in soup.find_all("script", src=True)] == [site.PLOTLY_FILE]
        assert len(text) < plotly_js.stat().st_size / 2, f"{link} seems to inline plotly.js"
        assert not re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="https?:', text)
        # maths: MathML, no raw LaTeX, no formula left as text
        assert not RAW_LATEX.findall(prose_text(text)), RAW_LATEX.findall(prose_text(text))[:3]
        assert not soup.select("code.pl-math-source")
        sizes[link] = page.stat().st_size
        assert sizes[link] < MAX_PAGE, f"{link}: {sizes[link] / 2**20:.2f} MB"
    assert not RAW_LATEX.findall(prose_text(str(index)))
    return sizes


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    _needs_dot()
    out = tmp_path_factory.mktemp("site") / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "proppo_lab", "export", str(SITE_DATA), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


def test_small_site_index_pages_and_shared_plotly(small_site):
    root, stdout = small_site
    sizes = check_site(root, ["01_published", "02_no_runs"])
    # the CLI reports the sizes it wrote
    reported = json.loads(stdout.strip().splitlines()[-1])
    assert reported["pages"] == sizes
    assert reported["plotly_js"] == (root / site.PLOTLY_FILE).stat().st_size
    index = (root / "index.html").read_text()
    assert index.count("<math") == 2  # the published page's summary has two formulas


def test_small_site_published_page_carries_runs(small_site):
    root, _ = small_site
    soup = BeautifulSoup((root / "01_published.html").read_text(), "html.parser")
    assert soup.find("math", attrs={"display": "block"}) is not None
    lab = soup.select_one(".pl-static-lab[data-pl-explorable]")
    data = json.loads(lab.select_one("script.pl-explore-data").string)
    # the compared plans (RP, TP) first, then the published one not compared (LR)
    assert [r["label"] for r in data["runs"]] == ["RP", "TP", "LR"]
    assert [b["data-pl-run"] for b in lab.select(".pl-runs button")] == ["0", "1", "2", "notebook"]
    for run in data["runs"]:
        assert run["assignment"] == {"site:x": [run["label"], {}, {}]}
        assert [len(t["x"]) for t in run["plots"]["gradient"]["data"]] == [30, 30]
    gradients = [run["plots"]["gradient"]["data"][0]["y"] for run in data["runs"]]
    assert gradients[0] != gradients[1] != gradients[2]
    assert "Run" not in [b.get_text(strip=True) for b in soup.find_all("button")]


def test_small_site_page_without_runs_shows_latest_run(small_site):
    root, _ = small_site
    text = (root / "02_no_runs.html").read_text()
    soup = BeautifulSoup(text, "html.parser")
    lab = soup.select_one(".pl-static-lab")
    assert lab is not None and not lab.has_attr("data-pl-explorable")
    assert "pl-explore-data" not in text and "ExplorableLab" not in text  # no data, no script
    status = lab.select_one("[data-pl-status]").get_text(" ", strip=True)
    assert status.startswith("current · iteration 20") and status.endswith("done")
    titles = [s["data-pl-title"] for s in lab.select("[data-pl-plot]")]
    assert "Gradient estimate per iteration" in titles
    # LR has no TP weights: that plot is left out and the page says why
    assert "TP weight on RP (latest pass)" not in titles
    assert "TP weight on RP (latest pass)" in lab.select_one(".pl-plot-notes").get_text()
    for control in ("Run", "Stop", "Compare", "As Python"):
        assert control not in [b.get_text(strip=True) for b in soup.find_all("button")]


@pytest.mark.slow
def test_tutorial_site(executed_tutorial, tmp_path):
    _needs_dot()
    root = tmp_path / "site"
    sizes = site.build(TUTORIALS[0].parent, root, load=executed_tutorial)
    pages = check_site(root, [p.stem for p in TUTORIALS])
    assert sizes["pages"] == pages
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "site-sizes.json").write_text(json.dumps(sizes, indent=1))
    print(site.report(sizes))
    for name in ("01_gradient_estimators_101", "02_edge_of_chaos"):
        text = (root / f"{name}.html").read_text()
        assert "data-pl-explorable" in text, f"{name}: its Lab publishes runs"


# -------------------------------------------------------------- without a kernel


def test_formula_becomes_mathml_or_stays_text_with_a_warning(caplog):
    assert maths.to_mathml(r"\nabla_\theta\, \mathbb{E}[f(x)]").startswith("<math")
    failures: list[str] = []
    with caplog.at_level(logging.WARNING, logger="proppo_lab.lab.maths"):
        broken = maths.formula_html(r"\frac{a}{", False, failures)
        unknown = maths.formula_html(r"\notacommand{x}", True, failures)
    assert broken == r'<code class="pl-math-source">$\frac{a}{$</code>'
    assert unknown.startswith('<code class="pl-math-source">$$')
    assert failures == [r"\frac{a}{", r"\notacommand{x}"]
    assert [r.getMessage().rsplit(": ", 1)[1] for r in caplog.records] == failures


def test_title_and_summary():
    import nbformat

    nb = nbformat.read(TUTORIALS[0], as_version=4)
    title, summary = site.title_and_summary(nb)
    assert title == "1 · Gradient estimators 101"
    assert summary.startswith("We want the gradient of an **expectation**, $")
    assert summary.endswith("policy search through models.")


def test_a_summary_ends_at_a_sentence_not_at_a_colon():
    """A first paragraph that introduces a formula or a list ends in ':' (tutorials 2
    and 3 do); the card shows the clause with a full stop, not a dangling colon."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# A title\n\nA propagator decides two things\nfor every node it serves:\n\n"
            "* **forward**: what the program receives;\n* **backward**: what goes upstream."
        )
    ]
    assert site.title_and_summary(nb) == (
        "A title",
        "A propagator decides two things for every node it serves.",
    )
    for path in TUTORIALS:
        summary = site.title_and_summary(nbformat.read(path, as_version=4))[1]
        assert summary.endswith("."), f"{path.name}: {summary!r}"


def test_published_runs_start_from_the_labs_parameters():
    """Runs are made from the parameters the Lab started with, under each plan, and the
    program gets its parameters back; series are thinned to MAX_POINTS."""
    toy = pl.systems.GaussianToy(mu=0.5, sigma=1.0, particles=20)
    iterations = publish.MAX_POINTS + 50
    lab = pl.Lab(toy, plan={"x": "TP"}, iterations=iterations, lr=0.05, publish=["RP", {"x": "LR"}])
    lab.run(10, wait=True)  # trains the program (lr > 0)
    trained = {k: p.detach().clone() for k, p in toy.params.items()}
    snap = publish.lab_snapshot(lab)
    runs = snap["explorable"]["runs"]
    assert [r["label"] for r in runs] == ["RP", "x: LR"]
    for k, p in toy.params.items():
        assert p.detach().equal(trained[k]), "the program keeps its trained parameters"
    # the first estimate of each run is the one a fresh Lab run makes from the start
    fresh = pl.Lab(pl.systems.GaussianToy(mu=0.5, sigma=1.0, particles=20), iterations=2, lr=0.05)
    fresh.set_plan({"x": "LR"})
    fresh.run(2, wait=True)
    first = fresh.rows[0]["grads"]["mu"]
    assert runs[1]["plots"]["gradient"]["data"][0]["y"][0] == pytest.approx(float(first), rel=1e-3)
    for trace in runs[0]["plots"]["variance"]["data"]:
        assert len(trace["x"]) <= publish.MAX_POINTS + 1
        assert trace["x"][-1] == iterations - 1
    assert runs[0]["fills"]["site:x"] == pl.core.registry.get("RP").colour
    assert len(json.dumps(snap)) < 100_000
