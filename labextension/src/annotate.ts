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
import { isHexColour, textColour } from './colour';
import { GraphEdge, GraphJSON, GraphNode } from './types';

export interface Annotated {
  nodes: Map<string, SVGGElement>;
  edges: Map<string, SVGGElement>;
}

function titleOf(g: Element): string {
  const t = g.querySelector(':scope > title');
  return t ? (t.textContent || '').trim() : '';
}

/**
 * The model item a Graphviz group draws, found by its DOT id or, failing
 * that, its title; the group's SVG ids are dropped either way (they would
 * clash between several widgets on one page).
 */
function claim<T>(g: SVGGElement, byId: Map<string, T>): T | undefined {
  const id = [g.getAttribute('id') || '', titleOf(g)].find(c => byId.has(c));
  g.removeAttribute('id');
  if (id === undefined) {
    return undefined;
  }
  g.querySelectorAll('[id]').forEach(el => el.removeAttribute('id'));
  return byId.get(id);
}

/** The shape that carries a node's fill (ellipse, polygon or path). */
export function nodeShape(g: Element): SVGElement | null {
  return g.querySelector('ellipse, polygon, path, rect') as SVGElement | null;
}

/**
 * A node's label lines as drawn: its <text> elements, wherever Graphviz put
 * them (a node with a tooltip wraps them in <a>), but never the error badge's.
 */
export function labelTexts(g: Element): SVGTextElement[] {
  return Array.from(g.querySelectorAll<SVGTextElement>('text')).filter(
    t => !t.closest('.pl-error-badge')
  );
}

/** Paint one node in a propagator's colour and record the propagator on it. */
export function paintNode(
  g: SVGGElement,
  propagator: string | null,
  colour: string
): void {
  g.setAttribute('data-propagator', propagator || '');
  const shape = nodeShape(g);
  if (shape && isHexColour(colour)) {
    shape.setAttribute('fill', colour);
    shape.style.fill = colour;
    const ink = textColour(colour);
    labelTexts(g).forEach(t => t.setAttribute('fill', ink));
  }
}

/**
 * Claim the groups matching `selector` for `items` (by id): each claimed group
 * gets data-testid `testid`, then `mark` adds what is particular to its kind.
 */
function claimAll<T extends { id: string }>(
  svg: SVGSVGElement,
  selector: string,
  items: T[],
  testid: string,
  mark: (g: SVGGElement, item: T) => void
): Map<string, SVGGElement> {
  const byId = new Map<string, T>();
  (items || []).forEach(item => byId.set(item.id, item));
  const claimed = new Map<string, SVGGElement>();
  svg.querySelectorAll(selector).forEach(el => {
    const g = el as SVGGElement;
    const item = claim(g, byId);
    if (item) {
      g.setAttribute('data-testid', testid);
      mark(g, item);
      claimed.set(item.id, g);
    }
  });
  return claimed;
}

function markNode(g: SVGGElement, node: GraphNode): void {
  g.setAttribute('data-node-id', node.id);
  g.setAttribute('data-site', node.site);
  g.setAttribute(
    'data-instance',
    node.instance === null ? '' : String(node.instance)
  );
  g.setAttribute('data-kind', node.kind);
  g.setAttribute('tabindex', '0');
  // JupyterLab 4 leaves right-clicks inside this attribute to us (our context menu).
  g.setAttribute('data-jp-suppress-context-menu', '');
  g.setAttribute('role', 'button');
  g.setAttribute('aria-label', `${node.label || node.site} (${node.kind})`);
  g.classList.add('pl-node', `pl-kind-${node.kind}`);
  paintNode(g, node.propagator, node.colour);
}

function markEdge(g: SVGGElement, edge: GraphEdge): void {
  g.setAttribute('data-edge-id', edge.id);
  g.setAttribute('data-source', edge.source);
  g.setAttribute('data-target', edge.target);
  g.classList.add('pl-edge');
  if (edge.recurrent) {
    g.classList.add('pl-edge-recurrent');
  }
}

export function annotate(svg: SVGSVGElement, graph: GraphJSON): Annotated {
  const nodes = claimAll(svg, 'g.node', graph.nodes, 'graph-node', markNode);
  const edges = claimAll(svg, 'g.edge', graph.edges, 'graph-edge', markEdge);
  markAuxiliary(svg, nodes.size > 0);
  svg
    .querySelectorAll('g.graph, g.cluster')
    .forEach(g => g.removeAttribute('id'));
  return { nodes, edges };
}

/**
 * Mark what is not the graph itself: Graphviz's background polygon, a
 * cluster named like a legend (the trace layer's DOT draws its own legend box,
 * `cluster_legend`), and -- when the DOT follows the id contract, i.e. some
 * nodes matched -- the nodes that are no graph node (that legend's swatches).
 * Graphviz does not nest nodes inside their cluster's <g>, hence the two rules.
 * The live view hides them (the widget shows its own legend beside the graph,
 * and the graph gets the space); the exported SVG keeps them.
 */
export function markAuxiliary(svg: SVGSVGElement, idsMatched: boolean): void {
  const root = svg.querySelector('g.graph');
  if (!root) {
    return;
  }
  const bg = root.querySelector(':scope > polygon');
  if (bg) {
    bg.classList.add('pl-aux');
  }
  root.querySelectorAll(':scope > g.cluster').forEach(c => {
    const name = `${c.getAttribute('id') || ''} ${titleOf(c)}`.toLowerCase();
    if (name.indexOf('legend') >= 0) {
      c.classList.add('pl-aux');
    }
  });
  if (idsMatched) {
    root
      .querySelectorAll('g.node:not([data-node-id])')
      .forEach(n => n.classList.add('pl-aux'));
  }
}

/**
 * The box (in the SVG's viewBox units) around the visible graph, for
 * fit-to-view; null when the browser cannot measure it (not attached).
 */
export function graphBox(
  svg: SVGSVGElement,
  pad = 8
): [number, number, number, number] | null {
  const root = svg.querySelector('g.graph') as SVGGraphicsElement | null;
  if (!root || typeof root.getBBox !== 'function') {
    return null;
  }
  let b: DOMRect;
  try {
    b = root.getBBox();
  } catch {
    return null;
  }
  if (!(b.width > 0 && b.height > 0)) {
    return null;
  }
  const m = root.transform.baseVal.consolidate()?.matrix;
  const pts = [
    [b.x, b.y],
    [b.x + b.width, b.y + b.height]
  ].map(([x, y]) =>
    m ? [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f] : [x, y]
  );
  const x0 = Math.min(pts[0][0], pts[1][0]);
  const y0 = Math.min(pts[0][1], pts[1][1]);
  const x1 = Math.max(pts[0][0], pts[1][0]);
  const y1 = Math.max(pts[0][1], pts[1][1]);
  return [x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad];
}
