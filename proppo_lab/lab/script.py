"""The Lab's set-up outside the Lab: plan files, and "As Python" scripts.

Plan files hold :meth:`Plan.to_json`; loading one goes through the plan
editor, so a file obeys the same rules as a click. The script reproduces a
run (same plan, default, seeds and step size) with nothing but the engine.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..core.errors import PlanError
from ..core.plan import Plan
from ..systems.base import System
from .plan_editor import PlanEditor
from .program import FunctionProgram


def save_plan(plan: Plan, path: str | Path) -> Path:
    """Write ``plan`` as JSON to ``path``."""
    path = Path(path)
    path.write_text(plan.to_json() + "\n")
    return path


def load_plan(editor: PlanEditor, path: str | Path) -> Plan:
    """Read a plan file into ``editor`` (PlanError, and no change, when it is bad)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise PlanError(f"cannot read plan file {path}: {err.strerror}") from None
    return editor.set_plan(Plan.from_json(text))


def script(program: System, plan: Plan, default: str, iterations: int, seed: int,
           lr: float) -> str:
    """A script that runs ``program`` as the Lab would, printing each estimate."""
    text = json.dumps(plan.to_dict(), indent=4, sort_keys=True)
    name = repr(program)
    if not name.startswith("pl."):
        name = f"{name}  # your program(pm) function"
    lines = [
        "import torch",
        "import proppo_lab as pl",
        "",
        f"program = {name}",
    ]
    if not isinstance(program, FunctionProgram):
        lines.append(f"program.to({str(program.device)!r})")
    lines += [
        f"plan = {text}",
        f"pm = pl.PropagationManager(plan=plan, default={default!r})",
        f"for i in range({iterations}):",
        f"    torch.manual_seed({seed} + i)",
        "    grads = pm.estimate(program)",
    ]
    if lr > 0:
        lines += ["    with torch.no_grad():",
                  "        for name, p in program.params.items():",
                  f"            p -= {lr} * grads[name]"]
    lines.append("    print(i, {k: v.tolist() for k, v in grads.items()})")
    return "\n".join(lines) + "\n"
