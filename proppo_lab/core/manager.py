"""The propagation manager: records nodes on the forward pass, runs propagators backwards.

The whole idea of automatic propagation in one place:

* The program marks values as nodes at named *sites* (``sample``, ``forward``,
  ``loss``); each hit of a site is an *instance*. The manager looks up the
  site's propagator in the *plan* (plain data, outside the program), lets it
  decide what the program receives, and appends the node to the *tape*.
* ``backward`` walks the tape in reverse. Each node's propagator reads its
  messages (cost-to-go, the gradient that reached its output) and sends
  messages to earlier nodes: gradients through autograd, cost-to-go to the
  node before it. Gradients end up in ``.grad`` of the program's tensors just
  as ``loss.backward()`` would leave them.

What a propagator may do on each pass, and how the backward pass batches its
autograd work, is in :mod:`.passes`; observers in :mod:`.observer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from . import per_particle, registry
from .coupling import Coupling, Grouping, RegroupError
from .errors import PropagationError, located
from .loss import LossPropagator
from .node import Node, forward_arguments
from .observer import Listeners
from .passes import BackwardPass, ForwardPass
from .plan import Plan, parse_default
from .propagator import Propagator

Program = Callable[["PropagationManager"], Any]


class PropagationManager:
    """Records a program's nodes and propagates through them under a plan.

    ``plan`` maps site names to propagators (see :class:`Plan`); sites the plan
    does not name use ``default`` (a propagator name for sample nodes, or a
    mapping ``{"sample": ..., "forward": ...}``; forward nodes default to
    Backprop). ``sites`` lists the program's sites when known, so a plan naming
    another site is rejected at once; otherwise the check happens at the first
    ``backward``, before any propagation.
    """

    def __init__(
        self,
        plan: Mapping | Plan | None = None,
        default: str | Mapping = "RP",
        *,
        sites: Iterable[str] | None = None,
        check_finite: bool = True,
        max_nodes: int = 1_000_000,
    ):
        self._site_props: dict[str, Propagator] = {}
        self.plan = Plan.from_dict(plan)
        self.default = parse_default(default)
        self.known_sites: set[str] = set(sites or ())
        if sites is not None:
            self.plan.check_sites(self.known_sites)
        self.check_finite = check_finite
        self.max_nodes = max_nodes
        self.record_edges = False
        self.watch_grads = False
        #: also split each estimate into per-particle shares (two extra autograd
        #: calls per gradient term): read them from ``particle_gradients``
        self.per_particle = False
        self.particle_gradients: per_particle.ParticleGradients | None = None
        self.iteration = 0
        self.params: dict[str, torch.Tensor] = {}
        self._tape: list[Node] = []
        self._counts: dict[str, int] = {}
        self._site_kinds: dict[str, str] = {}
        self._propagators: dict[tuple, Propagator] = {}
        self._state: dict[tuple[str, int], dict] = {}
        #: how this iteration's particles are grouped for a coupled node (:mod:`.coupling`)
        self.grouping = Grouping()
        self._listeners = Listeners()
        self._forward = ForwardPass(self)
        self._loss_prop = LossPropagator()

    # -- configuration ----------------------------------------------------
    @property
    def plan(self) -> Plan:
        return self._plan

    @plan.setter
    def plan(self, plan: Mapping | Plan) -> None:
        self.set_plan(plan)

    def set_plan(self, plan: Mapping | Plan) -> None:
        """Use another plan from the next forward pass on; no program change needed."""
        plan = Plan.from_dict(plan)
        if getattr(self, "known_sites", None):
            plan.check_sites(self.known_sites)
        self._plan = plan
        self._site_props = {}

    def observe(self, observer: Any) -> Callable[[], None]:
        """Attach an observer (see :class:`~.observer.Observer`); returns a detach function.

        Events nobody listens to are never built, so an observer costs only
        the events it handles.
        """
        return self._listeners.attach(observer)

    @contextmanager
    def observing(self, *observers: Any) -> Iterator[Any]:
        """Attach ``observers`` for a block; they are detached when it ends, even by an error.

        Yields the observer (or the tuple, when given several)::

            with pm.observing(trace.Recorder()) as rec:
                pm.estimate(program)
        """
        detaches = []
        try:
            for observer in observers:
                detaches.append(self.observe(observer))
            yield observers[0] if len(observers) == 1 else observers
        finally:
            for detach in reversed(detaches):
                detach()

    # -- the program's API ------------------------------------------------
    def param(self, name: str, value: torch.Tensor | nn.Module):
        """Name what is learned: a tensor, or every parameter of a module.

        Returns ``value`` unchanged. Named parameters are the ones TP computes
        per-particle gradient contributions for.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"param name must be a non-empty string, got {name!r}")
        if isinstance(value, nn.Module):
            items = {f"{name}.{k}": p for k, p in value.named_parameters()}
            if not items:
                raise ValueError(f"param '{name}': the module has no parameters")
        elif isinstance(value, torch.Tensor):
            items = {name: value}
        else:
            raise TypeError(
                f"param '{name}' must be a tensor or an nn.Module, got {type(value).__name__}"
            )
        for key, tensor in items.items():
            old = self.params.get(key)
            if old is not None and old is not tensor and self._tape:
                raise ValueError(
                    f"param '{key}' was already named for another tensor in this iteration"
                )
            self.params[key] = tensor
        return value

    def sample(self, site: str, dist: torch.distributions.Distribution) -> torch.Tensor:
        """A stochastic node: draws from ``dist`` (dim 0 indexes particles)."""
        if not isinstance(dist, torch.distributions.Distribution):
            raise TypeError(
                f"sample('{site}'): expected a torch.distributions.Distribution, "
                f"got {type(dist).__name__}"
            )
        return self._record("sample", site, None, dist)

    def forward(self, site: str, fn: Callable | torch.Tensor, *inputs: torch.Tensor):
        """A deterministic node.

        ``pm.forward(site, x)``: the value ``x`` passes through the site's propagator.
        ``pm.forward(site, fn, *inputs)``: a *function node* that owns ``fn`` (a
        function or an ``nn.Module``) and its tensor inputs, so its propagator can
        run it, keep what it needs and replace its backward map (feedback
        alignment, checkpointing) or the gradient sent upstream (synthetic
        gradients). Under Backprop it returns ``fn(*inputs)`` as plain PyTorch would.
        """
        inputs, function = forward_arguments(site, fn, inputs)
        return self._record("forward", site, inputs, None, function)

    def loss(self, site: str, cost: torch.Tensor) -> torch.Tensor:
        """A per-particle cost of shape (particles,). The objective is the mean over
        particles of all costs recorded before ``backward``."""
        if not isinstance(cost, torch.Tensor) or cost.dim() != 1:
            shape = tuple(cost.shape) if isinstance(cost, torch.Tensor) else type(cost).__name__
            raise ValueError(
                f"loss('{site}'): expected a per-particle cost of shape (particles,), "
                f"got {shape}; sum over the other dimensions first"
            )
        return self._record("loss", site, (cost,), None)

    def _record(
        self, kind: str, site: str, inputs: tuple | None, dist, function=None
    ) -> torch.Tensor:
        if not isinstance(site, str) or not site:
            raise ValueError(f"site names must be non-empty strings, got {site!r}")
        seen = self._site_kinds.setdefault(site, kind)
        if seen != kind:
            raise ValueError(f"site '{site}' is a {seen} site; it cannot also be used as {kind}")
        if len(self._tape) >= self.max_nodes:
            raise RuntimeError(
                f"the tape holds {len(self._tape)} nodes: was pm.backward() "
                "forgotten? Call pm.backward() or pm.discard() each iteration"
            )
        instance = self._counts.get(site, 0)
        prop = self._loss_prop if kind == "loss" else self._propagator_for(kind, site, instance)
        tape = self._tape
        node = Node(
            site,
            instance,
            kind,
            len(tape),
            prop,
            inputs,
            dist,
            tape[-1] if tape else None,
            self.iteration,
            function,
        )
        try:
            self.grouping.assign(node, self.iteration)
            out = self.grouping.settle(node, prop.forward(node, self._forward))
        except Exception as err:
            raise located(err, node, phase="forward", iteration=self.iteration) from err
        node.output = out
        self._counts[site] = instance + 1
        self._tape.append(node)
        for handler in self._listeners.node_created:
            handler(node)
        return out

    def _propagator_for(self, kind: str, site: str, instance: int) -> Propagator:
        prop = self._site_props.get(site)  # set for sites without per-instance overrides
        if prop is not None:
            return prop
        site_plan = self.plan.sites.get(site)
        spec = self.plan.spec_for(site, instance) or self.default[kind]
        prop = self._propagators.get(spec.key)
        if prop is None:
            prop = self._propagators[spec.key] = registry.get(spec.propagator).build(spec.options)
        if kind not in prop.entry.kinds:
            raise PropagationError(
                f"{prop.name} cannot serve a {kind} node; it serves "
                f"{' and '.join(prop.entry.kinds)} nodes",
                site=site,
                instance=instance,
                propagator=prop.name,
                phase="forward",
                iteration=self.iteration,
            )
        if site_plan is None or not site_plan.instances:
            self._site_props[site] = prop
        return prop

    def _state_for(self, node: Node) -> dict:
        return self._state.setdefault((node.site, node.instance), {})

    # -- running ----------------------------------------------------------
    @property
    def tape(self) -> tuple[Node, ...]:
        """The nodes recorded since the last backward (or discard)."""
        return tuple(self._tape)

    def backward(self) -> None:
        """Propagate through the recorded nodes; leaves gradients in ``.grad``."""
        tape = self._tape
        if not tape:
            raise RuntimeError(
                "backward(): nothing recorded since the last backward; run the "
                "program (which calls pm.sample/pm.loss) before each backward"
            )
        if not any(n.kind == "loss" for n in tape):
            raise RuntimeError("backward(): no loss recorded; call pm.loss(site, cost) first")
        self.plan.check_sites(set(self._counts) | self.known_sites)
        bp = BackwardPass(self)
        _announce(self._listeners.backward_started, tape)
        try:
            quiet = bp.quiet
            for node in reversed(tape):
                prop = node.propagator
                if quiet and prop.idle:  # nothing to do there; its cost-to-go is routed past
                    continue
                if prop.reads_grad:
                    bp.flush(before=node)
                try:
                    prop.backward(node, bp)
                except Exception as err:
                    raise located(err, node, phase="backward", iteration=self.iteration) from err
                bp.pass_cost(node)
            bp.finish()
            self.grouping.learn()
            _announce(self._listeners.backward_finished, tape)
        finally:
            self._end_iteration()

    @property
    def coupling(self) -> Coupling | None:
        """The grouping of this iteration's particles (see :mod:`.coupling`); None:
        independent. A program that reads it before the coupled node is reached on
        the first iteration gets None, and the iteration is run again in groups."""
        return self.grouping.coupling

    def discard(self) -> None:
        """Drop what was recorded without propagating (e.g. after an error)."""
        self._end_iteration()

    def _end_iteration(self) -> None:
        self.known_sites.update(self._counts)
        self._tape = []
        self._counts = {}
        self.iteration += 1
        self.grouping.end_iteration()

    def record(self, program: Program) -> Any:
        """Run ``program`` forward, recording its nodes; returns what it returns.

        When a coupled node is met after nodes upstream of it were drawn one
        per particle, the grouping is known from then on and the program runs
        once more, drawn in groups (see :mod:`.coupling`). On an error what was
        recorded is discarded.
        """
        for attempt in range(2):
            try:
                return program(self)
            except RegroupError:  # the grouping is known now: once more, drawn in groups
                self.discard()
                if attempt:
                    raise
            except BaseException:
                self.discard()
                raise

    def estimate(self, program: Program) -> dict[str, torch.Tensor]:
        """One gradient estimate: zero the named parameters' grads, run, propagate.

        Returns ``{param name: gradient}`` (copies; ``.grad`` holds the same).
        """
        for p in self.params.values():
            p.grad = None
        self.record(program)
        for p in self.params.values():
            p.grad = None
        try:
            self.backward()  # which ends the iteration, also when propagation fails
        except BaseException:
            if self._tape:  # refused before propagating (no loss, a plan naming no site)
                self.discard()
            raise
        return {
            k: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
            for k, p in self.params.items()
        }


def _announce(handlers: tuple, tape: list[Node]) -> None:
    """Tell ``handlers`` about a pass over ``tape`` (one snapshot of it for them all)."""
    if handlers:
        snapshot = tuple(tape)
        for handler in handlers:
            handler(snapshot)
