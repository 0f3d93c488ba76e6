/**
 * Tie Graphviz's SVG back to the graph JSON.
 *
 * The kernel's DOT puts id="<node id>" / id="<edge id>" on every node and edge,
 * so each <g class="node|edge"> carries that id. Graphviz XML-escapes it
 * ('-' as &#45;, '>' as &gt;); getAttribute() returns it decoded, so ids such
 * as "site:x#3" or "param:w->site:x#0" come back intact. When a DOT has no
 * ids, the <title> (the DOT node name, or "a->b" for an edge) is used. The
 * SVG ids are then removed -- two widgets on one page would otherwise repeat
 * them -- and replaced by data-* attributes and data-testid for tests.
 */
import { GraphEdge, GraphJSON, GraphNode } from './types';

export interface Annotated {
  nodes: Map<string, SVGGElement>;
  edges: Map<string, SVGGElement>;
}

function titleOf(g: Element): string {
  const t = g.querySelector(':scope > title');
  return t ? (t.textContent || '').trim() : '';
}

/** The shape that carries a node's fill (ellipse, polygon or path). */
export function nodeShape(g: Element): SVGElement | null {
  return g.querySelector('ellipse, polygon, path, rect') as SVGElement | null;
}

/** Paint one node in a propagator's colour and record the propagator on it. */
export function paintNode(g: SVGGElement, propagator: string | null, colour: string): void {
  g.setAttribute('data-propagator', propagator || '');
  const shape = nodeShape(g);
  if (shape && /^#[0-9a-fA-F]{6}$/.test(colour)) {
    shape.setAttribute('fill', colour);
    shape.style.fill = colour;
    const text = g.querySelectorAll('text');
    const dark = luminance(colour) < 0.45;
    text.forEach(t => t.setAttribute('fill', dark ? '#ffffff' : '#000000'));
  }
}

/** Relative luminance of #rrggbb, 0 (black) .. 1 (white). */
export function luminance(hex: string): number {
  const c = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16) / 255);
  const lin = c.map(v => (v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4)));
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}

export function annotate(svg: SVGSVGElement, graph: GraphJSON): Annotated {
  const byId = new Map<string, GraphNode>();
  (graph.nodes || []).forEach(n => byId.set(n.id, n));
  const edgeById = new Map<string, GraphEdge>();
  (graph.edges || []).forEach(e => edgeById.set(e.id, e));
  const out: Annotated = { nodes: new Map(), edges: new Map() };

  svg.querySelectorAll('g.node').forEach(el => {
    const g = el as SVGGElement;
    const candidates = [g.getAttribute('id') || '', titleOf(g)];
    const id = candidates.find(c => byId.has(c));
    g.removeAttribute('id');
    if (!id) {
      return;
    }
    const node = byId.get(id)!;
    g.setAttribute('data-node-id', node.id);
    g.setAttribute('data-testid', 'graph-node');
    g.setAttribute('data-site', node.site);
    g.setAttribute('data-instance', node.instance === null ? '' : String(node.instance));
    g.setAttribute('data-kind', node.kind);
    g.setAttribute('tabindex', '0');
    g.setAttribute('role', 'button');
    g.setAttribute('aria-label', `${node.label || node.site} (${node.kind})`);
    g.classList.add('pl-node', `pl-kind-${node.kind}`);
    paintNode(g, node.propagator, node.colour);
    out.nodes.set(node.id, g);
  });

  svg.querySelectorAll('g.edge').forEach(el => {
    const g = el as SVGGElement;
    const candidates = [g.getAttribute('id') || '', titleOf(g)];
    const id = candidates.find(c => edgeById.has(c));
    g.removeAttribute('id');
    if (!id) {
      return;
    }
    const edge = edgeById.get(id)!;
    g.setAttribute('data-edge-id', edge.id);
    g.setAttribute('data-testid', 'graph-edge');
    g.setAttribute('data-source', edge.source);
    g.setAttribute('data-target', edge.target);
    g.classList.add('pl-edge');
    if (edge.recurrent) {
      g.classList.add('pl-edge-recurrent');
    }
    out.edges.set(edge.id, g);
  });
  svg.querySelectorAll('g.graph').forEach(g => g.removeAttribute('id'));
  return out;
}
