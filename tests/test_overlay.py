"""Per-node live overlays, kernel side: the values, their folding, the widget's
``overlay`` trait, the protocol message and the Lab's setter; and the flows the
tooltips read, for every instance of the drawn view after a run."""

from __future__ import annotations

import math

import pytest

import proppo_lab as pl
from proppo_lab.lab import overlay
from proppo_lab.lab.overlay import METRICS


def records():
    """A recorded pass as Recorder.records() gives it: two instances of x, one loss."""
    return {
        "site:x#0": {
            "site": "x",
            "instance": 0,
            "messages": {"grad": 3.0, "cost": 1.0},
            "weights": {"Pathwise": 0.2, "ScoreFunction": 0.8},
        },
        "site:x#1": {
            "site": "x",
            "instance": 1,
            "messages": {"backprop": 4.0, "cost": 3.0},
            "weights": {"Pathwise": 0.6, "ScoreFunction": 0.4},
        },
        "site:loss#0": {"site": "loss", "instance": 0, "messages": {"cost": float("nan")}},
    }


def test_instance_values_read_each_metric_and_drop_non_finite():
    values = overlay.instance_values(records())
    assert set(values) == set(METRICS)
    # grad when the propagator reads it, else what it handed to autograd
    assert values["grad norm"] == {"site:x#0": 3.0, "site:x#1": 4.0}
    assert values["TP weight on RP"] == {"site:x#0": 0.2, "site:x#1": 0.6}
    assert values["cost-to-go"] == {"site:x#0": 1.0, "site:x#1": 3.0}  # NaN dropped


def test_rolled_view_folds_norms_by_rss_and_weights_by_mean():
    values = overlay.instance_values(records())
    assert overlay.view_values(values["grad norm"], "grad norm", "rolled") == {"site:x": 5.0}
    rolled = overlay.view_values(values["TP weight on RP"], "TP weight on RP", "rolled")
    assert rolled == {"site:x": pytest.approx(0.4)}
    assert overlay.view_values(values["grad norm"], "grad norm", "unrolled") == values["grad norm"]


def test_payload_says_log_when_values_span_decades():
    values = {"grad norm": {"site:x#0": 1e-3, "site:x#1": 10.0}}
    p = overlay.payload("grad norm", values, "unrolled", 7)
    assert p["metric"] == "grad norm" and p["iteration"] == 7 and p["log"] is True
    assert p["metrics"] == list(METRICS) and p["values"] == values["grad norm"]
    assert (
        overlay.payload("grad norm", {"grad norm": {"a": 1.0, "b": 50.0}}, "unrolled", None)["log"]
        is False
    )
    off = overlay.payload("", values, "unrolled", 7)
    assert off["values"] == {} and off["metric"] == ""


def test_unknown_metric_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="grad norm"):
        overlay.check_metric("gradient")


@pytest.fixture
def lab():
    lab = pl.Lab(
        pl.systems.ChaoticRNN(beta=2.8, steps=12, particles=32), plan={"state": "TP"}, iterations=2
    )
    yield lab
    lab.stop()
    lab.runner.join(10)


def test_lab_sends_overlay_values_for_every_instance_and_follows_the_view(lab):
    assert lab.graph.overlay["metrics"] == list(METRICS)
    assert lab.graph.overlay["values"] == {}  # nothing recorded, nothing chosen
    lab.overlay = "grad norm"
    assert lab.graph.overlay["values"] == {}  # chosen, but no run yet
    lab.run(wait=True)
    rolled = lab.graph.overlay
    assert set(rolled["values"]) == {"site:state", "site:cost"}
    assert rolled["iteration"] == 1
    assert lab.graph.handle_message({"action": "view", "view": "unrolled"})
    values = lab.graph.overlay["values"]
    assert {f"site:state#{i}" for i in range(12)} <= set(values)
    assert all(math.isfinite(v) and v >= 0 for v in values.values())
    # the rolled value is the norm of all the instances' messages together
    site = math.sqrt(sum(v * v for k, v in values.items() if k.startswith("site:state#")))
    assert rolled["values"]["site:state"] == pytest.approx(site, rel=1e-6)
    lab.overlay = "TP weight on RP"
    weights = lab.graph.overlay["values"]
    assert len(weights) == 12 and all(0 <= w <= 1 for w in weights.values())


def test_flows_follow_the_view_after_a_run(lab):
    """Hovering state[11] in the unrolled view after a run in the rolled view shows
    its messages: the flows are re-keyed when the view changes (tutorial 2's path)."""
    lab.run(wait=True)
    assert set(lab.graph.flows["nodes"]) >= {"site:state"}
    assert lab.graph.handle_message({"action": "view", "view": "unrolled"})
    nodes = lab.graph.flows["nodes"]
    for i in range(12):
        assert nodes[f"site:state#{i}"]["messages"], i
    assert lab.graph.handle_message({"action": "view", "view": "rolled"})
    assert "site:state" in lab.graph.flows["nodes"]


def test_overlay_message_is_validated(lab):
    assert lab.graph.handle_message({"action": "overlay", "metric": "cost-to-go"})
    assert lab.overlay == "cost-to-go"
    assert not lab.graph.handle_message({"action": "overlay", "metric": "nope"})
    assert "no overlay named 'nope'" in lab.graph.error["message"]
    assert lab.overlay == "cost-to-go"
    assert not lab.graph.handle_message({"action": "overlay", "metric": 3})
    assert not lab.graph.handle_message({"action": "overlay"})
    with pytest.raises(ValueError):
        lab.overlay = "nope"
