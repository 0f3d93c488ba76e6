/**
 * The drawing: DOT -> laid-out, annotated SVG in the canvas, with zoom/pan.
 *
 * A DOT whose layout key (relabel.ts) equals the drawn one is not laid out
 * again: the drawn nodes get the new labels and colours in place, so an
 * assignment is shown without running Graphviz. Anything structural (a new
 * graph, the other view, a label that no longer fits) is laid out afresh.
 * A long unrolled loop is drawn as a strip of instance cells (strip.ts) instead.
 */
import { annotate, Annotated, graphBox, paintNode } from './annotate';
import { h } from './dom';
import { layoutDot } from './layout';
import { layoutKey, nodeLabels, relabel } from './relabel';
import { drawStrip, useStrip } from './strip';
import { exportedSvg, LayoutBox, layoutBoxOf } from './svg_export';
import { GraphJSON } from './types';
import { ZoomPan } from './zoom';

/** How a DOT was shown: laid out afresh or updated in place; null when nothing is drawn. */
export type Drawn = 'layout' | 'relabel' | 'strip' | null;

export class GraphCanvas {
  readonly el: HTMLDivElement;
  readonly zoom: ZoomPan;
  /** The drawn nodes and edges by graph id (null when nothing is drawn). */
  annotated: Annotated | null = null;
  private token = 0;
  private drawnKey = '';
  private drawnView = '';
  private box: LayoutBox = [null, null, null];

  constructor(private onBusy: (busy: boolean) => void) {
    this.el = h('div', { class: 'pl-canvas', 'data-testid': 'graph-canvas' });
    this.zoom = new ZoomPan(this.el);
  }

  /** Show `dot` (the kernel's drawing of `graph`); resolves once shown, or superseded. */
  async show(dot: string, graph: GraphJSON): Promise<Drawn | 'stale'> {
    const token = ++this.token;
    if (!dot.trim()) {
      this.forget();
      this.el.replaceChildren(h('div', { class: 'pl-hint' }, 'no graph yet'));
      return null;
    }
    if (useStrip(graph)) {
      return this.adopt(drawStrip(graph), graph, 'strip', 'strip');
    }
    const key = layoutKey(dot);
    if (
      this.annotated &&
      key === this.drawnKey &&
      relabel(this.annotated.nodes, nodeLabels(dot))
    ) {
      this.repaint(graph);
      return 'relabel';
    }
    this.onBusy(true);
    let svg: SVGSVGElement;
    try {
      svg = await layoutDot(dot);
    } catch (err) {
      if (token !== this.token) {
        return 'stale';
      }
      this.onBusy(false);
      this.forget();
      const why = `Graphviz could not lay out the graph: ${String(err)}`;
      this.el.replaceChildren(
        h('div', { class: 'pl-hint pl-layout-error' }, why)
      );
      return null;
    }
    if (token !== this.token) {
      return 'stale'; // a newer dot arrived while this one was laid out
    }
    this.onBusy(false);
    return this.adopt(svg, graph, key, 'layout');
  }

  /** Put a drawn `svg` of `graph` on screen, annotated, keeping the zoom within a view. */
  private adopt(
    svg: SVGSVGElement,
    graph: GraphJSON,
    key: string,
    drawn: 'layout' | 'strip'
  ): Drawn {
    svg.classList.add('pl-svg');
    svg.setAttribute('data-testid', 'graph-svg');
    svg.setAttribute('data-view', graph.view || '');
    svg.setAttribute('data-drawing', drawn);
    this.box = layoutBoxOf(svg);
    this.annotated = annotate(svg, graph);
    this.drawnKey = key;
    this.el.replaceChildren(svg);
    const sameView = this.drawnView === `${graph.view}:${drawn}`;
    this.zoom.attach(svg, sameView, graphBox(svg));
    this.drawnView = `${graph.view}:${drawn}`;
    return drawn;
  }

  /** Paint every drawn node as `graph` says (undoing optimistic, pending paint). */
  repaint(graph: GraphJSON): void {
    for (const node of graph.nodes) {
      const g = this.annotated?.nodes.get(node.id);
      if (g) {
        paintNode(g, node.propagator, node.colour);
        g.classList.remove('pl-node-pending');
      }
    }
  }

  /** The drawn picture as static export wants it, or null when nothing is drawn. */
  exported(): string | null {
    const svg = this.el.querySelector('svg');
    return svg ? exportedSvg(svg, this.box, this.zoom.homeBox()) : null;
  }

  private forget(): void {
    this.annotated = null;
    this.drawnKey = '';
  }
}
