"""Jupyter server extension: copy the tutorials into the user's working folder.

``POST <base_url>proppo-lab/tutorials`` copies the tutorial notebooks shipped
with the package into ``proppo-tutorials/`` under the server's root directory
and answers ``{"folder", "notebooks", "copied", "kept"}`` (paths relative to
the root, as the contents API and ``docmanager:open`` want them). A notebook
that is already there is *kept*, never overwritten: it may hold the user's
edits. ``GET`` lists what would be copied. The JupyterLab command "Proppo Lab:
open tutorials" and the launcher card (``labextension/src/launcher.ts``) call
it and open the first notebook.

Enabled by ``jupyter-config/jupyter_server_config.d/proppo_lab.json``,
installed as shared data into ``etc/jupyter/jupyter_server_config.d``.
Loading it imports the proppo_lab package (and so torch) once, at server start.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FOLDER = "proppo-tutorials"


def tutorials_dir() -> Path:
    """Where the tutorial notebooks are: inside the wheel, else the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "tutorials", here.parent / "notebooks"):
        if candidate.is_dir() and any(candidate.glob("*.ipynb")):
            return candidate
    return here / "tutorials"


def tutorial_files() -> list[Path]:
    return sorted(tutorials_dir().glob("*.ipynb"))


def copy_tutorials(root: str | Path, folder: str = FOLDER) -> dict:
    """Copy the tutorials into ``root/folder`` without overwriting; see the module doc."""
    root = Path(root).expanduser().resolve()
    target = root / folder
    target.mkdir(parents=True, exist_ok=True)
    copied, kept, notebooks = [], [], []
    for src in tutorial_files():
        dest = target / src.name
        rel = f"{folder}/{src.name}"
        notebooks.append(rel)
        if dest.exists():
            kept.append(rel)
            continue
        shutil.copyfile(src, dest)
        copied.append(rel)
    return {"folder": folder, "notebooks": notebooks, "copied": copied, "kept": kept}


def _handler_class():
    from jupyter_server.base.handlers import APIHandler
    from tornado import web

    class TutorialsHandler(APIHandler):
        """POST: copy the tutorials (no overwrite); GET: list them."""

        @web.authenticated
        def get(self):
            self.finish(
                json.dumps(
                    {
                        "folder": FOLDER,
                        "notebooks": [f"{FOLDER}/{p.name}" for p in tutorial_files()],
                    }
                )
            )

        @web.authenticated
        def post(self):
            root = self.settings.get("server_root_dir") or self.contents_manager.root_dir
            try:
                reply = copy_tutorials(root)
            except OSError as err:
                raise web.HTTPError(500, f"cannot copy the tutorials: {err}") from None
            self.finish(json.dumps(reply))

    return TutorialsHandler


def _jupyter_server_extension_points():
    return [{"module": "proppo_lab.server"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from jupyter_server.utils import url_path_join

    web_app = serverapp.web_app
    route = url_path_join(web_app.settings["base_url"], "proppo-lab", "tutorials")
    web_app.add_handlers(".*$", [(route, _handler_class())])
    serverapp.log.info("proppo_lab: tutorials endpoint at %s (from %s)", route, tutorials_dir())


# jupyter_server < 2 / notebook compatibility
load_jupyter_server_extension = _load_jupyter_server_extension
