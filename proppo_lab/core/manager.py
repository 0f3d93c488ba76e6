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

Gradient work is batched: terms handed to :meth:`BackwardPass.backprop` are
delivered in one autograd call just before a node that reads its gradient, so
a plan of only RP (or only LR) nodes costs a single autograd pass.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from . import per_particle, registry
from .errors import NonFiniteError, PlanError, PropagationError
from .finite import finite_flags
from .messages import Merge, Message
from .node import Node
from .plan import Plan, Spec, parse_spec
from .propagator import Propagator

Program = Callable[["PropagationManager"], Any]

DEFAULT_FOR_FORWARD = "Backprop"


class ForwardPass:
    """What a propagator may do while the program runs forward."""

    def __init__(self, manager: "PropagationManager"):
        self.manager = manager

    def detach(self, node: Node, x: torch.Tensor, *, grad: bool) -> torch.Tensor:
        """Cut the autograd graph at ``x``: the program continues from a fresh leaf.

        With ``grad=True`` the gradient that later reaches the leaf is this
        node's incoming gradient message (:meth:`BackwardPass.grad`). The leaf
        also requires grad while edges are being recorded, so the graph of the
        program stays visible whatever the plan.
        """
        leaf = x.detach()
        if grad or self.manager.record_edges:
            leaf.requires_grad_(True)
        node.saved["leaf"] = leaf
        return leaf

    def state(self, node: Node) -> dict:
        return self.manager._state_for(node)

    def watch(self, node: Node, x: torch.Tensor) -> torch.Tensor:
        """Report the gradient reaching ``x`` as a "grad" message to observers.

        Only when ``manager.watch_grads`` is on (the lab turns it on to show
        gradients flowing back through RP and Backprop nodes, which otherwise
        travel inside one autograd pass). A tensor hook: no extra pass, no
        change to the estimate.
        """
        manager = self.manager
        if manager.watch_grads and x.requires_grad and manager._observers:
            def report(g, node=node):
                manager._emit("message_sent", Message("grad", g, Merge.REPLACE, node), node)
            x.register_hook(report)
        return x


class BackwardPass:
    """One backward pass: pending gradient terms, message delivery, finiteness checks."""

    def __init__(self, manager: "PropagationManager"):
        self.manager = manager
        self._tensors: list[torch.Tensor] = []
        self._grads: list[torch.Tensor] = []
        self._last_sender: Node | None = None
        self._checks: list[tuple[Node, str, torch.Tensor]] = []
        self._deferred: list[tuple[list, torch.Tensor]] = []
        self._observed = bool(manager._observers)
        #: per-pass memory for propagators (e.g. weights reused across instances)
        self.scratch: dict = {}
        self._particles = (per_particle.ParticleAccumulator(manager.params)
                           if manager.per_particle else None)
        self._deferred_work: dict[Callable, list] = {}

    # -- reading messages -------------------------------------------------
    def cost(self, node: Node) -> torch.Tensor | None:
        """Per-particle cost-to-go at ``node`` (None when no cost lies downstream)."""
        return node.inbox.get("cost")

    def grad(self, node: Node) -> torch.Tensor:
        """The gradient that reached the node's detached output (zeros if none did)."""
        leaf = node.saved.get("leaf")
        if leaf is None:
            raise RuntimeError("grad() needs the propagator to call fp.detach(..., grad=True) "
                               "in forward")
        g = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
        self.check(node, "incoming gradient", g)
        node.inbox.put(Message("grad", g, Merge.REPLACE))
        return g

    def state(self, node: Node) -> dict:
        """State kept across iterations for this (site, instance): baselines, weights."""
        return self.manager._state_for(node)

    # -- sending messages -------------------------------------------------
    def send(self, sender: Node, target: Node | None, kind: str, content: Any,
             merge: Merge = Merge.SUM) -> None:
        """Deliver a message to ``target`` (skipping nodes whose propagator routes past)."""
        while target is not None and target.propagator.routes_past:
            target = target.prev
        if target is None:
            return
        message = Message(kind, content, merge, sender)
        target.inbox.put(message)
        if self._observed:
            self.manager._emit("message_sent", message, target)

    def note(self, sender: Node, kind: str, content: Any) -> None:
        """Record a diagnostic at the node itself (TP weights, baselines) for observers."""
        sender.inbox.put(Message(kind, content, Merge.REPLACE, sender))
        if self._observed:
            self.manager._emit("message_sent", Message(kind, content, Merge.REPLACE, sender), sender)

    def defer(self, work: Callable[[list, "BackwardPass"], None], item: Any) -> None:
        """Queue ``item`` for ``work(items, bp)``, run just before the next delivery.

        For terms no later node waits for, so that many nodes' terms are
        computed in one stacked step (``work`` calls :meth:`backprop`).
        """
        self._deferred_work.setdefault(work, []).append(item)

    def backprop(self, sender: Node, tensors: Iterable[torch.Tensor],
                 grads: Iterable[torch.Tensor]) -> None:
        """Hand gradient terms to autograd; they are delivered at the next flush."""
        for t, g in zip(tensors, grads):
            if not t.requires_grad:
                continue
            self.check(sender, "gradient sent backwards", g)
            if self._particles is not None:
                self._particles.add(t, g)
            self._tensors.append(t)
            self._grads.append(g)
            if self._observed:
                self.manager._emit("message_sent", Message("backprop", g, Merge.SUM, sender), None)
        self._last_sender = sender

    def backprop_each(self, senders: list[Node], tensors: list[torch.Tensor],
                      grads: torch.Tensor) -> None:
        """One term per sender: ``tensors[k]`` of ``senders[k]`` receives ``grads[k]``.

        With nobody watching the messages, the terms enter autograd as one
        stacked root (autograd's per-root bookkeeping would otherwise dominate a
        long run of small nodes); each sender's gradient is still checked.
        """
        if self._observed or self._particles is not None or not all(
                t.requires_grad for t in tensors):
            for node, t, g in zip(senders, tensors, grads):
                self.backprop(node, [t], [g])
            return
        for node, g in zip(senders, grads):
            self.check(node, "gradient sent backwards", g)
        self._tensors.append(torch.stack(tensors))
        self._grads.append(grads)
        self._last_sender = senders[-1]

    def flush(self, last: bool = False) -> None:
        """Deliver pending gradient terms in one autograd call.

        A segment of the graph can feed several nodes (``s = 0.9 * s + a``
        feeds both the cost and the next node), so every delivery but the
        last keeps the graph; it is dropped with the tape.
        """
        while self._deferred_work:
            work, items = self._deferred_work.popitem()
            work(items, self)
        self._verify()
        if not self._tensors:
            return
        tensors, grads = self._tensors, self._grads
        self._tensors, self._grads = [], []
        try:
            torch.autograd.backward(tensors, grads, retain_graph=not last)
        except RuntimeError as err:
            node = self._last_sender
            raise PropagationError(f"autograd failed delivering gradients: {err}",
                                   site=node.site, instance=node.instance,
                                   propagator=node.propagator_name, phase="backward",
                                   iteration=self.manager.iteration) from err

    # -- checks -----------------------------------------------------------
    def check(self, node: Node, what: str, value: torch.Tensor) -> None:
        """Queue a finiteness check of a message; raises NonFiniteError naming the node.

        Checks are batched: on the CPU they run (one fused norm, one host read)
        before pending gradients are delivered, so nothing non-finite reaches
        ``.grad``; on a GPU they are collected and read once at the end of the
        pass, so the backward loop never waits for the device.
        """
        if self.manager.check_finite:
            self._checks.append((node, what, value))

    def _verify(self) -> None:
        if not self._checks:
            return
        checks, self._checks = self._checks, []
        ok = finite_flags([v for _, _, v in checks])
        if ok.is_cuda:
            self._deferred.append((checks, ok))
        elif not bool(ok.all()):
            node, what, _ = checks[int((~ok).nonzero()[0])]
            self._raise_nonfinite(node, what)

    def _raise_nonfinite(self, node: Node, what: str):
        raise NonFiniteError(f"{what} is not finite (NaN or inf)", site=node.site,
                             instance=node.instance, propagator=node.propagator_name,
                             phase="backward", iteration=self.manager.iteration)

    def finish(self) -> None:
        self.flush(last=True)  # runs deferred work first: its terms count too
        if self._particles is not None:
            self.manager.particle_gradients = self._particles.result()
        self._verify()
        if self._deferred:
            flags = torch.cat([ok for _, ok in self._deferred]).cpu()
            if not bool(flags.all()):
                checks = [c for batch, _ in self._deferred for c in batch]
                node, what, _ = checks[int((~flags).nonzero()[0])]
                self._raise_nonfinite(node, what)

    def pass_cost(self, node: Node) -> None:
        cost = node.inbox.get("cost")
        if cost is not None and node.prev is not None:
            self.send(node, node.prev, "cost", cost)


class LossPropagator(Propagator):
    """Adds a per-particle cost: its mean over particles is the objective."""

    def forward(self, node, fp):
        return node.inputs[0]

    def backward(self, node, bp):
        cost = node.inputs[0]
        bp.check(node, "cost", cost)
        node.inbox.put(Message("cost", cost.detach(), Merge.SUM, node))
        bp.backprop(node, [cost], [torch.full_like(cost, 1.0 / cost.shape[0])])


class PropagationManager:
    """Records a program's nodes and propagates through them under a plan.

    ``plan`` maps site names to propagators (see :class:`Plan`); sites the plan
    does not name use ``default`` (a propagator name for sample nodes, or a
    mapping ``{"sample": ..., "forward": ...}``; forward nodes default to
    Backprop). ``sites`` lists the program's sites when known, so a plan naming
    another site is rejected at once; otherwise the check happens at the first
    ``backward``, before any propagation.
    """

    def __init__(self, plan: Mapping | Plan | None = None, default: str | Mapping = "RP", *,
                 sites: Iterable[str] | None = None, check_finite: bool = True,
                 max_nodes: int = 1_000_000):
        self._site_props: dict[str, Propagator] = {}
        self.plan = Plan.from_dict(plan)
        self.default = self._parse_default(default)
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
        self._observers: list[Any] = []
        self._handlers: dict[str, list] = {}
        self._owners: dict[Any, Node] = {}
        self._forward = ForwardPass(self)
        self._loss_prop = LossPropagator()

    # -- configuration ----------------------------------------------------
    @staticmethod
    def _parse_default(default) -> dict[str, Spec]:
        if isinstance(default, (str, Spec)) or (isinstance(default, Mapping) and "propagator" in default):
            default = {"sample": default}
        if not isinstance(default, Mapping):
            raise PlanError(f"default must be a propagator name or a mapping by node kind, "
                            f"got {type(default).__name__}")
        unknown = set(default) - set(registry.NODE_KINDS)
        if unknown:
            raise PlanError(f"default: unknown node kind(s) {sorted(unknown)}; "
                            f"expected {list(registry.NODE_KINDS)}")
        raw = {"forward": DEFAULT_FOR_FORWARD, **default}
        return {kind: parse_spec(raw[kind], f"default for {kind} nodes")[0] for kind in raw}

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
        """Attach an observer; returns a function that detaches it.

        An observer implements any of ``node_created(node)``,
        ``message_sent(message, target)`` (target None: handed to autograd),
        ``backward_started(tape)``, ``backward_finished(tape)``. With no
        observers attached, the manager never builds an event.
        """
        self._observers.append(observer)
        self._handlers = {}

        def detach():
            if observer in self._observers:
                self._observers.remove(observer)
                self._handlers = {}
        return detach

    def _emit(self, event: str, *args) -> None:
        handlers = self._handlers.get(event)
        if handlers is None:  # looked up once per event kind, not per node
            handlers = self._handlers[event] = [h for h in (getattr(o, event, None)
                                                            for o in self._observers) if h]
        for handler in handlers:
            handler(*args)

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
            raise TypeError(f"param '{name}' must be a tensor or an nn.Module, "
                            f"got {type(value).__name__}")
        for key, tensor in items.items():
            old = self.params.get(key)
            if old is not None and old is not tensor and self._tape:
                raise ValueError(f"param '{key}' was already named for another tensor "
                                 "in this iteration")
            self.params[key] = tensor
        return value

    def sample(self, site: str, dist: torch.distributions.Distribution) -> torch.Tensor:
        """A stochastic node: draws from ``dist`` (dim 0 indexes particles)."""
        if not isinstance(dist, torch.distributions.Distribution):
            raise TypeError(f"sample('{site}'): expected a torch.distributions.Distribution, "
                            f"got {type(dist).__name__}")
        return self._record("sample", site, None, dist)

    def forward(self, site: str, x: torch.Tensor) -> torch.Tensor:
        """A deterministic node: the value ``x`` passes through the site's propagator."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"forward('{site}'): expected a tensor, got {type(x).__name__}")
        return self._record("forward", site, (x,), None)

    def loss(self, site: str, cost: torch.Tensor) -> torch.Tensor:
        """A per-particle cost of shape (particles,). The objective is the mean over
        particles of all costs recorded before ``backward``."""
        if not isinstance(cost, torch.Tensor) or cost.dim() != 1:
            shape = tuple(cost.shape) if isinstance(cost, torch.Tensor) else type(cost).__name__
            raise ValueError(f"loss('{site}'): expected a per-particle cost of shape (particles,), "
                             f"got {shape}; sum over the other dimensions first")
        return self._record("loss", site, (cost,), None)

    def _record(self, kind: str, site: str, inputs: tuple | None, dist) -> torch.Tensor:
        if not isinstance(site, str) or not site:
            raise ValueError(f"site names must be non-empty strings, got {site!r}")
        seen = self._site_kinds.setdefault(site, kind)
        if seen != kind:
            raise ValueError(f"site '{site}' is a {seen} site; it cannot also be used as {kind}")
        if len(self._tape) >= self.max_nodes:
            raise RuntimeError(f"the tape holds {len(self._tape)} nodes: was pm.backward() "
                               "forgotten? Call pm.backward() or pm.discard() each iteration")
        instance = self._counts.get(site, 0)
        prop = self._loss_prop if kind == "loss" else self._propagator_for(kind, site, instance)
        tape = self._tape
        node = Node(site, instance, kind, len(tape), prop, inputs, dist, tape[-1] if tape else None)
        try:
            out = prop.forward(node, self._forward)
        except PropagationError:
            raise
        except Exception as err:
            raise PropagationError(str(err), site=site, instance=instance, propagator=prop.name,
                                   phase="forward", iteration=self.iteration) from err
        node.output = out
        self._counts[site] = instance + 1
        self._tape.append(node)
        if out is not None:
            self._owners[out if out.grad_fn is None else out.grad_fn] = node
        if self._observers:
            self._emit("node_created", node)
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
            raise PropagationError(f"{prop.name} cannot serve a {kind} node; it serves "
                                   f"{' and '.join(prop.entry.kinds)} nodes",
                                   site=site, instance=instance, propagator=prop.name,
                                   phase="forward", iteration=self.iteration)
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
            raise RuntimeError("backward(): nothing recorded since the last backward; run the "
                               "program (which calls pm.sample/pm.loss) before each backward")
        if not any(n.kind == "loss" for n in tape):
            raise RuntimeError("backward(): no loss recorded; call pm.loss(site, cost) first")
        self.plan.check_sites(set(self._counts) | self.known_sites)
        bp = BackwardPass(self)
        if self._observers:
            self._emit("backward_started", tuple(tape))
        try:
            for node in reversed(tape):
                prop = node.propagator
                if prop.reads_grad:
                    bp.flush()
                try:
                    prop.backward(node, bp)
                except PropagationError:
                    raise
                except Exception as err:
                    raise PropagationError(str(err), site=node.site, instance=node.instance,
                                           propagator=node.propagator_name, phase="backward",
                                           iteration=self.iteration) from err
                bp.pass_cost(node)
            bp.finish()
            if self._observers:
                self._emit("backward_finished", tuple(tape))
        finally:
            self._end_iteration()

    def discard(self) -> None:
        """Drop what was recorded without propagating (e.g. after an error)."""
        self._end_iteration()

    def _end_iteration(self) -> None:
        self.known_sites.update(self._counts)
        self._tape = []
        self._counts = {}
        self._owners = {}
        self.iteration += 1

    def estimate(self, program: Program) -> dict[str, torch.Tensor]:
        """One gradient estimate: zero the named parameters' grads, run, propagate.

        Returns ``{param name: gradient}`` (copies; ``.grad`` holds the same).
        """
        for p in self.params.values():
            p.grad = None
        try:
            program(self)
            for p in self.params.values():
                p.grad = None
            self.backward()
        except BaseException:
            self.discard()
            raise
        return {k: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
                for k, p in self.params.items()}

    # -- structure ----------------------------------------------------------
    def parents(self, node: Node) -> tuple[list[Node], list[str]]:
        """Earlier nodes and named parameters that ``node``'s inputs depend on.

        Read off the autograd graph between nodes (so only while the tape is
        alive, before ``backward``). The walk stops at other nodes' outputs, so
        it costs the size of the node's own segment.
        """
        by_tensor = {id(t): name for name, t in self.params.items()}
        nodes: list[Node] = []
        params: list[str] = []
        seen: set = set()
        stack = []
        for t in node.inputs:
            owner = self._owners.get(t if t.grad_fn is None else t.grad_fn)
            if owner is not None and owner is not node:
                nodes.append(owner)
            elif t.grad_fn is not None:
                stack.append(t.grad_fn)
            elif id(t) in by_tensor:
                params.append(by_tensor[id(t)])
        while stack:
            fn = stack.pop()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            owner = self._owners.get(fn)
            if owner is not None and owner is not node:
                if owner not in nodes:
                    nodes.append(owner)
                continue
            variable = getattr(fn, "variable", None)
            if variable is not None:
                owner = self._owners.get(variable)
                if owner is not None and owner not in nodes:
                    nodes.append(owner)
                elif id(variable) in by_tensor and by_tensor[id(variable)] not in params:
                    params.append(by_tensor[id(variable)])
                continue
            stack.extend(next_fn for next_fn, _ in fn.next_functions)
        nodes.sort(key=lambda n: n.index)
        return nodes, params
