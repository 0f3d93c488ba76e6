"""Observers: one protocol (four events), attached one way, detached even on errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch.distributions import Normal

import proppo_lab as pl
from proppo_lab.core.observer import EVENTS, Listeners, Observer
from proppo_lab.systems import GaussianChain
from proppo_lab.trace import ForwardCheck, Recorder

ROOT = Path(__file__).resolve().parents[1]


class Log(Observer):
    """Every event, as (observer name, event, detail)."""

    def __init__(self, name, into):
        self.name, self.into = name, into

    def node_created(self, node):
        self.into.append((self.name, "node_created", node.label))

    def message_sent(self, message, target):
        self.into.append((self.name, "message_sent", message.kind))

    def backward_started(self, tape):
        self.into.append((self.name, "backward_started", len(tape)))

    def backward_finished(self, tape):
        self.into.append((self.name, "backward_finished", len(tape)))


def test_observer_base_is_four_no_ops():
    obs = Observer()
    assert [e for e in EVENTS if callable(getattr(obs, e))] == list(EVENTS)
    assert obs.node_created(None) is None and obs.message_sent(None, None) is None
    assert obs.backward_started(()) is None and obs.backward_finished(()) is None
    assert pl.Observer is Observer and "Observer" in pl.__all__
    assert pl.core.Observer is Observer


def test_only_overridden_events_are_dispatched():
    class NodesOnly(Observer):
        def node_created(self, node):
            pass

    class Duck:  # no base class: whatever methods it has count
        def backward_finished(self, tape):
            pass

    listeners = Listeners()
    nodes, duck = NodesOnly(), Duck()
    detach_nodes = listeners.attach(nodes)
    listeners.attach(duck)
    listeners.attach(Observer())  # inherits only no-ops: listens to nothing
    assert listeners.node_created == (nodes.node_created,)
    assert listeners.message_sent == () and listeners.backward_started == ()
    assert listeners.backward_finished == (duck.backward_finished,)
    detach_nodes()
    detach_nodes()  # a second detach is harmless
    assert listeners.node_created == ()


def test_events_arrive_in_order_and_observers_in_attach_order():
    events = []
    pm = pl.PropagationManager(default="LR")
    with pm.observing(Log("a", events), Log("b", events)) as (a, b):
        assert (a.name, b.name) == ("a", "b")
        pm.estimate(GaussianChain(particles=10))
    kinds = [e[1] for e in events if e[0] == "a"]
    created = [e[2] for e in events if e[:2] == ("a", "node_created")]
    assert created == ["x1[0]", "x2[0]", "cost[0]"]
    first_sent = kinds.index("message_sent")
    assert kinds[:3] == ["node_created"] * 3
    assert kinds[3] == "backward_started" and kinds[-1] == "backward_finished"
    assert set(kinds[4:-1]) == {"message_sent"} and first_sent == 4
    # each event reaches a, then b, before the next event is emitted
    assert [e[0] for e in events] == ["a", "b"] * (len(events) // 2)
    assert [e[1:] for e in events[::2]] == [e[1:] for e in events[1::2]]


def test_observing_detaches_on_exception():
    events = []
    pm = pl.PropagationManager()
    log = Log("a", events)
    with pytest.raises(ZeroDivisionError):
        with pm.observing(log) as yielded:
            assert yielded is log
            pm.sample("x", Normal(torch.zeros(3), 1.0))
            raise ZeroDivisionError
    pm.discard()
    assert events == [("a", "node_created", "x[0]")]
    pm.estimate(GaussianChain(particles=5))
    assert len(events) == 1  # detached: nothing more arrived


def test_observing_detaches_when_the_engine_raises():
    def program(pm):
        pm.forward("bad", torch.tensor([float("nan"), 1.0]))  # never reaches the loss
        pm.loss("cost", torch.ones(2))

    pm = pl.PropagationManager()
    with pytest.raises(pl.NonFiniteError) as info:
        with pm.observing(ForwardCheck()):
            pm.estimate(program)
    assert (info.value.site, info.value.phase, info.value.iteration) == ("bad", "forward", 0)
    pm.estimate(program)  # the check is gone: the engine alone finds nothing


def test_recorder_attach_is_observe_with_the_detach_kept():
    pm = pl.PropagationManager()
    rec = Recorder().attach(pm)
    assert rec.attached
    pm.estimate(GaussianChain(particles=5))
    assert rec.passes == 1 and rec.latest_iteration == 0
    rec.detach()
    assert not rec.attached
    pm.estimate(GaussianChain(particles=5))
    assert rec.passes == 1
    with pm.observing(rec):  # the same recorder, attached the one general way
        pm.estimate(GaussianChain(particles=5))
    assert rec.passes == 2 and rec.latest_iteration == 2


def test_forward_check_names_the_failing_iteration_after_estimate_discards():
    """The iteration comes from the node, not from the manager, which has moved on."""
    pm = pl.PropagationManager()
    check = ForwardCheck(pm)
    pm.estimate(GaussianChain(particles=5))  # iteration 0 is fine

    def broken(pm):
        pm.forward("bad", torch.tensor([float("nan")]))
        raise pl.PropagationError("later op failed", site="fit", instance=0, propagator="GR")

    with pytest.raises(pl.PropagationError) as info:
        pm.estimate(broken)
    found = check.explain(info.value)
    assert isinstance(found, pl.NonFiniteError)
    assert (found.site, found.iteration, pm.iteration) == ("bad", 1, 2)
    check.detach()


def test_default_propagators_resolve_from_core_alone():
    """A script importing only proppo_lab.core (here: without the package's __init__,
    which imports the propagators) still finds "RP" and "Backprop"."""
    script = textwrap.dedent(f"""
        import sys, types
        package = types.ModuleType("proppo_lab")
        package.__path__ = [{str(ROOT / "proppo_lab")!r}]
        sys.modules["proppo_lab"] = package          # the package's __init__ never runs
        import torch
        from torch.distributions import Normal
        from proppo_lab.core import PropagationManager, catalogue
        assert "proppo_lab.propagators" not in sys.modules
        mu = torch.tensor(0.5, requires_grad=True)

        def program(pm):
            x = pm.sample("x", Normal(pm.param("mu", mu).expand(64), 1.0))
            pm.loss("cost", pm.forward("f", 2.0 * x) ** 2)

        pm = PropagationManager()
        grad = pm.estimate(program)["mu"]
        assert torch.isfinite(grad) and grad.abs() > 0
        assert {{"RP", "Backprop", "LR", "TP"}} <= {{e["name"] for e in catalogue()}}
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_importing_core_does_not_import_tracing_or_jupyter():
    script = (
        "import sys, proppo_lab.core as c; "
        "print(sorted(m for m in sys.modules if m.startswith(('proppo_lab.trace', "
        "'proppo_lab.lab', 'ipywidgets', 'plotly'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
