"""The constants shared with the front end are written once (proppo_lab/contracts.py).

labextension/src/contracts.ts is generated from that module, and the front end's
text-colour rule (labextension/src/colour.ts) is the one TypeScript copy of a
function: both are checked here against the Python side.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proppo_lab import contracts

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "labextension"

#: fills around the threshold, the registry's kinds of colours, and the extremes
FILLS = [
    "#000000",
    "#ffffff",
    "#777777",
    "#808080",
    "#b3b3b3",
    "#bcbcbc",
    *contracts.SERIES_PALETTE,
    "#ff0000",
    "#00ff00",
    "#0000ff",
    contracts.PARAM_COLOUR,
    contracts.LOSS_COLOUR,
    "#A0A0A0",
]


def test_committed_typescript_is_generated():
    committed = (EXTENSION / "src" / "contracts.ts").read_text()
    assert committed == contracts.typescript(), (
        "labextension/src/contracts.ts is stale: run "
        "`python proppo_lab/contracts.py > labextension/src/contracts.ts`"
    )


def test_generator_runs_as_a_file_without_the_package():
    out = subprocess.run(
        [sys.executable, "-S", str(ROOT / "proppo_lab" / "contracts.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == contracts.typescript()


def test_fills_straddle_the_threshold():
    colours = {contracts.text_colour(f) for f in FILLS}
    assert colours == {"#000000", "#ffffff"}


def _compiled(name: str) -> str:
    path = EXTENSION / "lib" / f"{name}.js"
    if not path.exists():
        pytest.fail(f"{path} is missing: build the extension (cd labextension && jlpm build:lib)")
    return path.read_text()


def test_typescript_text_colour_agrees_with_python():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    # colour.js imports its threshold from contracts.js: inline that module, then
    # run the compiled rule on every fill.
    colour = re.sub(r"^import .*from '\./contracts';\n", "", _compiled("colour"), flags=re.M)
    assert "import" not in colour, "colour.ts may only import from contracts.ts"
    script = (
        _compiled("contracts")
        + colour
        + f"\nconsole.log(JSON.stringify({json.dumps(FILLS)}.map(textColour)));\n"
    )
    out = subprocess.run(
        [node, "--input-type=module"], input=script, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == [contracts.text_colour(f) for f in FILLS]
