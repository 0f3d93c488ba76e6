"""Message flows: what every node sent on each backward pass, and how large it was.

Why an observer: the engine emits ``message_sent(message, target)`` and
``backward_started/finished(tape)`` only when someone listens, so recording
costs nothing when it is off. A pass is kept as device scalars and turned into
floats with one host sync when read (:mod:`.pass_record`), so the backward loop
on a GPU never waits for the recorder.

What is recorded per node instance (unrolled id ``site:<site>#<i>``):

* ``sent``: each message the node sent: to a node id or ``"autograd"``, its
  kind (``backprop`` = gradient handed to autograd, ``cost`` = cost-to-go
  passed to the node before it) and its norm;
* ``messages``: norms by kind: ``backprop`` (what it handed to autograd, the
  root-sum-square over its terms), ``cost`` (its cost-to-go), ``grad`` (the
  gradient that reached its output, for propagators that read it: Pause, TP,
  ... — pure RP hands one batch to autograd, so there is none to see);
* ``weights``: TP's inverse-variance weights ``{"Pathwise": w, "ScoreFunction": w}``;
* ``baseline``: the mean of the LR baseline.

Memory is bounded: the latest pass is kept in full, earlier ones as per-node
summaries in a history that keeps every k-th pass, doubling k whenever it
holds ``history`` entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.observer import Observer
from .graph import Graph
from .ids import edge_id, site_id
from .pass_record import PassNorms, build, rss


class Recorder(Observer):
    """Observer recording message flows: ``with pm.observing(rec):``, ``pm.observe(rec)``,
    or ``rec.attach(pm)`` (which keeps the detach function, for :meth:`detach`).

    ``graph`` (optional, from :func:`capture`) lets :meth:`flows` attribute
    gradient messages to graph edges.
    """

    def __init__(self, graph: Graph | None = None, history: int = 256):
        if history < 2:
            raise ValueError("history must hold at least 2 passes")
        self.graph = graph
        self.capacity = history
        self.stride = 1  # keep every stride-th pass in the history
        self.passes = 0  # backward passes seen
        self._latest_raw = None
        self._latest: dict[str, dict] | None = None
        self.latest_iteration: int | None = None
        self._history: list[dict] = []
        self._detach = None
        self._pass = PassNorms()

    # -- attaching ----------------------------------------------------------
    def attach(self, pm) -> Recorder:
        """Observe ``pm`` (and only it) until :meth:`detach`."""
        self.detach()
        self._detach = pm.observe(self)
        return self

    @property
    def attached(self) -> bool:
        """Attached with :meth:`attach` and not detached since."""
        return self._detach is not None

    def detach(self) -> None:
        if self._detach is not None:
            self._detach()
        self._detach = None

    # -- observer hooks -------------------------------------------------------
    def backward_started(self, tape) -> None:
        self._pass = PassNorms()

    def message_sent(self, message, target) -> None:
        self._pass.add(message, target)

    def backward_finished(self, tape) -> None:
        # records are built when read (the lab reads a few times a second, not
        # every pass): here only the norms are taken, on the device
        raw = self._pass.capture(tape)
        self._latest_raw, self._latest = raw, None
        self.latest_iteration = tape[0].iteration if tape else self.passes
        if self.passes % self.stride == 0:
            self._history.append(
                {"pass": self.passes, "iteration": self.latest_iteration, "raw": raw}
            )
            if len(self._history) >= self.capacity:
                self._history = self._history[::2]
                self.stride *= 2
        self.passes += 1
        self._pass = PassNorms()

    @property
    def latest(self) -> dict[str, dict] | None:
        """The latest pass in full, by unrolled node id (None before any pass)."""
        if self._latest is None and self._latest_raw is not None:
            self._latest = build(self._latest_raw)
        return self._latest

    @property
    def history(self) -> list[dict]:
        """Kept passes, oldest first: {"pass", "iteration", "nodes": per-node summaries}."""
        for entry in self._history:
            if "nodes" not in entry:
                entry["nodes"] = {nid: _summary(r) for nid, r in build(entry["raw"]).items()}
                del entry["raw"]
        return self._history

    # -- reading --------------------------------------------------------------
    def records(self) -> dict[str, dict]:
        """The latest pass in full, by unrolled node id."""
        if self.latest is None:
            raise RuntimeError("no backward pass recorded yet")
        return self.latest

    def flows(self, view: str = "rolled", graph: Graph | None = None) -> dict:
        """Summary of the latest pass keyed by graph ids of ``view``.

        ``{"nodes": {id: {"messages": {kind: norm}, "weights"?: {...}, "baseline"?: float}},
        "edges": {edge id: {"norm": float}}}``. Rolled: norms are the
        root-sum-square over a site's instances (the norm of all its messages
        together), weights and baselines the mean over instances. An edge's
        norm is the gradient its target node handed to autograd (which flows
        to its parents); edges need a graph (here or at construction).
        """
        if view not in ("rolled", "unrolled"):
            raise ValueError(f"view must be 'rolled' or 'unrolled', got {view!r}")
        records = self.records()
        nodes = {nid: _summary(r) for nid, r in records.items()}
        if view == "rolled":
            nodes = _roll(nodes)
        graph = graph or self.graph
        edges: dict[str, dict] = {}
        if graph is not None:
            unrolled = {
                nid: s["messages"].get("backprop")
                for nid, s in ({nid: _summary(r) for nid, r in records.items()}).items()
            }
            groups: dict[str, list[float]] = {}
            for src, dst in graph.instance_edges:
                norm = unrolled.get(dst)
                if norm is None:
                    continue
                key = (
                    edge_id(src, dst)
                    if view == "unrolled"
                    else edge_id(graph.rolled_id(src), graph.rolled_id(dst))
                )
                groups.setdefault(key, []).append(norm)
            edges = {k: {"norm": rss(v)} for k, v in groups.items()}
        return {"nodes": nodes, "edges": edges}

    def series(self, site: str, kind: str = "grad") -> tuple[list[int], list[float]]:
        """Per-instance norms of one message kind at a site, latest pass."""
        xs, ys = [], []
        for rec in self.records().values():
            if rec["site"] == site and kind in rec["messages"]:
                xs.append(rec["instance"])
                ys.append(rec["messages"][kind])
        order = sorted(range(len(xs)), key=xs.__getitem__)
        return [xs[i] for i in order], [ys[i] for i in order]

    def weight_series(self, site: str) -> tuple[list[int], dict[str, list[float]]]:
        """TP's weights per instance at a site, latest pass: (instances, {part: [w]})."""
        rows = sorted(
            (r["instance"], r["weights"])
            for r in self.records().values()
            if r["site"] == site and "weights" in r
        )
        parts: dict[str, list[float]] = {}
        for _, w in rows:
            for k in w:
                parts.setdefault(k, [])
        for _, w in rows:
            for k in parts:
                parts[k].append(w.get(k, float("nan")))
        return [i for i, _ in rows], parts

    def matrix(self, site: str, kind: str = "grad") -> tuple[list[int], list[int], list[list]]:
        """History as (instances, iterations, z[instance][iteration]) for a heatmap."""
        instances = sorted(
            {
                int(nid.rsplit("#", 1)[1])
                for h in self.history
                for nid in h["nodes"]
                if nid.startswith(f"site:{site}#")
            }
        )
        iterations = [h["iteration"] for h in self.history]
        z = [
            [
                h["nodes"].get(site_id(site, i), {}).get("messages", {}).get(kind)
                for h in self.history
            ]
            for i in instances
        ]
        return instances, iterations, z


def _summary(rec: Mapping) -> dict:
    out = {"messages": dict(rec["messages"])}
    if "weights" in rec:
        out["weights"] = dict(rec["weights"])
    if "baseline" in rec:
        out["baseline"] = rec["baseline"]
    return out


def _roll(nodes: Mapping[str, dict]) -> dict[str, dict]:
    groups: dict[str, list[dict]] = {}
    for nid, s in nodes.items():
        groups.setdefault(nid.split("#", 1)[0], []).append(s)
    out = {}
    for rid, items in groups.items():
        kinds = dict.fromkeys(k for s in items for k in s["messages"])
        entry: dict[str, Any] = {
            "messages": {
                k: rss(s["messages"][k] for s in items if k in s["messages"]) for k in kinds
            }
        }
        ws = [s["weights"] for s in items if "weights" in s]
        if ws:
            parts = dict.fromkeys(k for w in ws for k in w)
            entry["weights"] = {
                k: sum(w[k] for w in ws if k in w) / sum(1 for w in ws if k in w) for k in parts
            }
        bs = [s["baseline"] for s in items if "baseline" in s]
        if bs:
            entry["baseline"] = sum(bs) / len(bs)
        out[rid] = entry
    return out
