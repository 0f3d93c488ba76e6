"""Message flows: records against hand-computed values, summaries, history, figures."""

import math

import pytest
import torch
from torch.distributions import Normal

import proppo_lab as pl
from proppo_lab.systems import ChaoticRNN
from proppo_lab.trace import Recorder, capture, heatmap_figure, messages_figure, weights_figure

N = 64
A = 1.5


class Chain:
    """x1 ~ N(mu, 1), x2 ~ N(A x1, 0.5), cost x2^2; keeps what it drew."""

    sites = ("x1", "x2", "cost")

    def __init__(self):
        self.params = {"mu": torch.tensor(0.5, requires_grad=True)}

    def __call__(self, pm):
        mu = pm.param("mu", self.params["mu"])
        x1 = pm.sample("x1", Normal(mu.expand(N), 1.0))
        x2 = pm.sample("x2", Normal(A * x1, 0.5))
        self.x1, self.x2 = x1.detach(), x2.detach()
        self.cost = (x2**2).detach()
        pm.loss("cost", x2**2)


def run(plan, program=None, **kw):
    program = program or Chain()
    graph = capture(program)
    pm = pl.PropagationManager(plan=plan, sites=program.sites)
    rec = Recorder(graph, **kw).attach(pm)
    torch.manual_seed(0)
    pm.estimate(program)
    return program, graph, rec


def close(a, b, rel=1e-5):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-7)


def test_cost_messages_equal_the_cost():
    prog, graph, rec = run({"x1": "TP", "x2": "TP"})
    r = rec.records()
    cost_norm = float(torch.linalg.vector_norm(prog.cost))
    for nid in ("site:x1#0", "site:x2#0", "site:cost#0"):
        assert close(r[nid]["messages"]["cost"], cost_norm), nid
    # the cost-to-go travels node -> prev: cost -> x2 -> x1
    assert {"to": "site:x2#0", "kind": "cost", "norm": r["site:x2#0"]["messages"]["cost"]} in r[
        "site:cost#0"
    ]["sent"]
    assert any(m["to"] == "site:x1#0" and m["kind"] == "cost" for m in r["site:x2#0"]["sent"])
    assert not any(m["kind"] == "cost" for m in r["site:x1#0"]["sent"])  # first node
    # the loss hands d mean / d cost = 1/N per particle to autograd
    assert close(r["site:cost#0"]["messages"]["backprop"], 1 / math.sqrt(N))


def test_tp_weights_and_baseline():
    prog, graph, rec = run({"x1": "TP", "x2": "TP"})
    for nid in ("site:x1#0", "site:x2#0"):
        w = rec.records()[nid]["weights"]
        assert set(w) == {"Pathwise", "ScoreFunction"}
        assert all(0.0 <= v <= 1.0 for v in w.values())
        assert close(sum(w.values()), 1.0)
        # leave-one-out baselines average to the mean cost
        assert close(rec.records()[nid]["baseline"], float(prog.cost.mean()), rel=1e-4)
        assert rec.records()[nid]["propagator"] == "TP"


def test_grad_messages_under_pause_match_hand_derivatives():
    prog, graph, rec = run({"x1": "Pause", "x2": "Pause"})
    r = rec.records()
    g2 = 2 * prog.x2 / N  # d mean(x2^2) / d x2
    g1 = A * g2  # x2 = A x1 + noise
    assert close(r["site:x2#0"]["messages"]["grad"], float(torch.linalg.vector_norm(g2)))
    assert close(r["site:x1#0"]["messages"]["grad"], float(torch.linalg.vector_norm(g1)))
    assert r["site:x1#0"]["sent"] == [
        {"to": "autograd", "kind": "backprop", "norm": r["site:x1#0"]["messages"]["grad"]}
    ]


def test_lr_sends_score_terms():
    prog, graph, rec = run({"x1": "LR", "x2": "LR"})
    r = rec.records()
    assert "grad" not in r["site:x1#0"]["messages"]
    assert r["site:x1#0"]["messages"]["backprop"] > 0
    assert "weights" not in r["site:x1#0"] and "baseline" in r["site:x1#0"]


def test_flows_keys_match_graph_ids():
    prog, graph, rec = run({"x1": "TP", "x2": "Pause"})
    for view in ("rolled", "unrolled"):
        flows = rec.flows(view)
        assert set(flows["nodes"]) == {n for n in graph.node_ids(view) if n.startswith("site:")}
        assert set(flows["edges"]) <= set(graph.edge_ids(view))
        assert flows["edges"], view
        for e in flows["edges"].values():
            assert set(e) == {"norm"} and e["norm"] > 0
    rolled = rec.flows("rolled")["nodes"]
    assert set(rolled["site:x1"]) >= {"messages", "weights", "baseline"}
    assert "weights" not in rolled["site:x2"]
    # edge norm: what the target node handed to autograd
    un = rec.flows("unrolled")
    assert close(
        un["edges"]["site:x1#0->site:x2#0"]["norm"],
        un["nodes"]["site:x2#0"]["messages"]["backprop"],
    )
    dot = graph.to_dot({"x1": "TP", "x2": "Pause"}, "rolled", flows=rec.flows("rolled"))
    assert "penwidth" in dot


def test_rolled_flows_on_the_chaotic_rnn():
    steps = 8
    rnn = ChaoticRNN(beta=3.0, particles=50, steps=steps)
    graph = capture(rnn)
    pm = pl.PropagationManager(plan={"state": "TP"}, sites=rnn.sites)
    rec = Recorder(graph).attach(pm)
    pm.estimate(rnn)
    un = rec.flows("unrolled")["nodes"]
    norms = [un[f"site:state#{t}"]["messages"]["grad"] for t in range(steps)]
    rolled = rec.flows("rolled")
    assert math.isclose(
        rolled["nodes"]["site:state"]["messages"]["grad"],
        math.sqrt(sum(n * n for n in norms)),
        rel_tol=1e-9,
    )
    ws = [un[f"site:state#{t}"]["weights"]["Pathwise"] for t in range(steps)]
    assert math.isclose(
        rolled["nodes"]["site:state"]["weights"]["Pathwise"], sum(ws) / steps, rel_tol=1e-9
    )
    assert rolled["edges"]["site:state->site:state"]["norm"] > 0


def test_history_is_bounded_and_downsampled():
    prog = Chain()
    pm = pl.PropagationManager(plan={"x1": "TP"})
    rec = Recorder(history=4).attach(pm)
    for _ in range(37):
        pm.estimate(prog)
    assert rec.passes == 37
    assert 2 <= len(rec.history) <= 4
    assert rec.stride > 1 and rec.stride & (rec.stride - 1) == 0
    assert all(h["pass"] % rec.stride == 0 for h in rec.history)
    assert rec.latest_iteration == 36  # iterations count from 0, like NonFiniteError
    rec.detach()
    pm.estimate(prog)
    assert rec.passes == 37


def test_gradient_explodes_backwards_under_pause_on_chaos():
    steps = 30
    rnn = ChaoticRNN(beta=3.0, particles=100, steps=steps)
    pm = pl.PropagationManager(plan={"state": "Pause"})
    rec = Recorder().attach(pm)
    torch.manual_seed(0)
    pm.estimate(rnn)
    xs, ys = rec.series("state", "grad")
    assert xs == list(range(steps))
    assert ys[0] > 100 * ys[-1]


def test_figures():
    rnn = ChaoticRNN(beta=3.0, particles=40, steps=10)
    pm = pl.PropagationManager(plan={"state": "TP"})
    rec = Recorder(history=8).attach(pm)
    for _ in range(5):
        pm.estimate(rnn)
    fig = messages_figure(rec, "grad")
    assert [t.name for t in fig.data] == ["state grad"]
    assert list(fig.data[0].x) == list(range(10)) and fig.layout.yaxis.type == "log"
    fig = weights_figure(rec, "state")
    assert len(fig.data) == 2 and all(len(t.y) == 10 for t in fig.data)
    for i in range(10):
        assert math.isclose(fig.data[0].y[i] + fig.data[1].y[i], 1.0, rel_tol=1e-5)
    fig = heatmap_figure(rec, "state", "grad")
    assert len(fig.data[0].z) == 10 and len(fig.data[0].z[0]) == 5
    assert list(fig.data[0].x) == [0, 1, 2, 3, 4]


def test_no_pass_yet():
    with pytest.raises(RuntimeError):
        Recorder().records()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_recorder_on_gpu():
    rnn = ChaoticRNN(beta=3.0, particles=100, steps=10, device="cuda")
    pm = pl.PropagationManager(plan={"state": "TP"})
    rec = Recorder(capture(rnn)).attach(pm)
    pm.estimate(rnn)
    flows = rec.flows("rolled")
    assert isinstance(flows["nodes"]["site:state"]["messages"]["grad"], float)
