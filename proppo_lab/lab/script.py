"""The Lab's set-up outside the Lab: plan files, and "As Python" scripts.

Plan files hold :meth:`Plan.to_json`; loading one goes through the plan
editor, so a file obeys the same rules as a click. The script reproduces a
run (same plan, default, seeds and step size) with nothing but the engine.
"""

from __future__ import annotations

import inspect
import json
import textwrap
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..core.errors import PlanError
from ..core.plan import Plan
from ..systems.base import System
from .plan_editor import PlanEditor
from .program import FunctionProgram


def save_plan(plan: Plan, path: str | Path) -> Path:
    """Write ``plan`` as JSON to ``path``."""
    path = Path(path)
    try:
        path.write_text(plan.to_json() + "\n")
    except OSError as err:
        raise PlanError(f"cannot write plan file {path}: {err.strerror or err}") from None
    return path


def load_plan(editor: PlanEditor, path: str | Path) -> Plan:
    """Read a plan file into ``editor`` (PlanError, and no change, when it is bad)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise PlanError(f"cannot read plan file {path}: {err.strerror}") from None
    return editor.set_plan(Plan.from_json(text))


def script(program: System, plan: Plan, default: str, iterations: int, seed: int, lr: float) -> str:
    """A script that runs ``program`` as the Lab would, printing each estimate.

    A ready system is rebuilt from its ``repr``; a function program is written
    out whole (see :func:`_function_program`): its source, the values it reads,
    and a ``run(pm)`` that names its parameters with ``pm.param`` as the Lab does.
    """
    text = json.dumps(plan.to_dict(), indent=4, sort_keys=True)
    lines = ["import torch", "import proppo_lab as pl", ""]
    if isinstance(program, FunctionProgram):
        lines += _function_program(program)
        target, params = "run", "params"
    else:
        lines += [f"program = {program!r}", f"program.to({str(program.device)!r})"]
        target, params = "program", "program.params"
    lines += [
        f"plan = {text}",
        f"pm = pl.PropagationManager(plan=plan, default={default!r})",
        f"for i in range({iterations}):",
        f"    torch.manual_seed({seed} + i)",
        f"    grads = pm.estimate({target})",
    ]
    if lr > 0:
        lines += [
            "    with torch.no_grad():",
            f"        for name, p in {params}.items():",
            f"            p -= {lr} * grads[name]",
        ]
    lines.append("    print(i, {k: v.tolist() for k, v in grads.items()})")
    return "\n".join(lines) + "\n"


def _tensor(t: torch.Tensor) -> str:
    """Python source for a tensor with the same values, dtype, device and grad flag."""
    args = [repr(t.detach().cpu().tolist()), f"dtype={t.dtype}"]
    if t.device.type != "cpu":
        args.append(f"device={str(t.device)!r}")
    if t.requires_grad:
        args.append("requires_grad=True")
    return f"torch.tensor({', '.join(args)})"


def _value(name: str, value: Any) -> str | None:
    """A line that gives ``name`` the value a function reads, None when it cannot."""
    if isinstance(value, types.ModuleType):
        module = value.__name__
        return f"import {module}" if module == name else f"import {module} as {name}"
    if isinstance(value, torch.Tensor):
        return f"{name} = {_tensor(value)}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return f"{name} = {value!r}"
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if module and qualname and module != "__main__" and "<" not in qualname:
        imported = f"from {module} import {qualname.split('.')[0]}"
        return imported if qualname == name else f"{imported} as {name}"
    return None


def _read_names(fn: Callable) -> dict[str, Any]:
    """The globals and closure variables ``fn`` reads, with their values."""
    code = fn.__code__
    names = {}
    for cell_name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            names[cell_name] = cell.cell_contents
        except ValueError:  # a closure cell not yet filled
            pass
    for name in code.co_names:
        if name in fn.__globals__ and name not in names:
            names[name] = fn.__globals__[name]
    return names


def _function_program(program: FunctionProgram) -> list[str]:
    """Lines that define ``params`` and ``run(pm)`` for a function program."""
    fn = program.fn
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        source = f"def {fn.__name__}(pm):\n    ...  # the source was not found: paste it here\n"
    read = _read_names(fn)
    # a parameter keeps the variable name the function reads it by
    variable = {
        name: next((v for v, value in read.items() if value is tensor), f"param_{name}")
        for name, tensor in program.params.items()
    }
    lines = ["# the parameters the Lab learns (params=), at their current values"]
    lines += [f"{variable[name]} = {_tensor(t)}" for name, t in program.params.items()]
    lines += [
        "params = {" + ", ".join(f"{name!r}: {variable[name]}" for name in program.params) + "}"
    ]
    others = [
        name for name in read if name not in variable.values() and name not in ("torch", "pl")
    ]
    if others:
        lines += ["", "# what the program reads besides its parameters"]
        for name in others:
            lines.append(_value(name, read[name]) or f"{name} = ...  # define {name} here")
    lines += [
        "",
        "",
        source.rstrip(),
        "",
        "",
        "def run(pm):",
        "    # the Lab names the parameters to the manager before each run",
        "    for name, p in params.items():",
        "        pm.param(name, p)",
    ]
    if program.takes_particles and program.particles is not None:
        lines.append(f"    {fn.__name__}(pm, particles={program.particles})")
    else:
        lines.append(f"    {fn.__name__}(pm)")
    return lines + ["", ""]
