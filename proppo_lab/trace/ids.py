"""Graph ids: stable names for nodes and edges, shared by every view and the front end.

Ids depend only on site names, instance indices and parameter names, so the same
program gives the same ids on every run: ``site:<site>`` (rolled),
``site:<site>#<instance>`` (unrolled), ``param:<name>`` and ``<source>-><target>``.
"""

from __future__ import annotations


def site_id(site: str, instance: int | None = None) -> str:
    """The graph id of a site (rolled) or of one of its instances (unrolled)."""
    return f"site:{site}" if instance is None else f"site:{site}#{instance}"


def param_id(name: str) -> str:
    return f"param:{name}"


def edge_id(source: str, target: str) -> str:
    return f"{source}->{target}"


def rolled_id(node_id: str) -> str:
    """The rolled id of any node id (an unrolled instance maps to its site)."""
    return node_id.split("#", 1)[0] if node_id.startswith("site:") else node_id
