"""Browser-test fixtures: a throw-away JupyterLab server and headless Chromium.

* ``lab_server`` (session): ``jupyter lab`` on 127.0.0.1, a random free port,
  a random token, every JUPYTER_* / IPYTHONDIR path in a temp dir (so the
  tests never read or write the user's Jupyter set-up), the news pop-up off,
  and the test notebooks copied into a temp root dir. JUPYTER_PATH is dropped;
  PROPPO_LAB_TEST_JUPYTER_PATH, when set, takes its place (to test an
  extension build other than the installed one, e.g. a share/jupyter dir whose
  labextensions/proppo-lab links to a worktree's proppo_lab/labextension).
* ``browser`` (session) / ``page`` (function): Python Playwright driving
  Debian's Chromium (/usr/bin/chromium; Playwright cannot download browsers
  here). When Chromium or Playwright is missing the tests are skipped on a
  developer machine, and FAIL when ``CI`` is set: CI must not pass green
  without having run them.

Screenshots go to ``test-artifacts/`` at the repository root (gitignored).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOKS = Path(__file__).parent / "notebooks"
CHROMIUM = os.environ.get("PROPPO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests need Chromium and Playwright: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyter_lab_server(root: Path, base: Path, app: str = "lab"):
    """Start ``jupyter lab`` (or, with ``app="notebook"``, Jupyter Notebook 7)
    serving ``root``, config dirs under ``base``; yields {'url', 'token',
    'root', 'log', 'app'} and stops the server afterwards."""
    if app not in ("lab", "notebook"):
        raise ValueError(f"app must be 'lab' or 'notebook', not {app!r}")
    env = dict(os.environ)
    dirs = {
        name: base / name.lower()
        for name in (
            "JUPYTER_CONFIG_DIR",
            "JUPYTER_DATA_DIR",
            "JUPYTER_RUNTIME_DIR",
            "JUPYTERLAB_SETTINGS_DIR",
            "JUPYTERLAB_WORKSPACES_DIR",
            "IPYTHONDIR",
        )
    }
    for name, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env.pop("JUPYTER_PATH", None)
    if os.environ.get("PROPPO_LAB_TEST_JUPYTER_PATH"):
        # Opt-in: test an extension build (e.g. a worktree's) other than the installed one.
        env["JUPYTER_PATH"] = os.environ["PROPPO_LAB_TEST_JUPYTER_PATH"]
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    page_config = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    for where in (dirs["JUPYTER_CONFIG_DIR"] / "labconfig", dirs["JUPYTERLAB_SETTINGS_DIR"]):
        where.mkdir(parents=True, exist_ok=True)
        (where / "page_config.json").write_text(json.dumps(page_config))
    notify = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
    notify.mkdir(parents=True, exist_ok=True)
    (notify / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port, token = _free_port(), secrets.token_hex(16)
    log_path = base / "jupyter.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                app,
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                f"--IdentityProvider.token={token}",
                "--allow-root",
                "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={root}",
            ],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"jupyter {app} exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}"
                    )
                try:
                    with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                        break
                except OSError as err:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"jupyter {app} did not start within 60 s:\n"
                            f"{log_path.read_text()[-3000:]}"
                        ) from err
                    time.sleep(0.3)
            yield {"url": url, "token": token, "root": root, "log": log_path, "app": app}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """JupyterLab serving a copy of the test notebooks, for the whole session."""
    base = tmp_path_factory.mktemp("jupyter")
    root = base / "root"
    root.mkdir()
    for nb in NOTEBOOKS.glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    with jupyter_lab_server(root, base) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        _unavailable(f"python playwright is not installed ({err})")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, request):
    """A fresh page; a screenshot is saved to test-artifacts/ when the test fails."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            pg.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
        except Exception:  # noqa: BLE001 - best effort
            pass
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


# ---------------------------------------------------------------------------
# Outside pytest: the same throw-away JupyterLab for bench/ scripts
# (bench/layout_browser.py, bench/click_latency.py). Same isolation as the
# ``lab_server`` fixture above (temp JUPYTER_* dirs, no news pop-up).


def scratch_notebook(prefix: str, name: str, *sources: str) -> tuple[Path, Path]:
    """A temp folder (base) with root/<name> holding one code cell per source;
    returns (base, root) for :func:`jupyter_lab_server`."""
    import tempfile

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    base = Path(tempfile.mkdtemp(prefix=prefix))
    root = base / "root"
    root.mkdir()
    nb = new_notebook(
        cells=[new_code_cell(src) for src in sources],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, root / name)
    return base, root


def open_notebook_page(page, server: dict, name: str) -> None:
    """Open ``name`` in JupyterLab and accept a "Select Kernel" dialog if one shows."""
    page.goto(f"{server['url']}/lab/tree/{name}?token={server['token']}&reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    try:
        page.locator(".jp-Dialog").wait_for(timeout=2_000)
        page.locator(".jp-Dialog .jp-mod-accept").click()
    except Exception:  # noqa: BLE001 - no dialog is the usual case
        pass


def run_notebook_cell(page, index: int) -> None:
    """Focus cell ``index``'s editor and execute it (Shift+Enter)."""
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
