"""The tutorials command: palette and launcher card copy the tutorials and open notebook 01.

Also a plain Python test of the copy (proppo_lab/server.py): the tutorials land
in proppo-tutorials/, and a notebook the user already edited there is kept.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from proppo_lab import server

from .conftest import ARTIFACTS

FIRST = "01_gradient_estimators_101.ipynb"


def test_copy_does_not_overwrite_edits(tmp_path):
    names = [p.name for p in server.tutorial_files()]
    assert FIRST in names
    first = server.copy_tutorials(tmp_path)
    assert first["notebooks"][0] == f"proppo-tutorials/{FIRST}"
    assert sorted(first["copied"]) == sorted(f"proppo-tutorials/{n}" for n in names)
    edited = tmp_path / "proppo-tutorials" / FIRST
    edited.write_text('{"my": "edits"}')
    (tmp_path / "proppo-tutorials" / names[-1]).unlink()
    second = server.copy_tutorials(tmp_path)
    assert edited.read_text() == '{"my": "edits"}'  # kept, not overwritten
    assert f"proppo-tutorials/{FIRST}" in second["kept"]
    assert second["copied"] == [f"proppo-tutorials/{names[-1]}"]  # a deleted one comes back


@pytest.mark.browser
def test_endpoint_needs_token_and_copies(lab_server):
    url = f"{lab_server['url']}/proppo-lab/tutorials"
    req = urllib.request.Request(url, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code in (401, 403)
    req = urllib.request.Request(
        url, data=b"{}", method="POST", headers={"Authorization": f"token {lab_server['token']}"}
    )
    with urllib.request.urlopen(req, timeout=30) as reply:
        body = json.loads(reply.read())
    assert body["notebooks"][0] == f"proppo-tutorials/{FIRST}"
    assert (lab_server["root"] / "proppo-tutorials" / FIRST).is_file()


def _open_lab(page, lab_server):
    page.goto(f"{lab_server['url']}/lab?token={lab_server['token']}&reset")
    page.locator(".jp-Launcher").first.wait_for(timeout=60_000)


def _expect_tutorial_open(page):
    tab = page.locator(f'.lm-TabBar-tab[title*="{FIRST}"], .lm-TabBar-tab:has-text("{FIRST}")')
    tab.first.wait_for(timeout=60_000)
    page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    try:  # a "Select Kernel" dialog on some set-ups
        page.locator(".jp-Dialog").wait_for(timeout=2_000)
        page.locator(".jp-Dialog .jp-mod-reject").click()
    except Exception:  # noqa: BLE001
        pass
    text = page.locator(".jp-NotebookPanel:visible .jp-Notebook").inner_text()
    assert "Gradient" in text or "gradient" in text


@pytest.mark.browser
def test_palette_command_opens_tutorial(page, lab_server):
    _open_lab(page, lab_server)
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".jp-CommandPalette input, #command-palette input").first
    palette.wait_for(timeout=10_000)
    palette.fill("Proppo Lab: open tutorials")
    page.locator(".lm-CommandPalette-item:has-text('Proppo Lab: open tutorials')").first.click()
    _expect_tutorial_open(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tutorials-from-palette.png"))
    assert (lab_server["root"] / "proppo-tutorials" / FIRST).is_file()


@pytest.mark.browser
def test_launcher_card_opens_tutorial(page, lab_server):
    _open_lab(page, lab_server)
    card = page.locator(".jp-LauncherCard:has-text('open tutorials')")
    card.wait_for(timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tutorials-launcher-card.png"))
    card.click()
    _expect_tutorial_open(page)
