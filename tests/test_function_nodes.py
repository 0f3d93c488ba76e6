"""Function nodes: a forward site that owns the function producing its value."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

import proppo_lab as pl
from proppo_lab import trace


def _net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))


def _program(net: nn.Sequential, x: torch.Tensor):
    def program(pm):
        pm.param("net", net)
        h = pm.forward("hidden", net[0], x)
        h = pm.forward("act", torch.tanh, h)
        y = pm.forward("out", net[2], h)
        pm.loss("cost", (y.squeeze(-1) - 1.0) ** 2)

    return program


def _plain_grads(net: nn.Sequential, x: torch.Tensor) -> dict[str, torch.Tensor]:
    net.zero_grad()
    ((net(x).squeeze(-1) - 1.0) ** 2).mean().backward()
    return {f"net.{k}": p.grad.clone() for k, p in net.named_parameters()}


@pytest.mark.parametrize("propagator", ["Backprop", "Pause", "Skip"])
def test_function_nodes_give_backprops_gradients(propagator):
    net, x = _net(), torch.randn(8, 3)
    want = _plain_grads(net, x)
    pm = pl.PropagationManager(default={"sample": "RP", "forward": propagator})
    got = pm.estimate(_program(net, x))
    assert set(got) == set(want)
    for key in want:
        torch.testing.assert_close(got[key], want[key])


def test_plain_forward_nodes_still_take_a_value():
    x = torch.randn(5, requires_grad=True)
    pm = pl.PropagationManager()

    def program(pm):
        pm.param("x", x)
        pm.loss("cost", pm.forward("y", x * 2) ** 2)

    assert torch.allclose(pm.estimate(program)["x"], 8 * x.detach() / 5)


def test_a_propagator_can_replace_the_backward_map(clean_registry):
    """The contract that feedback alignment and checkpointing stand on: the
    propagator runs the function itself and chooses the gradient sent upstream."""

    @pl.register("Halve", colour="#123456", kinds=("forward",), doc="halves the input gradient")
    class Halve(pl.Propagator):
        reads_grad = True

        def forward(self, node, fp):
            with torch.enable_grad():
                inputs = [t.detach().requires_grad_() for t in node.inputs]
                out = node.function(*inputs)
            node.saved.update(out=out, inputs=inputs)
            return fp.detach(node, out, grad=True)

        def backward(self, node, bp):
            grad_in = torch.autograd.grad(node.saved["out"], node.saved["inputs"], bp.grad(node))
            bp.backprop(node, list(node.inputs), [g / 2 for g in grad_in])

    x = torch.randn(6, 3, requires_grad=True)
    lin = nn.Linear(3, 2)

    def program(pm):
        pm.param("x", x)
        pm.loss("cost", pm.forward("lin", lin, x).sum(-1))

    plain = pl.PropagationManager().estimate(program)["x"]
    halved = pl.PropagationManager(plan={"lin": "Halve"}).estimate(program)["x"]
    torch.testing.assert_close(halved, plain / 2)


def test_constants_are_bound_into_the_function():
    x = torch.randn(4, 2, requires_grad=True)
    pm = pl.PropagationManager()

    def program(pm):
        pm.param("x", x)
        y = pm.forward("scaled", functools.partial(torch.mul, other=3.0), x)
        pm.loss("cost", y.sum(-1))

    assert torch.allclose(pm.estimate(program)["x"], torch.full((4, 2), 3.0 / 4))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((torch.ones(2), torch.ones(2)), "a value takes no inputs"),
        ((3.0,), "expected a tensor or a function"),
        ((torch.tanh,), "needs at least one input"),
        ((torch.add, torch.ones(2), 1.0), "input 1 is a float"),
    ],
)
def test_bad_forward_calls_say_what_is_wrong(args, message):
    pm = pl.PropagationManager()
    with pytest.raises(TypeError, match=message):
        pm.forward("site", *args)


@pytest.mark.parametrize(
    "spec",
    [
        "Backprop",
        {"propagator": "Truncate", "options": {"k": 1}},  # instance 1 is cut
        "Checkpoint",
        "SyntheticGradient",  # every instance is decoupled
    ],
    ids=["Backprop", "Truncate", "Checkpoint", "SyntheticGradient"],
)
def test_a_function_that_returns_no_tensor_names_the_node(spec):
    lin = torch.nn.Linear(2, 2)
    x = torch.ones(3, 2)
    pm = pl.PropagationManager(plan={"pair": spec})
    pm.forward("pair", lin, x)  # instance 0 returns a tensor
    with pytest.raises(pl.PropagationError) as err:
        pm.forward("pair", lambda t: (lin(t), t), x)
    assert err.value.site == "pair" and err.value.instance == 1
    assert "returned tuple, not a tensor" in str(err.value)


def test_the_graph_names_the_function_and_its_parameters():
    net, x = _net(), torch.randn(8, 3)
    graph = trace.capture(_program(net, x))
    by_site = {i.site: i for i in graph.instances}
    assert by_site["hidden"].function == "Linear"
    assert by_site["act"].function == "tanh"
    assert by_site["cost"].function is None
    # the module's own weights feed the node that owns it, and only that node
    assert _param_edges(graph) == {
        ("param:net.0.weight", "site:hidden#0"),
        ("param:net.0.bias", "site:hidden#0"),
        ("param:net.2.weight", "site:out#0"),
        ("param:net.2.bias", "site:out#0"),
    }
    assert ("site:hidden#0", "site:act#0") in graph.instance_edges
    labels = {n["site"]: n["label"] for n in graph.to_json(view="rolled")["nodes"]}
    assert labels["hidden"] == "hidden: Linear"
    assert labels["cost"] == "cost"


def _param_edges(graph) -> set[tuple[str, str]]:
    return {
        (e["source"], e["target"])
        for e in graph.to_json(view="unrolled")["edges"]
        if e["source"].startswith("param:")
    }
