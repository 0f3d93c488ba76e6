"""GraphWidget's kernel side, driven by simulated front-end messages.

Every message goes through the same path as one from the browser (ipywidgets'
``_handle_msg`` -> ``on_msg`` callback -> protocol), or straight to
``handle_message``. Valid messages must change the plan / DOT; invalid ones
must set ``widget.error`` and leave the plan alone; nothing may raise.
"""

from __future__ import annotations

import pytest

import proppo_lab as pl
from proppo_lab.lab import GraphWidget, protocol

COLOURS = {e["name"]: e["colour"] for e in pl.catalogue()}


class FakeSource:
    """The smallest thing GraphWidget draws: a param, a 3-step sample loop, a forward, a loss."""

    sites = ["state", "h", "cost"]
    kinds = {"state": "sample", "h": "forward", "cost": "loss"}
    counts = {"state": 3, "h": 1, "cost": 1}

    def __init__(self):
        self.calls: list[tuple] = []

    def _prop(self, plan: pl.Plan, site: str, instance):
        kind = self.kinds[site]
        if kind == "loss":
            return None
        spec = plan.spec_for(site, 0 if instance is None else instance)
        if spec is not None:
            return spec.propagator
        return "RP" if kind == "sample" else "Backprop"

    def to_json(self, plan, view):
        assert isinstance(plan, pl.Plan)
        self.calls.append(("json", plan.to_dict(), view))
        nodes = [
            {
                "id": "param:w",
                "kind": "param",
                "site": "w",
                "instance": None,
                "count": 1,
                "propagator": None,
                "colour": "#f2f2f2",
                "label": "w",
                "overrides": {},
                "dist": None,
                "shape": [],
                "dtype": "float32",
                "device": "cpu",
            }
        ]
        edges = []
        for site in self.sites:
            insts = [None] if view == "rolled" else list(range(self.counts[site]))
            for i in insts:
                nid = f"site:{site}" if i is None else f"site:{site}#{i}"
                prop = self._prop(plan, site, i)
                nodes.append(
                    {
                        "id": nid,
                        "kind": self.kinds[site],
                        "site": site,
                        "instance": i,
                        "count": self.counts[site],
                        "propagator": prop,
                        "colour": COLOURS.get(prop, "#fff2b3"),
                        "label": site,
                        "overrides": {},
                        "dist": "Normal" if site == "state" else None,
                        "shape": [8, 1],
                        "dtype": "float32",
                        "device": "cpu",
                    }
                )
        ids = [n["id"] for n in nodes]
        for a, b in zip(ids, ids[1:]):
            edges.append(
                {"id": f"{a}->{b}", "source": a, "target": b, "recurrent": False, "count": 1}
            )
        return {"view": view, "sites": list(self.sites), "nodes": nodes, "edges": edges}

    def to_dot(self, plan, view, flows=None):
        g = self.to_json(plan, view)
        lines = ["digraph G {"]
        for n in g["nodes"]:
            lines.append(
                f'  "{n["id"]}" [id="{n["id"]}" label="{n["label"]}" style=filled '
                f'fillcolor="{n["colour"]}"]'
            )
        for e in g["edges"]:
            lines.append(f'  "{e["source"]}" -> "{e["target"]}" [id="{e["id"]}"]')
        lines.append("}")
        return "\n".join(lines)


@pytest.fixture
def widget():
    w = GraphWidget(FakeSource(), plan={"state": "RP"})
    yield w
    w.close()


def browser_msg(widget, content, buffers=None):
    """Deliver ``content`` as the browser would: a comm 'custom' message."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": buffers or []}
    )


def assert_rejected(widget, content, fragment: str = "", buffers=None):
    plan, dot = dict(widget.plan), widget.dot
    widget.error = {}
    assert widget.handle_message(content, buffers) is False
    assert widget.error and widget.error["message"], content
    assert set(widget.error) == {"message", "site", "instance", "propagator"}
    if fragment:
        assert fragment in widget.error["message"], widget.error["message"]
    assert widget.plan == plan and widget.dot == dot


# ------------------------------------------------------------------- construction


def test_initial_state(widget):
    assert widget.plan == {"state": "RP"}
    assert widget.view == "rolled"
    assert 'id="site:state"' in widget.dot
    assert [n["id"] for n in widget.graph["nodes"]][:2] == ["param:w", "site:state"]
    assert {e["name"] for e in widget.catalogue} >= {"RP", "LR", "TP", "Backprop"}
    assert widget.error == {}
    assert widget._model_module == "proppo-lab" and widget._view_name == "GraphView"


def test_constructor_rejects_unknown_site():
    with pytest.raises(pl.PlanError, match="nosuch"):
        GraphWidget(FakeSource(), plan={"nosuch": "RP"})


def test_accepts_plan_object():
    w = GraphWidget(FakeSource(), plan=pl.Plan.from_dict({"state": "LR"}))
    assert w.plan == {"state": "LR"}
    assert w.current_plan.spec_for("state", 0).propagator == "LR"


# --------------------------------------------------------------------- valid paths


def test_assign_through_comm_changes_plan_and_dot(widget):
    seen = []
    widget.on_plan_change(seen.append)
    dot_before = widget.dot
    browser_msg(
        widget,
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "TP",
            "options": {"every": 5},
        },
    )
    assert widget.error == {}
    assert widget.plan == {"state": {"propagator": "TP", "options": {"every": 5}}}
    assert widget.dot != dot_before and COLOURS["TP"] in widget.dot
    state = next(n for n in widget.graph["nodes"] if n["id"] == "site:state")
    assert state["propagator"] == "TP"
    assert len(seen) == 1 and isinstance(seen[0], pl.Plan)
    assert seen[0].spec_for("state", 2).options["every"] == 5
    assert "TP" in widget.status


def test_assign_instance_override_and_clear(widget):
    assert widget.handle_message({"action": "view", "view": "unrolled"})
    assert widget.view == "unrolled" and 'id="site:state#2"' in widget.dot
    assert widget.handle_message(
        {"action": "assign", "site": "state", "instance": 1, "propagator": "LR", "options": {}}
    )
    assert widget.plan == {"state": {"propagator": "RP", "instances": {"1": "LR"}}}
    assert widget.current_plan.spec_for("state", 1).propagator == "LR"
    assert widget.handle_message({"action": "clear", "site": "state", "instance": 1})
    assert widget.plan == {"state": "RP"}
    assert widget.handle_message({"action": "clear", "site": "state", "instance": None})
    assert widget.plan == {}


def test_select_and_view_and_svg(widget):
    assert widget.handle_message({"action": "select", "node": "site:state"})
    assert widget.selected == "site:state"
    assert widget.handle_message({"action": "view", "view": "unrolled"})
    assert widget.selected == ""  # the rolled node is gone in the unrolled view
    assert widget.source.calls[-1][2] == "unrolled"
    assert widget.handle_message({"action": "select", "node": ""})
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><g/></svg>'
    assert widget.handle_message({"action": "svg", "svg": svg})
    assert widget.svg == svg


def test_error_cleared_by_next_valid_message(widget):
    assert_rejected(widget, {"action": "nope"})
    assert widget.handle_message(
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "LR",
            "options": {"baseline": "ema"},
        }
    )
    assert widget.error == {}


def test_repeated_error_is_resent(widget):
    changes = []
    widget.observe(lambda c: changes.append(c["new"]), names="error")
    for _ in range(2):
        widget.handle_message({"action": "nope"})
    assert sum(1 for c in changes if c) == 2


# ------------------------------------------------------------------- invalid paths

BAD = [
    ("not a dict", "JSON object"),
    (["assign"], "JSON object"),
    (None, "JSON object"),
    (42, "JSON object"),
    ({}, "unknown action"),
    ({"action": "delete_everything"}, "unknown action"),
    ({"action": "__import__('os').system('touch /tmp/pwned')"}, "unknown action"),
    ({"action": ["select"]}, "unknown action"),
    ({"action": "select"}, "missing node"),
    ({"action": "select", "node": "site:state", "extra": 1}, "unexpected"),
    ({"action": "select", "node": 3}, "string"),
    ({"action": "select", "node": "site:nosuch"}, "unknown node"),
    ({"action": "select", "node": "x" * 10_000}, "too long"),
    ({"action": "view", "view": "sideways"}, "rolled"),
    ({"action": "view", "view": ["rolled"]}, "rolled"),
    ({"action": "svg", "svg": 5}, "string"),
    ({"action": "svg", "svg": "<svg>" + "x" * (protocol.MAX_SVG + 1)}, "too large"),
    ({"action": "svg", "svg": "<script>alert(1)</script>"}, "<svg>"),
    ({"action": "clear", "site": "state"}, "missing instance"),
    ({"action": "clear", "site": "nosuch", "instance": None}, "does not have"),
    (
        {"action": "assign", "site": "state", "instance": None, "propagator": "TP"},
        "missing options",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "TP",
            "options": {},
            "code": "print(1)",
        },
        "unexpected",
    ),
    (
        {"action": "assign", "site": "nosuch", "instance": None, "propagator": "TP", "options": {}},
        "does not have",
    ),
    (
        {
            "action": "assign",
            "site": "s" * 100_000,
            "instance": None,
            "propagator": "TP",
            "options": {},
        },
        "too long",
    ),
    (
        {"action": "assign", "site": 7, "instance": None, "propagator": "TP", "options": {}},
        "string",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "Nope",
            "options": {},
        },
        "unknown propagator",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "__import__('os')",
            "options": {},
        },
        "unknown propagator",
    ),
    (
        {"action": "assign", "site": "state", "instance": -1, "propagator": "TP", "options": {}},
        "non-negative",
    ),
    (
        {"action": "assign", "site": "state", "instance": 1.5, "propagator": "TP", "options": {}},
        "integer",
    ),
    (
        {"action": "assign", "site": "state", "instance": "1", "propagator": "TP", "options": {}},
        "integer",
    ),
    (
        {"action": "assign", "site": "state", "instance": True, "propagator": "TP", "options": {}},
        "integer",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "TP",
            "options": "every=5",
        },
        "object",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "TP",
            "options": {"every": 0},
        },
        "below the minimum",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "TP",
            "options": {"every": 10**7},
        },
        "above the maximum",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "TP",
            "options": {"every": "5"},
        },
        "expected int",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "LR",
            "options": {"baseline": "eval"},
        },
        "not one of",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "LR",
            "options": {"decay": float("nan")},
        },
        "finite",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "LR",
            "options": {"decay": {"__class__": 1}},
        },
        "bool, number or string",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "TP",
            "options": {"nosuch": 1},
        },
        "unknown option",
    ),
    (
        {
            "action": "assign",
            "site": "state",
            "instance": None,
            "propagator": "Backprop",
            "options": {},
        },
        "forward nodes",
    ),
    (
        {"action": "assign", "site": "cost", "instance": None, "propagator": "RP", "options": {}},
        "loss node",
    ),
]


@pytest.mark.parametrize("content,fragment", BAD, ids=[str(i) for i in range(len(BAD))])
def test_invalid_messages_set_error_and_keep_plan(widget, content, fragment):
    assert_rejected(widget, content, fragment)


@pytest.mark.parametrize("content,fragment", BAD[:12], ids=[str(i) for i in range(12)])
def test_invalid_messages_through_comm_never_raise(widget, content, fragment):
    plan = dict(widget.plan)
    browser_msg(widget, content)  # must not raise
    assert fragment in widget.error["message"]
    assert widget.plan == plan


def test_error_names_the_site_and_propagator(widget):
    widget.handle_message(
        {
            "action": "assign",
            "site": "state",
            "instance": 2,
            "propagator": "LR",
            "options": {"decay": 2.0},
        }
    )
    assert widget.error["site"] == "state"
    assert widget.error["instance"] == 2
    assert widget.error["propagator"] == "LR"


def test_binary_buffers_rejected(widget):
    assert_rejected(widget, {"action": "select", "node": ""}, "buffers", buffers=[b"\0" * 10])


def test_override_needs_assigned_site():
    w = GraphWidget(FakeSource())
    assert_rejected(
        w,
        {"action": "assign", "site": "state", "instance": 0, "propagator": "LR", "options": {}},
        "assign the site",
    )


def test_browser_cannot_set_state_directly(widget):
    widget.set_state({"plan": {"state": "LR"}, "selected": "site:state"})
    assert widget.plan == {"state": "RP"} and widget.selected == ""
    assert "directly" in widget.error["message"]


def test_failing_source_and_callback_do_not_raise(widget):
    def boom(plan):
        raise RuntimeError("callback broke")

    widget.on_plan_change(boom)
    assert widget.handle_message(
        {"action": "assign", "site": "state", "instance": None, "propagator": "LR", "options": {}}
    )
    assert "callback broke" in widget.error["message"]
    assert widget.plan == {"state": "LR"}  # the change itself stands
    widget.on_plan_change(boom, remove=True)

    def bad_dot(plan, view, flows=None):
        raise ValueError("no dot today")

    widget.source.to_dot = bad_dot
    assert widget.handle_message(
        {"action": "assign", "site": "state", "instance": None, "propagator": "TP", "options": {}}
    )
    assert "no dot today" in widget.error["message"]


def test_show_error_from_propagation_error(widget):
    err = pl.PropagationError("boom", site="state", instance=1, propagator="LR")
    widget.show_error(err)
    assert widget.error["site"] == "state" and widget.error["instance"] == 1
    widget.clear_error()
    assert widget.error == {}


def test_set_flows_and_set_plan(widget):
    widget.set_flows(
        {
            "nodes": {"site:state": {"messages": {"cost": 1.0}}},
            "edges": {"site:state->site:h": {"norm": 2.0}},
        }
    )
    assert widget.flows["edges"]["site:state->site:h"]["norm"] == 2.0
    widget.set_plan({"state": "TP"})
    assert widget.plan == {"state": "TP"}
    with pytest.raises(pl.PlanError):
        widget.set_plan({"state": "Nope"})


def test_with_real_trace_graph():
    """The real source (proppo_lab.trace.Graph) speaks the same contract."""
    torch = pytest.importorskip("torch")
    trace = pytest.importorskip("proppo_lab.trace")
    from torch.distributions import Normal

    def program(pm):
        w = pm.param("w", torch.tensor(0.5, requires_grad=True))
        x = torch.zeros(4, 1)
        for _ in range(3):
            x = pm.sample("state", Normal(w * x + 1.0, 0.1))
        pm.loss("cost", (x**2).sum(-1))

    w = GraphWidget(trace.capture(program), plan={"state": "RP"})
    assert 'id="site:state"' in w.dot
    assert w.handle_message({"action": "view", "view": "unrolled"})
    assert 'id="site:state#2"' in w.dot
    assert w.handle_message({"action": "select", "node": "site:state#1"})
    assert w.handle_message(
        {"action": "assign", "site": "state", "instance": 1, "propagator": "LR", "options": {}}
    ), w.error
    node = next(n for n in w.graph["nodes"] if n["id"] == "site:state#1")
    assert node["propagator"] == "LR" and node["colour"] == COLOURS["LR"]


def test_unrolling_a_huge_graph_is_refused_with_a_reason():
    from proppo_lab.contracts import MAX_UNROLLED
    from proppo_lab.systems import ChaoticRNN
    from proppo_lab.trace import capture

    graph = capture(ChaoticRNN(steps=MAX_UNROLLED + 1, particles=2), ops=False)
    w = GraphWidget(graph)
    assert not w.handle_message({"action": "view", "view": "unrolled"})
    assert w.view == "rolled" and "rolled view" in w.error["message"]
    small = GraphWidget(capture(ChaoticRNN(steps=10, particles=2), ops=False))
    assert small.handle_message({"action": "view", "view": "unrolled"})
    assert small.view == "unrolled"
