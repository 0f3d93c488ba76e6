"""The README's "Writing a propagator" section runs as written."""

import re
from pathlib import Path

import pytest

from proppo_lab.propagators import baselines

README = Path(__file__).resolve().parents[1] / "README.md"


def section_blocks(heading: str) -> list[str]:
    """The ```python blocks between ``## heading`` and the next ``## `` heading."""
    text = README.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.S)


@pytest.fixture
def restore_baselines(monkeypatch):
    monkeypatch.setattr(baselines, "_BASELINES", dict(baselines._BASELINES))


def test_writing_a_propagator_blocks_run(clean_registry, restore_baselines, capsys):
    blocks = section_blocks("Writing a propagator")
    assert len(blocks) >= 3, "the section lost its examples"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    verdicts = [line for line in capsys.readouterr().out.splitlines() if "gradcheck" in line]
    # the recipe's promise: the clip that never bites passes, the one that bites fails
    assert [v.split(":")[0] for v in verdicts] == ["gradcheck PASS", "gradcheck FAIL"], verdicts
