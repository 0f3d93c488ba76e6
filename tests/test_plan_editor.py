"""The plan editor: one home for the Lab's plan, checked once with core's rules.

Also the graph JSON's per-node ``options`` (the front end reads them instead of
resolving the plan itself) and the incremental live plots.
"""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal

import proppo_lab as pl
from proppo_lab import trace
from proppo_lab.lab import GraphWidget, PlanEditor

KINDS = {"state": "sample", "h": "forward", "cost": "loss"}


@pytest.fixture
def editor():
    return PlanEditor(list(KINDS), KINDS, {"state": "RP"})


def program(pm):
    w = pm.param("w", torch.tensor(0.5, requires_grad=True))
    x = torch.zeros(8, 1)
    for _ in range(3):
        x = pm.sample("state", Normal(w * x + 1.0, 0.1))
    pm.loss("cost", (x**2).sum(-1))


# ------------------------------------------------------------------ checks and refusals


@pytest.mark.parametrize(
    "site,instance,propagator,fragments",
    [
        ("cost", None, "RP", ["site 'cost'", "loss node", "RP"]),
        ("state", None, "Backprop", ["site 'state'", "Backprop serves forward nodes"]),
        ("state", 2, "Backprop", ["site 'state' instance 2", "sample node"]),
        ("nosuch", None, "RP", ["'nosuch'", "does not have"]),
        ("stat", None, "RP", ["did you mean 'state'"]),
        ("state", None, "Nope", ["unknown propagator 'Nope'"]),
    ],
)
def test_a_refused_change_names_the_node_and_changes_nothing(
    editor, site, instance, propagator, fragments
):
    heard = []
    editor.on_change(lambda plan, what: heard.append(what))
    before = editor.plan
    with pytest.raises(pl.PlanError) as err:
        editor.assign(site, propagator, instance=instance)
    for fragment in fragments:
        assert fragment in str(err.value)
    assert editor.plan is before and heard == []


def test_clearing_an_unknown_site_is_refused(editor):
    with pytest.raises(pl.PlanError, match="nosuch"):
        editor.clear("nosuch")


def test_whole_plans_are_checked_for_kinds_too(editor):
    with pytest.raises(pl.PlanError, match="site 'h'"):
        editor.set_plan({"h": "LR"})  # LR serves sample nodes only
    with pytest.raises(pl.PlanError, match="site 'state' instance 1"):
        PlanEditor(
            list(KINDS), KINDS, {"state": {"propagator": "RP", "instances": {"1": "Backprop"}}}
        )
    assert editor.plan.to_dict() == {"state": "RP"}


def test_listeners_hear_every_accepted_change(editor):
    heard = []
    editor.on_change(lambda plan, what: heard.append((plan.to_dict(), what)))
    editor.assign("state", "TP", {"every": 3})
    editor.assign("state", "LR", instance=1)
    editor.clear("state", 1)
    editor.set_plan({"h": "Backprop"})
    assert heard == [
        ({"state": {"propagator": "TP", "options": {"every": 3}}}, "site 'state': TP"),
        (
            {"state": {"propagator": "TP", "options": {"every": 3}, "instances": {"1": "LR"}}},
            "site 'state' instance 1: LR",
        ),
        (
            {"state": {"propagator": "TP", "options": {"every": 3}}},
            "site 'state' instance 1: cleared",
        ),
        ({"h": "Backprop"}, "plan replaced"),
    ]


def test_a_raising_listener_neither_undoes_the_change_nor_silences_the_others(editor):
    heard = []

    def broken(plan, what):
        raise RuntimeError("listener broke")

    editor.on_change(broken)
    editor.on_change(lambda plan, what: heard.append(what))
    with pytest.raises(RuntimeError, match="listener broke"):
        editor.assign("state", "LR")
    assert editor.plan.to_dict() == {"state": "LR"} and heard == ["site 'state': LR"]
    editor.on_change(broken, remove=True)
    editor.assign("state", "TP")
    assert heard[-1] == "site 'state': TP"


def test_lab_assign_and_a_widget_message_give_the_same_plan():
    system = pl.systems.ChaoticRNN(beta=2.4, steps=5, particles=8)
    by_python = pl.Lab(system, plan={"state": "RP"})
    by_click = pl.Lab(system, plan={"state": "RP"})
    by_python.assign("state", "TP", {"every": 5})
    by_python.assign("state", "LR", {"baseline": "ema"}, instance=2)
    assert by_click.graph.handle_message(
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "TP",
            "options": {"every": 5},
        }
    )
    assert by_click.graph.handle_message(
        {
            "action": "assign",
            "site": "state",
            "instance": 2,
            "propagator": "LR",
            "options": {"baseline": "ema"},
        }
    )
    assert by_python.plan == by_click.plan
    # one home: the widget's trait and the Lab read the editor's plan
    for lab in (by_python, by_click):
        assert lab.graph.current_plan is lab.editor.plan is lab.plan
        assert lab.graph.plan == lab.plan.to_dict()
    # and both refuse alike
    with pytest.raises(pl.PlanError, match="loss node"):
        by_python.assign("cost", "RP")
    assert not by_click.graph.handle_message(
        {"action": "assign", "site": "cost", "instance": None, "propagator": "RP", "options": {}}
    )
    assert "loss node" in by_click.graph.error["message"]
    assert by_click.graph.error["site"] == "cost"


def test_a_run_picks_up_the_editors_plan():
    lab = pl.Lab(pl.systems.ChaoticRNN(beta=2.4, steps=5, particles=8), plan={"state": "RP"})
    lab.editor.assign("state", "LR")
    lab.run(2, wait=True)
    assert lab._sessions[0].pm.plan is lab.editor.plan


# -------------------------------------------------------------------- per-node options


def test_graph_nodes_carry_the_explicit_options_of_their_plan():
    graph = trace.capture(program)
    plan = pl.Plan.from_dict(
        {
            "state": {
                "propagator": "TP",
                "options": {"every": 5},
                "instances": {"1": "LR", "2": {"propagator": "LR", "options": {"baseline": "ema"}}},
            }
        }
    )
    rolled = {n["id"]: n for n in graph.to_json(plan, "rolled")["nodes"]}
    assert rolled["site:state"]["options"] == {"every": 5}
    assert rolled["site:cost"]["options"] == {} and rolled["param:w"]["options"] == {}
    unrolled = {n["id"]: n for n in graph.to_json(plan, "unrolled")["nodes"]}
    assert unrolled["site:state#0"]["options"] == {"every": 5}  # the site's
    assert unrolled["site:state#1"]["options"] == {}  # its override's
    assert unrolled["site:state#2"]["options"] == {"baseline": "ema"}
    # options left at their defaults are not "given"
    plain = graph.to_json({"state": {"propagator": "LR", "options": {"baseline": "loo"}}})
    assert next(n for n in plain["nodes"] if n["id"] == "site:state")["options"] == {}
    assert all(n["options"] == {} for n in graph.to_json(None)["nodes"])


def test_the_widget_resends_the_graph_when_the_plan_changes_whoever_changes_it():
    widget = GraphWidget(trace.capture(program), plan={"state": "RP"})
    sent = []
    widget.observe(lambda change: sent.append(change["new"]), names="graph")

    def state(graph):
        return next(n for n in graph["nodes"] if n["id"] == "site:state")

    widget.editor.assign("state", "TP", {"every": 4})  # from Python
    assert state(sent[-1])["propagator"] == "TP" and state(sent[-1])["options"] == {"every": 4}
    assert widget.handle_message({"action": "clear", "site": "state", "instance": None})
    assert state(sent[-1])["propagator"] == "RP" and state(sent[-1])["options"] == {}
    assert len(sent) == 2
