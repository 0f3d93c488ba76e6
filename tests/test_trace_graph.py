"""Graph capture: nodes, edges, ids, plan colouring, DOT."""

import html
import re
import shutil

import pytest
import torch
from torch.distributions import Normal

import proppo_lab as pl
from proppo_lab.core import registry
from proppo_lab.systems import ChaoticRNN, GaussianToy
from proppo_lab.trace import LOSS_COLOUR, PARAM_COLOUR, Graph, capture


def colour(name):
    return registry.get(name).colour


class Branches:
    """z feeds a forward node and a second sample; two losses."""

    sites = ("z", "a", "b", "la", "lb")

    def __init__(self):
        self.params = {
            "theta": torch.tensor(0.3, requires_grad=True),
            "w": torch.tensor(1.5, requires_grad=True),
        }

    def __call__(self, pm):
        th = pm.param("theta", self.params["theta"])
        w = pm.param("w", self.params["w"])
        z = pm.sample("z", Normal(th.expand(16), 1.0))
        a = pm.forward("a", torch.sin(z) * w)
        b = pm.sample("b", Normal(2 * z, 0.5))
        pm.loss("la", a**2)
        pm.loss("lb", (b - a) ** 2)


def json_sets(view_json):
    return (
        {n["id"] for n in view_json["nodes"]},
        {
            (e["id"], e["source"], e["target"], e["recurrent"], e["count"])
            for e in view_json["edges"]
        },
    )


def test_gaussian_toy_graph():
    g = capture(GaussianToy(particles=10))
    nodes, edges = json_sets(g.to_json(view="rolled"))
    assert nodes == {"param:mu", "param:sigma", "site:x", "site:cost"}
    assert edges == {
        ("param:mu->site:x", "param:mu", "site:x", False, 1),
        ("param:sigma->site:x", "param:sigma", "site:x", False, 1),
        ("site:x->site:cost", "site:x", "site:cost", False, 1),
    }
    j = g.to_json(view="rolled")
    assert j["view"] == "rolled" and j["sites"] == ["x", "cost"]
    by_id = {n["id"]: n for n in j["nodes"]}
    x = by_id["site:x"]
    assert x == {
        "id": "site:x",
        "kind": "sample",
        "site": "x",
        "instance": None,
        "count": 1,
        "propagator": "RP",
        "options": {},
        "colour": colour("RP"),
        "label": "x",
        "overrides": {},
        "dist": "Normal",
        "shape": [10],
        "dtype": "float32",
        "device": "cpu",
        "function": None,
    }
    assert by_id["param:mu"]["kind"] == "param" and by_id["param:mu"]["colour"] == PARAM_COLOUR
    assert by_id["param:mu"]["propagator"] is None
    assert by_id["site:cost"]["kind"] == "loss" and by_id["site:cost"]["propagator"] is None
    assert by_id["site:cost"]["colour"] == LOSS_COLOUR
    unrolled = g.to_json(view="unrolled")
    assert {n["id"] for n in unrolled["nodes"]} == {
        "param:mu",
        "param:sigma",
        "site:x#0",
        "site:cost#0",
    }
    assert {n["instance"] for n in unrolled["nodes"] if n["kind"] != "param"} == {0}


@pytest.mark.parametrize("plan", ["RP", "LR", "TP", "Pause", "GR", "GS"])
def test_chaotic_rnn_graph(plan):
    steps = 10
    g = capture(ChaoticRNN(steps=steps, particles=20), default=plan)
    nodes, edges = json_sets(g.to_json(view="rolled"))
    assert nodes == {"param:beta", "site:state", "site:cost"}
    assert edges == {
        ("param:beta->site:state", "param:beta", "site:state", False, steps),
        ("site:state->site:state", "site:state", "site:state", True, steps - 1),
        ("site:state->site:cost", "site:state", "site:cost", False, 1),
    }
    rolled = {n["id"]: n for n in g.to_json(view="rolled")["nodes"]}
    assert rolled["site:state"]["count"] == steps
    assert rolled["site:state"]["label"] == f"state ×{steps}"
    nodes, edges = json_sets(g.to_json(view="unrolled"))
    assert nodes == {"param:beta", "site:cost#0"} | {f"site:state#{t}" for t in range(steps)}
    expected = {
        (f"param:beta->site:state#{t}", "param:beta", f"site:state#{t}", False, 1)
        for t in range(steps)
    }
    expected |= {
        (f"site:state#{t}->site:state#{t + 1}", f"site:state#{t}", f"site:state#{t + 1}", True, 1)
        for t in range(steps - 1)
    }
    expected.add(
        (f"site:state#{steps - 1}->site:cost#0", f"site:state#{steps - 1}", "site:cost#0", False, 1)
    )
    assert edges == expected


@pytest.mark.parametrize(
    "plan", [{}, {"z": "LR", "b": "TP", "a": "Pause"}, {"z": "TP", "a": "Skip", "b": "LR"}]
)
def test_branches_and_two_losses(plan):
    g = capture(Branches(), plan=plan)
    nodes, edges = json_sets(g.to_json(view="rolled"))
    assert nodes == {"param:theta", "param:w", "site:z", "site:a", "site:b", "site:la", "site:lb"}
    assert {e[0] for e in edges} == {
        "param:theta->site:z",
        "site:z->site:a",
        "param:w->site:a",
        "site:z->site:b",
        "site:a->site:la",
        "site:a->site:lb",
        "site:b->site:lb",
    }
    kinds = {n["id"]: n["kind"] for n in g.to_json(view="rolled")["nodes"]}
    assert kinds["site:a"] == "forward" and kinds["site:la"] == kinds["site:lb"] == "loss"
    assert g.to_json(plan, "rolled")["nodes"][3]["propagator"] == plan.get("a", "Backprop")


def test_ids_stable_across_captures():
    for make in (lambda: ChaoticRNN(steps=5, particles=8), Branches):
        a, b = capture(make()), capture(make())
        for view in ("rolled", "unrolled"):
            assert a.to_json(view=view) == b.to_json(view=view)
            assert a.node_ids(view) == b.node_ids(view)
            assert a.edge_ids(view) == b.edge_ids(view)


def test_recolour_without_retracing():
    g = capture(ChaoticRNN(steps=6, particles=8), plan={"state": "TP"})
    before = {n["id"]: n["colour"] for n in g.to_json(view="rolled")["nodes"]}
    assert before["site:state"] == colour("TP")
    plan = {"state": {"propagator": "LR", "instances": {"3": "RP", "5": "Pause"}}}
    j = g.to_json(plan, "rolled")
    state = next(n for n in j["nodes"] if n["id"] == "site:state")
    assert state["propagator"] == "LR" and state["colour"] == colour("LR")
    assert state["overrides"] == {"3": "RP", "5": "Pause"}
    un = {n["id"]: n for n in g.to_json(pl.Plan.from_dict(plan), "unrolled")["nodes"]}
    assert un["site:state#3"]["propagator"] == "RP"
    assert un["site:state#3"]["colour"] == colour("RP")
    assert un["site:state#5"]["colour"] == colour("Pause")
    assert un["site:state#0"]["colour"] == colour("LR")
    # no plan: the default decides, forward nodes default to Backprop
    g2 = capture(Branches())
    props = {n["id"]: n["propagator"] for n in g2.to_json({"z": "TP"})["nodes"]}
    assert props["site:z"] == "TP" and props["site:b"] == "RP" and props["site:a"] == "Backprop"
    props = {n["id"]: n["propagator"] for n in g2.to_json({}, default="LR")["nodes"]}
    assert props["site:z"] == "LR" and props["site:a"] == "Backprop"


def test_ops_detail():
    g = capture(ChaoticRNN(steps=3, particles=8))
    ops = g.ops("site:state")
    assert "SigmoidBackward0" in ops and "MmBackward0" in ops
    assert g.ops("site:state#1") == ops
    assert "PowBackward0" in g.ops("site:cost")
    assert g.ops("param:beta") == []
    with pytest.raises(KeyError):
        g.ops("site:nope#3")


def _dot_nodes(dot):
    out = {}
    for line in dot.splitlines():
        m = re.search(r'\bid="([^"]+)"', line)
        if m and "->" not in line.split("[")[0]:
            fill = re.search(r'fillcolor="(#[0-9a-f]{6})"', line)
            out[m.group(1)] = fill.group(1) if fill else None
    return out


@pytest.mark.parametrize("view", ["rolled", "unrolled"])
def test_dot_has_every_id_and_colour(view):
    g = capture(Branches())
    plan = {"z": "TP", "b": "LR", "a": "Pause"}
    j = g.to_json(plan, view)
    dot = g.to_dot(plan, view)
    nodes = _dot_nodes(dot)
    for n in j["nodes"]:
        assert nodes[n["id"]] == n["colour"], n["id"]
    for e in j["edges"]:
        assert f'id="{e["id"]}"' in dot
    # legend lists the propagators in use, fonts readable, shapes distinct
    for name in ("TP", "LR", "Pause"):
        assert f'id="legend:{name}"' in dot
    assert "cluster_legend" in dot
    assert "fontsize=16" in dot and "rankdir=LR" in dot
    assert "doubleoctagon" in dot and "ellipse" in dot


def test_dot_recurrent_label_and_flows():
    g = capture(ChaoticRNN(steps=7, particles=8))
    dot = g.to_dot()
    edge = next(line for line in dot.splitlines() if 'id="site:state->site:state"' in line)
    assert "×6" in edge
    flows = {
        "edges": {
            "site:state->site:state": {"norm": 100.0},
            "param:beta->site:state": {"norm": 0.01},
        }
    }
    dot = g.to_dot(flows=flows)
    lines = {
        re.search(r'id="([^"]+)"', line).group(1): line
        for line in dot.splitlines()
        if "->" in line.split("[")[0]
    }
    pw = {k: float(re.search(r'penwidth="?([0-9.]+)', v).group(1)) for k, v in lines.items()}
    assert pw["site:state->site:state"] > pw["param:beta->site:state"] >= 1.0
    assert pw["site:state->site:cost"] == 1.0


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot binary not installed")
def test_svg_keeps_ids():
    g = capture(Branches())
    svg = g.to_svg({"z": "TP"})
    ids = {html.unescape(i) for i in re.findall(r'<g id="([^"]+)"', svg)}
    for nid in g.node_ids("rolled") + g.edge_ids("rolled"):
        assert nid in ids, nid


def test_capture_leaves_no_state_and_graph_repr():
    toy = GaussianToy(particles=4)
    g = capture(toy)
    assert isinstance(g, Graph) and "2 sites" in repr(g)
    assert toy.params["mu"].grad is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_capture_on_gpu():
    g = capture(ChaoticRNN(steps=4, particles=8, device="cuda"))
    assert {n["device"] for n in g.to_json()["nodes"]} == {"cuda:0"}


def test_unrolled_dot_draws_a_shared_parameter_once_per_site():
    from proppo_lab.trace.dot import FAN_OUT

    graph = capture(ChaoticRNN(steps=50, particles=4), ops=False)
    view = graph.to_json(None, "unrolled")
    param_edges = [e for e in view["edges"] if e["source"] == "param:beta"]
    assert len(param_edges) == 50 > FAN_OUT  # the model keeps every edge
    dot = graph.to_dot(None, "unrolled")
    drawn = [line for line in dot.splitlines() if 'id="param:beta->' in line]
    assert len(drawn) == 1 and 'label="all 50 steps"' in drawn[0]
    assert 'id="site:state#0->site:state#1"' in dot  # the recurrence is still drawn in full


def test_nodes_carry_the_options_the_plan_gives_them():
    g = capture(GaussianToy(particles=10))
    plan = {"x": {"propagator": "LR", "options": {"baseline": "ema"}}}
    for view in ("rolled", "unrolled"):
        by_kind = {n["kind"]: n for n in g.to_json(plan=plan, view=view)["nodes"]}
        assert by_kind["sample"]["options"] == {"baseline": "ema"}  # as given, defaults left out
        assert by_kind["param"]["options"] == {} and by_kind["loss"]["options"] == {}


@pytest.mark.parametrize("plan", ["LR", "RELAX", "Enumerate"])
def test_categorical_program_captures(plan):
    """An integer-valued node cannot require grad: capture must still see its site
    and its parameter's edge (it failed with a dtype error under every plan)."""
    from torch.distributions import Categorical

    logits = torch.zeros(3, requires_grad=True)
    values = torch.tensor([1.0, 2.0, 4.0])

    def program(pm):
        k = pm.sample("k", Categorical(logits=pm.param("logits", logits).expand(6, 3)))
        pm.loss("cost", values[k])

    nodes, edges = json_sets(capture(program, {"k": plan}).to_json(view="rolled"))
    assert nodes == {"param:logits", "site:k", "site:cost"}
    # an index passes no gradient on, so autograd shows no edge k -> cost
    assert {e[0] for e in edges} == {"param:logits->site:k"}
