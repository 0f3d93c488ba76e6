/**
 * The "strip" drawing of a long unrolled loop: each site's instances as a grid
 * of small cells in instance order (wrapped rows), parameters and single nodes
 * as labelled chips, drawn directly as SVG without Graphviz.
 *
 * Why: Graphviz lays 100 steps of a loop out as one long chain, a dotted line
 * at Fit. Here 100-1000 instances fit the view, each cell still a node (the
 * same <g class="node"> groups with ids that annotate.ts claims), so hover,
 * click, selection, the flow tooltip and the overlay colours work unchanged.
 * Edges are not drawn: within a site they run cell to cell, in reading order.
 */
import { svg } from './dom';
import { GraphJSON, GraphNode } from './types';

/** An unrolled graph with more nodes than this is drawn as a strip. */
export const STRIP_MIN_NODES = 60;

const CELL_W = 30;
const CELL_H = 20;
const GAP = 3;
const LABEL_W = 110;
const ROW_GAP = 14;
const CHIP_W = 96;

export function useStrip(graph: GraphJSON): boolean {
  return graph.view === 'unrolled' && graph.nodes.length > STRIP_MIN_NODES;
}

/** A node group as Graphviz would draw it: id, title, shape, text. */
function nodeGroup(
  node: GraphNode,
  x: number,
  y: number,
  w: number,
  text: string
): SVGGElement {
  const g = svg('g', { class: 'node', id: node.id });
  const title = svg('title', {});
  title.textContent = node.label || node.id;
  const rect = svg('rect', {
    x,
    y,
    width: w,
    height: CELL_H,
    rx: 3,
    fill: node.colour,
    stroke: '#555555',
    'stroke-width': 0.6
  });
  const label = svg('text', {
    x: x + w / 2,
    y: y + CELL_H / 2 + 3.5,
    'text-anchor': 'middle',
    'font-family': 'Helvetica,sans-Serif',
    'font-size': 10
  });
  label.textContent = text;
  g.append(title, rect, label);
  return g;
}

function caption(
  x: number,
  y: number,
  text: string,
  size = 11
): SVGTextElement {
  const t = svg('text', {
    x,
    y,
    'font-family': 'Helvetica,sans-Serif',
    'font-size': size,
    fill: '#333333'
  });
  t.textContent = text;
  return t;
}

/** Columns per row: about three times as many as rows, 10..50. */
function columnsFor(count: number): number {
  return Math.max(10, Math.min(50, Math.ceil(Math.sqrt(count * 3))));
}

/** Draw `graph` (unrolled) as a strip; the result is shaped like Graphviz's SVG. */
export function drawStrip(graph: GraphJSON): SVGSVGElement {
  const root = svg('g', { class: 'graph' });
  // a site hit once, a parameter or a loss is a chip; a site hit many times a grid
  const bySite = new Map<string, GraphNode[]>();
  const singles: GraphNode[] = [];
  for (const n of graph.nodes) {
    if (n.instance === null) {
      singles.push(n);
    } else {
      const list = bySite.get(n.site) || [];
      list.push(n);
      bySite.set(n.site, list);
    }
  }
  for (const [site, list] of bySite) {
    if (list.length === 1) {
      singles.push(list[0]);
      bySite.delete(site);
    }
  }
  let y = 4;
  let width = 0;
  if (singles.length) {
    let x = 0;
    for (const n of singles) {
      root.append(nodeGroup(n, x, y, CHIP_W, n.label || n.site));
      x += CHIP_W + GAP * 2;
    }
    width = x;
    y += CELL_H + ROW_GAP;
  }
  for (const [site, nodes] of bySite) {
    nodes.sort((a, b) => (a.instance ?? 0) - (b.instance ?? 0));
    const cols = columnsFor(nodes.length);
    root.append(caption(0, y + 14, `${site} ×${nodes.length}`));
    nodes.forEach((n, i) => {
      const x = LABEL_W + (i % cols) * (CELL_W + GAP);
      const cy = y + Math.floor(i / cols) * (CELL_H + GAP);
      root.append(nodeGroup(n, x, cy, CELL_W, String(n.instance)));
    });
    const rows = Math.ceil(nodes.length / cols);
    width = Math.max(width, LABEL_W + cols * (CELL_W + GAP));
    y += rows * (CELL_H + GAP) + ROW_GAP;
  }
  root.append(
    caption(0, y + 8, 'each cell is one instance, in order; edges not drawn', 9)
  );
  y += 14;
  const drawing = svg('svg', {
    viewBox: `-4 0 ${width + 8} ${y + 4}`,
    width: `${width + 8}pt`,
    height: `${y + 4}pt`,
    class: 'pl-strip'
  });
  drawing.append(root);
  return drawing;
}
