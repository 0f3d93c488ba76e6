"""The registry: the palette a UI shows, and user propagators registered like the built-ins."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import torch
from conftest import assert_within_se, collect

import proppo_lab as pl
from proppo_lab.systems import GaussianChain, GaussianToy

BUILTINS = [
    "Backprop",
    "RP",
    "LR",
    "TP",
    "GR",
    "GS",
    "Pause",
    "Skip",
    "ARM",
    "DisARM",
    "Enumerate",
    "MVD",
    "Gumbel",
    "RELAX",
]


def _by_name():
    return {e["name"]: e for e in pl.catalogue()}


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_catalogue_describes_every_builtin():
    cat = _by_name()
    json.dumps(pl.catalogue())  # plain data a front end can read
    for name in BUILTINS:
        e = cat[name]
        assert e["name"] == name
        assert isinstance(e["display"], str) and e["display"]
        assert re.fullmatch(r"#[0-9a-f]{6}", e["colour"]), e["colour"]
        assert isinstance(e["doc"], str) and len(e["doc"]) > 20
        assert isinstance(e["options"], dict)
        assert e["builtin"] is True
        assert set(e["kinds"]) <= {"sample", "forward"} and e["kinds"]
        for opt_name, opt in e["options"].items():
            assert opt["type"] in ("float", "int", "bool", "str"), (name, opt_name)
            assert "default" in opt and "doc" in opt
    colours = [cat[n]["colour"] for n in BUILTINS]
    assert len(set(colours)) == len(colours), "built-ins should be told apart by colour"


def test_catalogue_option_schemas():
    cat = _by_name()
    assert cat["RP"]["options"] == {}
    lr = cat["LR"]["options"]
    assert lr["baseline"]["default"] == "loo"
    assert {"loo", "none", "ema", "learned"} <= set(lr["baseline"]["choices"])
    assert (
        lr["decay"]["type"] == "float" and lr["decay"]["min"] == 0.0 and lr["decay"]["max"] == 1.0
    )
    tp = cat["TP"]["options"]
    assert tp["every"]["type"] == "int" and tp["every"]["min"] == 1
    assert set(cat["GR"]["options"]["estimator"]["choices"]) == {"RP", "LR", "TP"}
    assert cat["Backprop"]["kinds"] == ["forward"] and cat["RP"]["kinds"] == ["sample"]


def test_register_class_propagator(clean_registry):
    name = _unique("MyRP")

    @pl.register(
        name,
        colour="#123456",
        doc="pathwise, written by hand",
        options={"scale": pl.Option("float", 1.0, min=0.0)},
    )
    class Scaled(pl.Propagator):
        reads_grad = True

        def __init__(self, scale: float):
            self.scale = scale

        def forward(self, node, fp):
            x = node.dist.rsample()
            node.saved["value"] = x
            return fp.detach(node, x, grad=True)

        def backward(self, node, bp):
            bp.backprop(node, [node.saved["value"]], [self.scale * bp.grad(node)])

    entry = _by_name()[name]
    assert entry["colour"] == "#123456" and entry["doc"] == "pathwise, written by hand"
    assert entry["builtin"] is False and entry["options"]["scale"]["default"] == 1.0

    system = GaussianToy(particles=32)
    torch.manual_seed(3)
    ref = pl.PropagationManager({"x": "RP"}).estimate(system)
    torch.manual_seed(3)
    mine = pl.PropagationManager({"x": {"propagator": name, "options": {"scale": 2.0}}}).estimate(
        system
    )
    for k in ref:
        torch.testing.assert_close(mine[k], 2 * ref[k])
    with pytest.raises(pl.PlanError):
        pl.PropagationManager({"x": {"propagator": name, "options": {"scale": -1.0}}})


def test_register_function_returning_composite_is_unbiased(clean_registry):
    name = _unique("Half")

    @pl.register(name, colour="#aa3377")
    def half_half():
        """Half pathwise, half score function."""
        return pl.Composite([pl.Pathwise(), pl.ScoreFunction()], mix="sum", weights=[0.5, 0.5])

    entry = _by_name()[name]
    assert entry["doc"] == "Half pathwise, half score function."
    system = GaussianToy(particles=500)
    torch.manual_seed(11)
    g = collect(pl.PropagationManager({"x": name}, sites=system.sites), system, 300)
    truth = system.analytic_gradient()
    for k in truth:
        assert_within_se(g[k], truth[k], what=f"{name} d/d{k}")


def test_duplicate_names_rejected(clean_registry):
    with pytest.raises(ValueError):
        pl.register("RP")(lambda: pl.Composite([pl.Pathwise()]))
    name = _unique("Dup")
    pl.register(name)(lambda: pl.Composite([pl.Pathwise()]))
    with pytest.raises(ValueError):
        pl.register(name)(lambda: pl.Composite([pl.ScoreFunction()]))
    # replacing is explicit
    pl.register(name, replace=True, doc="second")(lambda: pl.Composite([pl.ScoreFunction()]))
    assert _by_name()[name]["doc"] == "second"


def test_builtins_cannot_be_unregistered():
    with pytest.raises(ValueError):
        pl.unregister("RP")
    with pytest.raises(KeyError):
        pl.unregister(_unique("Nothing"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "1bad"},
        {"name": "has space"},
        {"name": "x" * 40},
        {"name": "Ok", "colour": "red"},
        {"name": "Ok", "kinds": ("loss",)},
        {"name": "Ok", "kinds": ()},
    ],
)
def test_register_validates_metadata(kwargs, clean_registry):
    name = kwargs.pop("name")
    with pytest.raises(ValueError):
        pl.register(name, **kwargs)


def test_register_option_must_be_option(clean_registry):
    with pytest.raises(TypeError):
        pl.register(_unique("Opt"), options={"k": 3})


def test_unregistered_name_leaves_plans_unusable(clean_registry):
    name = _unique("Gone")
    pl.register(name)(lambda: pl.Composite([pl.Pathwise()]))
    pl.Plan.from_dict({"x": name})
    pl.unregister(name)
    with pytest.raises(pl.PlanError):
        pl.Plan.from_dict({"x": name})
    assert name not in _by_name()


def test_new_baseline_is_a_choice_of_lr_and_unbiased(clean_registry):
    name = "truemean_test"
    truth_mean = 0.5**2 + 1.0**2  # E[x^2] on GaussianToy(mu=0.5, sigma=1)

    @pl.baseline(name, replace=True)
    def true_mean(cost, state, options):
        return torch.full_like(cost, truth_mean)

    cat = _by_name()
    for prop in ("LR", "TP", "GS"):
        assert name in cat[prop]["options"]["baseline"]["choices"], prop
    plan = {"x": {"propagator": "LR", "options": {"baseline": name}}}
    assert pl.Plan.from_dict(plan).spec_for("x", 0).options["baseline"] == name

    system = GaussianToy(particles=500)
    pm = pl.PropagationManager(plan, sites=system.sites)
    seen = []

    class Watch:
        def message_sent(self, message, target):
            if message.kind == "baseline":
                seen.append(message.content)

    pm.observe(Watch())
    torch.manual_seed(5)
    g = collect(pm, system, 300)
    assert seen and torch.allclose(seen[0], torch.full_like(seen[0], truth_mean))
    truth = system.analytic_gradient()
    for k in truth:
        assert_within_se(g[k], truth[k], what=f"LR[{name}] d/d{k}")
    with pytest.raises(ValueError):
        pl.baseline(name)(true_mean)  # duplicates need replace=True


def test_readme_median_example(clean_registry):
    bname = "median_readme_test"

    @pl.baseline(bname, replace=True)
    def median(cost, state, options):
        return cost.median().expand_as(cost)

    name = _unique("LRmed")

    @pl.register(name, colour="#aa3377", doc="LR with a median baseline")
    def lr_median():
        return pl.Composite([pl.ScoreFunction(bname)], draw="sample")

    assert name in _by_name()
    grads = pl.PropagationManager({"x": name}).estimate(GaussianToy(particles=100))
    assert all(torch.isfinite(v) for v in grads.values())


@pytest.mark.parametrize("estimator", ["RP", "LR", "TP"])
def test_gr_nests_an_estimator(estimator):
    system = GaussianChain(particles=200)
    pm = pl.PropagationManager(
        {
            "x1": {"propagator": "GR", "options": {"estimator": estimator}},
            "x2": {"propagator": "GR", "options": {"estimator": estimator}},
        },
        sites=system.sites,
    )
    torch.manual_seed(2)
    g = collect(pm, system, 20)
    truth = system.analytic_gradient()
    for k in truth:
        assert bool(torch.isfinite(g[k]).all())
        assert (g[k].mean() > 0) == (truth[k] > 0), (estimator, k)  # right direction


def test_gr_and_gs_serve_forward_nodes():
    mu = torch.tensor(0.5, requires_grad=True)

    def program(pm):
        m = pm.param("mu", mu)
        x = pm.sample("x", torch.distributions.Normal(m.expand(300), 1.0))
        y = pm.forward("f", 2 * x)
        pm.loss("cost", y**2)

    for prop in ("GR", "GS"):
        pm = pl.PropagationManager({"f": prop})
        torch.manual_seed(0)
        g = pm.estimate(program)["mu"]
        assert torch.isfinite(g)


def test_register_docstring_example_runs(clean_registry):
    """The example in register()'s docstring registers and serves a site as written."""
    from proppo_lab.core import registry

    example = registry.register.__doc__.split("::", 1)[1].split("\n\n    The decorated")[0]
    namespace = {"pl": pl}
    exec(
        compile(__import__("textwrap").dedent(example).strip("\n"), "<docstring>", "exec"),
        namespace,
    )
    system = GaussianChain(particles=20)
    grads = pl.PropagationManager({"x1": "LRema"}, default="RP").estimate(system)
    assert all(torch.isfinite(v).all() for v in grads.values())
    assert pl.catalogue()[-1]["name"] == "LRema"


def test_the_exported_palette_shows_each_propagators_whole_doc():
    """An exported page's palette tooltip is the propagator's doc as one paragraph, not its
    first hard-wrapped line (RP's stopped at "…the sample is written as a")."""
    from proppo_lab.lab import publish

    palette = publish._palette([{"kind": "sample"}, {"kind": "forward"}])
    assert {p["name"] for p in palette} >= set(BUILTINS)
    docs = {e["name"]: " ".join(e["doc"].split()) for e in pl.catalogue()}
    for entry in palette:
        assert entry["doc"] == docs[entry["name"]], entry["name"]
        if entry["name"] in BUILTINS:
            assert entry["doc"].endswith("."), (entry["name"], entry["doc"])
