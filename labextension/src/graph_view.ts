/**
 * GraphView: the propagation graph widget's view, put together from its parts.
 *
 * toolbar.ts (roll/unroll, zoom, status), canvas.ts (Graphviz drawing, or an
 * in-place recolour when the layout stands), side_panel.ts (palette, legend,
 * details, options), canvas_events.ts (clicks, menu, hover), svg_export.ts
 * (the picture sent back for static export), error_banner.ts, flows.ts and
 * overlay.ts (overlays: flow widths, tooltips, nodes coloured by a live metric). This class reads the model and turns the user's actions into
 * messages to the kernel (see proppo_lab/lab/protocol.py); model state is
 * never written from here. An assignment recolours the node at once and is
 * confirmed by the kernel's next dot/graph.
 */
import { DOMWidgetView } from '@jupyter-widgets/base';
import type { JSONObject } from '@lumino/coreutils';

import { paintNode } from './annotate';
import { GraphCanvas } from './canvas';
import { wireCanvas } from './canvas_events';
import { entryNamed } from './catalogue';
import { ContextMenu } from './context_menu';
import { h } from './dom';
import { highlightError, renderErrorBanner } from './error_banner';
import { applyFlows, edgeTooltip, nodeTooltip, Tooltip } from './flows';
import { applyOverlay, OverlaySelect, renderOverlayLegend } from './overlay';
import { SidePanel } from './side_panel';
import { SvgExporter } from './svg_export';
import { Toolbar } from './toolbar';
import {
  CatalogueEntry,
  Flows,
  GraphJSON,
  GraphNode,
  Message,
  OptionValues,
  Overlay,
  shownError,
  View,
  WidgetError
} from './types';

const EMPTY_GRAPH: GraphJSON = {
  view: 'rolled',
  sites: [],
  nodes: [],
  edges: []
};

export class GraphView extends DOMWidgetView {
  private canvas!: GraphCanvas;
  private toolbar!: Toolbar;
  private side!: SidePanel;
  private banner!: HTMLDivElement;
  private menu!: ContextMenu;
  private tooltip!: Tooltip;
  private exporter!: SvgExporter;
  private overlaySelect!: OverlaySelect;
  private overlayLegend!: HTMLSpanElement;

  private drawQueued = false;
  private drawCount = 0;
  private selectedId = '';
  /** Propagator whose options the form shows (the palette pick, else the node's). */
  private formPropagator: string | null = null;

  render(): void {
    this.el.classList.add('pl-graph-widget');
    this.canvas = new GraphCanvas(busy =>
      this.el.classList.toggle('pl-busy', busy)
    );
    this.toolbar = new Toolbar(
      this.canvas.zoom,
      () => this.toggleView(),
      () => this.refreshPanel()
    );
    this.overlaySelect = new OverlaySelect(metric =>
      this.post({ action: 'overlay', metric })
    );
    this.overlayLegend = h('span', {
      class: 'pl-overlay-legend',
      'data-testid': 'overlay-legend'
    });
    this.toolbar.addTool(this.overlaySelect.el);
    this.toolbar.addTool(this.overlayLegend);
    this.side = new SidePanel();
    this.banner = h('div', {
      class: 'pl-error-banner',
      'data-testid': 'error-banner',
      role: 'alert'
    });
    this.banner.hidden = true;
    const body = h('div', { class: 'pl-body' }, this.canvas.el, this.side.el);
    this.el.append(this.toolbar.el, this.banner, body);

    this.menu = new ContextMenu(this.el);
    this.tooltip = new Tooltip(this.el);
    this.exporter = new SvgExporter(
      () => this.canvas.exported(),
      svg => this.post({ action: 'svg', svg })
    );
    wireCanvas(this.canvas.el, this.canvas.zoom, {
      select: id => id !== this.selectedId && this.select(id),
      menu: (id, x, y) => this.openMenu(id, x, y),
      hover: (ev, nodeId, edgeId) => this.hover(ev, nodeId, edgeId)
    });

    this.listenTo(this.model, 'change:dot change:graph', () =>
      this.scheduleDraw()
    );
    // A plan change from anywhere (click, Load, Python) re-sends the graph:
    // the form then shows the selected node's new propagator and options.
    this.listenTo(this.model, 'change:graph', () => {
      this.formPropagator = null;
      this.refreshPanel();
    });
    this.listenTo(this.model, 'change:error', () => this.onError());
    this.listenTo(this.model, 'change:flows', () => this.onFlows());
    this.listenTo(this.model, 'change:overlay', () => this.onOverlay());
    this.listenTo(this.model, 'change:selected', () => {
      this.selectedId = this.model.get('selected') || '';
      this.formPropagator = null;
      this.refreshSelection();
      this.refreshPanel();
    });
    // The plan itself is not read here: each node carries what the plan gives it.
    this.listenTo(this.model, 'change:catalogue', () => this.refreshPanel());
    this.listenTo(this.model, 'change:view change:status', () =>
      this.refreshToolbar()
    );

    this.selectedId = this.model.get('selected') || '';
    this.refreshToolbar();
    this.refreshPanel();
    this.onError();
    this.onOverlay();
    this.scheduleDraw();
  }

  remove(): void {
    this.exporter?.dispose();
    this.menu?.dispose();
    super.remove();
  }

  // ------------------------------------------------------------------ model access

  private graph(): GraphJSON {
    const g = this.model.get('graph') as GraphJSON;
    return g && Array.isArray(g.nodes) ? g : EMPTY_GRAPH;
  }

  private catalogue(): CatalogueEntry[] {
    return (this.model.get('catalogue') as CatalogueEntry[]) || [];
  }

  private flows(): Flows {
    return (this.model.get('flows') as Flows) || {};
  }

  private overlay(): Overlay | null {
    const o = this.model.get('overlay') as Overlay;
    return o && typeof o.metric === 'string' ? o : null;
  }

  private nodeById(id: string): GraphNode | null {
    return this.graph().nodes.find(n => n.id === id) || null;
  }

  private post(msg: Message): void {
    // Messages are plain JSON by construction (see types.ts).
    this.model.send(msg as unknown as JSONObject, {});
  }

  // ---------------------------------------------------------------------- drawing

  /** One drawing per burst of trait changes (dot and graph arrive together). */
  private scheduleDraw(): void {
    if (this.drawQueued) {
      return;
    }
    this.drawQueued = true;
    queueMicrotask(() => {
      this.drawQueued = false;
      void this.draw();
    });
  }

  private async draw(): Promise<void> {
    const drawn = await this.canvas.show(
      this.model.get('dot') || '',
      this.graph()
    );
    if (drawn === null || drawn === 'stale') {
      return;
    }
    this.refreshSelection();
    this.onError();
    this.onFlows();
    this.onOverlay();
    this.refreshPanel();
    this.refreshToolbar();
    // Tests and tools wait for this: the kernel's latest graph is on screen.
    this.el.setAttribute('data-rendered', String(++this.drawCount));
    this.el.setAttribute('data-drawn-by', drawn);
    this.exporter.queue();
  }

  // --------------------------------------------------------------------- overlays

  private refreshSelection(): void {
    this.canvas.annotated?.nodes.forEach((g, id) => {
      g.classList.toggle('pl-node-selected', id === this.selectedId);
      g.setAttribute('aria-pressed', String(id === this.selectedId));
    });
  }

  private onError(): void {
    const error = (this.model.get('error') as WidgetError) || {};
    const nodes = this.canvas.annotated?.nodes;
    renderErrorBanner(this.banner, error, () => {
      renderErrorBanner(this.banner, {}, () => undefined);
      if (nodes) {
        highlightError(nodes, {});
      }
      this.post({ action: 'dismiss' }); // the kernel clears widget.error (and the Lab's banner)
    });
    if (nodes) {
      if (shownError(error)) {
        this.canvas.repaint(this.graph()); // undo an optimistic recolour the kernel refused
        applyOverlay(nodes, this.graph().nodes, this.overlay());
      }
      highlightError(nodes, error);
    }
  }

  private onFlows(): void {
    if (this.canvas.annotated) {
      applyFlows(this.canvas.annotated.edges, this.flows());
    }
  }

  /** Colour the nodes by the kernel's overlay (or by propagator when it is off). */
  private onOverlay(): void {
    const overlay = this.overlay();
    this.overlaySelect.refresh(overlay);
    const drawn = this.canvas.annotated?.nodes;
    const scale = drawn
      ? applyOverlay(drawn, this.graph().nodes, overlay)
      : null;
    renderOverlayLegend(this.overlayLegend, overlay, scale);
  }

  private refreshToolbar(): void {
    this.toolbar.refresh(
      (this.model.get('view') as View) || 'rolled',
      this.model.get('status') || ''
    );
  }

  private refreshPanel(): void {
    const node = this.nodeById(this.selectedId);
    this.side.render(
      node,
      this.graph().nodes,
      this.catalogue(),
      this.formPropagator,
      (name, options) => this.assign(name, options)
    );
  }

  private hover(
    ev: PointerEvent,
    nodeId: string | null,
    edgeId: string | null
  ): void {
    const node = nodeId === null ? null : this.nodeById(nodeId);
    const edge =
      edgeId === null ? null : this.graph().edges.find(e => e.id === edgeId);
    if (node) {
      this.tooltip.show(ev, nodeTooltip(node, this.flows(), this.overlay()));
    } else if (edge) {
      this.tooltip.show(ev, edgeTooltip(edge, this.flows()));
    } else {
      this.tooltip.hide();
    }
  }

  // --------------------------------------------------------------------- actions

  private targetInstance(node: GraphNode): number | null {
    return this.toolbar.instanceOnlyChecked ? node.instance : null;
  }

  private select(id: string): void {
    this.selectedId = id;
    this.formPropagator = null;
    this.refreshSelection();
    this.refreshPanel();
    this.post({ action: 'select', node: id });
  }

  private openMenu(id: string, x: number, y: number): void {
    if (id !== this.selectedId) {
      this.select(id);
    }
    const node = this.nodeById(id);
    if (node) {
      this.menu.open(x, y, node, this.catalogue(), name =>
        this.assign(name, {})
      );
    }
  }

  /** Assign `name` to the selected node's site (or instance); recolour at once. */
  private assign(name: string, options: OptionValues): void {
    const node = this.nodeById(this.selectedId);
    const entry = entryNamed(this.catalogue(), name);
    if (!node || !entry) {
      return;
    }
    const instance = this.targetInstance(node);
    this.canvas.annotated?.nodes.forEach(g => {
      const sameSite = g.getAttribute('data-site') === node.site;
      const sameInst =
        instance === null ||
        g.getAttribute('data-instance') === String(instance);
      if (sameSite && sameInst) {
        paintNode(g, name, entry.colour);
        g.classList.add('pl-node-pending');
      }
    });
    // Re-draw the panel only when the form changes propagator: an Apply keeps
    // what was typed on screen, so a value the kernel refuses can be corrected.
    if (this.formPropagator !== name) {
      this.formPropagator = name;
      this.refreshPanel();
    }
    this.post({
      action: 'assign',
      site: node.site,
      instance,
      propagator: name,
      options
    });
  }

  private toggleView(): void {
    const next: View =
      this.model.get('view') === 'rolled' ? 'unrolled' : 'rolled';
    this.post({ action: 'view', view: next });
  }
}
