/**
 * GraphView: the propagation graph widget's view.
 *
 * Renders the kernel's DOT with Graphviz (WASM), tags every node/edge with
 * data-* attributes, and wires the controls: select a node by clicking, assign
 * a propagator from the palette or the right-click menu (recoloured at once,
 * confirmed by the kernel's next dot/graph), edit options, roll/unroll, zoom,
 * pan, fit, the error banner and the message-flow overlay. Every change goes
 * to the kernel as a custom message (see proppo_lab/lab/protocol.py); model
 * state is never written from here.
 */
import { DOMWidgetView } from '@jupyter-widgets/base';
import type { JSONObject } from '@lumino/coreutils';

import { Annotated, annotate, graphBox, paintNode } from './annotate';
import { ContextMenu } from './context_menu';
import { renderDetails } from './details';
import { h } from './dom';
import { highlightError, renderErrorBanner } from './error_banner';
import { applyFlows, edgeTooltip, nodeTooltip, Tooltip } from './flows';
import { layoutDot } from './layout';
import { renderOptionsForm } from './options_form';
import { renderLegend, renderPalette } from './palette';
import {
  CatalogueEntry,
  Flows,
  GraphJSON,
  GraphNode,
  Message,
  OptionValues,
  planSpec,
  WidgetError
} from './types';
import { ZoomPan } from './zoom';

const SVG_DEBOUNCE_MS = 400;
const MAX_SVG = 5 * 1024 * 1024;

export class GraphView extends DOMWidgetView {
  private canvas!: HTMLDivElement;
  private banner!: HTMLDivElement;
  private statusEl!: HTMLSpanElement;
  private toggle!: HTMLButtonElement;
  private instanceOnly!: HTMLInputElement;
  private paletteEl!: HTMLDivElement;
  private detailsEl!: HTMLDivElement;
  private optionsEl!: HTMLDivElement;
  private legendEl!: HTMLDivElement;
  private zoom!: ZoomPan;
  private menu!: ContextMenu;
  private tooltip!: Tooltip;

  private annotated: Annotated | null = null;
  private renderToken = 0;
  private renderQueued = false;
  private lastView = '';
  private selectedId = '';
  /** Propagator whose options the form shows (the palette pick, else the node's). */
  private formPropagator: string | null = null;
  private svgTimer: number | undefined;
  /** Graphviz's own viewBox/width/height, restored in the exported SVG. */
  private layoutBox: (string | null)[] = [null, null, null];

  render(): void {
    this.el.classList.add('pl-graph-widget');
    this.toggle = h('button', { type: 'button', 'data-testid': 'view-toggle', class: 'pl-tool' });
    this.toggle.addEventListener('click', () => this.toggleView());
    const fit = h(
      'button',
      { type: 'button', 'data-testid': 'fit-view', class: 'pl-tool', title: 'Fit the graph to the view' },
      'Fit'
    );
    fit.addEventListener('click', () => this.zoom.fit());
    const zin = h('button', { type: 'button', 'data-testid': 'zoom-in', class: 'pl-tool', title: 'Zoom in' }, '+');
    zin.addEventListener('click', () => this.zoom.zoomBy(1 / 1.25));
    const zout = h('button', { type: 'button', 'data-testid': 'zoom-out', class: 'pl-tool', title: 'Zoom out' }, '−');
    zout.addEventListener('click', () => this.zoom.zoomBy(1.25));
    this.instanceOnly = h('input', { type: 'checkbox', 'data-testid': 'assign-instance-only' });
    this.instanceOnly.addEventListener('change', () => this.refreshPanel());
    const instLabel = h(
      'label',
      { class: 'pl-instance-only', title: 'In the unrolled view, assign only the clicked instance' },
      this.instanceOnly,
      ' this instance only'
    );
    this.statusEl = h('span', { class: 'pl-status', 'data-testid': 'status', 'aria-live': 'polite' });
    const toolbar = h('div', { class: 'pl-toolbar', 'data-testid': 'toolbar' }, this.toggle, fit, zin, zout, instLabel, this.statusEl);

    this.banner = h('div', { class: 'pl-error-banner', 'data-testid': 'error-banner', role: 'alert' });
    this.banner.hidden = true;
    this.canvas = h('div', { class: 'pl-canvas', 'data-testid': 'graph-canvas' });
    this.paletteEl = h('div', { class: 'pl-palette', 'data-testid': 'palette' });
    this.detailsEl = h('div', { class: 'pl-details', 'data-testid': 'node-details' });
    this.optionsEl = h('div', { class: 'pl-options-host', 'data-testid': 'options-form' });
    this.legendEl = h('div', { class: 'pl-legend', 'data-testid': 'legend' });
    const side = h('div', { class: 'pl-side' }, this.paletteEl, this.legendEl, this.detailsEl, this.optionsEl);
    const body = h('div', { class: 'pl-body' }, this.canvas, side);
    this.el.append(toolbar, this.banner, body);

    this.zoom = new ZoomPan(this.canvas);
    this.menu = new ContextMenu(this.el);
    this.tooltip = new Tooltip(this.el);
    this.wireCanvas();

    this.listenTo(this.model, 'change:dot change:graph', () => this.scheduleRender());
    this.listenTo(this.model, 'change:error', () => this.onError());
    this.listenTo(this.model, 'change:flows', () => this.onFlows());
    this.listenTo(this.model, 'change:selected', () => {
      this.selectedId = this.model.get('selected') || '';
      this.formPropagator = null;
      this.refreshSelection();
      this.refreshPanel();
    });
    this.listenTo(this.model, 'change:catalogue change:plan', () => this.refreshPanel());
    this.listenTo(this.model, 'change:view', () => this.refreshToolbar());
    this.listenTo(this.model, 'change:status', () => this.refreshToolbar());

    this.selectedId = this.model.get('selected') || '';
    this.refreshToolbar();
    this.refreshPanel();
    this.onError();
    this.scheduleRender();
  }

  remove(): void {
    window.clearTimeout(this.svgTimer);
    this.menu?.dispose();
    super.remove();
  }

  // ------------------------------------------------------------------ model access

  private graph(): GraphJSON {
    const g = this.model.get('graph') as GraphJSON;
    return g && Array.isArray(g.nodes) ? g : { view: 'rolled', sites: [], nodes: [], edges: [] };
  }

  private catalogue(): CatalogueEntry[] {
    return (this.model.get('catalogue') as CatalogueEntry[]) || [];
  }

  private nodeById(id: string): GraphNode | null {
    return this.graph().nodes.find(n => n.id === id) || null;
  }

  private post(msg: Message): void {
    // Messages are plain JSON by construction (see types.ts).
    this.model.send(msg as unknown as JSONObject, {});
  }

  // ---------------------------------------------------------------------- drawing

  private scheduleRender(): void {
    if (this.renderQueued) {
      return;
    }
    this.renderQueued = true;
    queueMicrotask(() => {
      this.renderQueued = false;
      void this.draw();
    });
  }

  private async draw(): Promise<void> {
    const token = ++this.renderToken;
    const dot: string = this.model.get('dot') || '';
    if (!dot.trim()) {
      this.annotated = null;
      this.canvas.replaceChildren(h('div', { class: 'pl-hint' }, 'no graph yet'));
      return;
    }
    this.el.classList.add('pl-busy');
    let svg: SVGSVGElement;
    try {
      svg = await layoutDot(dot);
    } catch (err) {
      if (token === this.renderToken) {
        this.el.classList.remove('pl-busy');
        this.canvas.replaceChildren(
          h('div', { class: 'pl-hint pl-layout-error' }, `Graphviz could not lay out the graph: ${String(err)}`)
        );
      }
      return;
    }
    if (token !== this.renderToken) {
      return; // a newer dot arrived while this one was laid out
    }
    this.el.classList.remove('pl-busy');
    const graph = this.graph();
    svg.classList.add('pl-svg');
    svg.setAttribute('data-testid', 'graph-svg');
    svg.setAttribute('data-view', graph.view || '');
    const layoutBox = [svg.getAttribute('viewBox'), svg.getAttribute('width'), svg.getAttribute('height')];
    this.annotated = annotate(svg, graph);
    this.canvas.replaceChildren(svg);
    this.layoutBox = layoutBox;
    const sameView = this.lastView === graph.view;
    this.lastView = graph.view;
    this.zoom.attach(svg, sameView, graphBox(svg));
    this.refreshSelection();
    this.onError();
    this.onFlows();
    this.refreshPanel();
    this.refreshToolbar();
    this.el.setAttribute('data-rendered', String(token));
    this.queueSvgExport();
  }

  /** Send the rendered picture back for static export (debounced). */
  private queueSvgExport(): void {
    window.clearTimeout(this.svgTimer);
    this.svgTimer = window.setTimeout(() => {
      const svg = this.canvas.querySelector('svg');
      if (!svg) {
        return;
      }
      // The exported picture is Graphviz's whole layout (its legend included),
      // at its own size, without the live view's selection and hover state.
      const clone = svg.cloneNode(true) as SVGSVGElement;
      const [viewBox, width, height] = this.layoutBox;
      const [x, y, w, hgt] = this.zoom.homeBox();
      clone.setAttribute('viewBox', viewBox || `${x} ${y} ${w} ${hgt}`);
      clone.setAttribute('width', width || `${w}pt`);
      clone.setAttribute('height', height || `${hgt}pt`);
      clone.removeAttribute('preserveAspectRatio');
      clone.querySelectorAll('.pl-node-selected, .pl-aux').forEach(n =>
        n.classList.remove('pl-node-selected', 'pl-aux')
      );
      const text = new XMLSerializer().serializeToString(clone);
      if (text.length <= MAX_SVG) {
        this.post({ action: 'svg', svg: text });
      }
    }, SVG_DEBOUNCE_MS);
  }

  // --------------------------------------------------------------------- overlays

  private refreshSelection(): void {
    if (!this.annotated) {
      return;
    }
    this.annotated.nodes.forEach((g, id) => {
      g.classList.toggle('pl-node-selected', id === this.selectedId);
      g.setAttribute('aria-pressed', String(id === this.selectedId));
    });
  }

  private onError(): void {
    const error = (this.model.get('error') as WidgetError) || {};
    renderErrorBanner(this.banner, error, () => {
      renderErrorBanner(this.banner, {}, () => undefined);
      if (this.annotated) {
        highlightError(this.annotated.nodes, {});
      }
    });
    if (this.annotated) {
      if (error.message) {
        this.repaintFromGraph(); // undo an optimistic recolour the kernel refused
      }
      highlightError(this.annotated.nodes, error);
    }
  }

  private onFlows(): void {
    if (this.annotated) {
      applyFlows(this.annotated.edges, (this.model.get('flows') as Flows) || {});
    }
  }

  private repaintFromGraph(): void {
    if (!this.annotated) {
      return;
    }
    for (const node of this.graph().nodes) {
      const g = this.annotated.nodes.get(node.id);
      if (g) {
        paintNode(g, node.propagator, node.colour);
        g.classList.remove('pl-node-pending');
      }
    }
  }

  private refreshToolbar(): void {
    const view = this.model.get('view') || 'rolled';
    this.toggle.textContent = view === 'rolled' ? 'Unroll' : 'Roll up';
    this.toggle.title = view === 'rolled' ? 'Show every instance of each site' : 'Fold instances into one node per site';
    this.toggle.setAttribute('data-view', view);
    this.instanceOnly.disabled = view !== 'unrolled';
    this.statusEl.textContent = this.model.get('status') || '';
  }

  private refreshPanel(): void {
    const node = this.nodeById(this.selectedId);
    const catalogue = this.catalogue();
    const plan = (this.model.get('plan') as { [site: string]: unknown }) || {};
    renderPalette(this.paletteEl, catalogue, node, name => this.assign(name, {}));
    const spec = node ? planSpec(plan, node.site, this.targetInstance(node)) : { propagator: null, options: {} };
    renderDetails(this.detailsEl, node, spec.options);
    const formName = this.formPropagator || (node ? node.propagator : null);
    const entry = node && formName ? catalogue.find(c => c.name === formName) || null : null;
    const values = entry && spec.propagator === entry.name ? spec.options : {};
    renderOptionsForm(this.optionsEl, entry, values, (name, options) => this.assign(name, options));
    renderLegend(this.legendEl, catalogue, this.graph().nodes);
  }

  // --------------------------------------------------------------------- actions

  private targetInstance(node: GraphNode): number | null {
    return this.model.get('view') === 'unrolled' && this.instanceOnly.checked && node.instance !== null
      ? node.instance
      : null;
  }

  private select(id: string): void {
    this.selectedId = id;
    this.formPropagator = null;
    this.refreshSelection();
    this.refreshPanel();
    this.post({ action: 'select', node: id });
  }

  /** Assign `name` to the selected node's site (or instance); recolour at once. */
  private assign(name: string, options: OptionValues): void {
    const node = this.nodeById(this.selectedId);
    const entry = this.catalogue().find(c => c.name === name);
    if (!node || !entry) {
      return;
    }
    const instance = this.targetInstance(node);
    if (this.annotated) {
      this.annotated.nodes.forEach(g => {
        const sameSite = g.getAttribute('data-site') === node.site;
        const sameInst = instance === null || g.getAttribute('data-instance') === String(instance);
        if (sameSite && sameInst) {
          paintNode(g, name, entry.colour);
          g.classList.add('pl-node-pending');
        }
      });
    }
    // Re-draw the panel only when the form changes propagator: an Apply keeps
    // what was typed on screen, so a value the kernel refuses can be corrected.
    if (this.formPropagator !== name) {
      this.formPropagator = name;
      this.refreshPanel();
    }
    this.post({ action: 'assign', site: node.site, instance, propagator: name, options });
  }

  private toggleView(): void {
    const next = this.model.get('view') === 'rolled' ? 'unrolled' : 'rolled';
    this.post({ action: 'view', view: next });
  }

  private wireCanvas(): void {
    const nodeAt = (ev: Event): SVGGElement | null =>
      (ev.target as Element | null)?.closest?.('g.pl-node') as SVGGElement | null;
    const edgeAt = (ev: Event): SVGGElement | null =>
      (ev.target as Element | null)?.closest?.('g.pl-edge') as SVGGElement | null;

    this.canvas.addEventListener('click', ev => {
      if (this.zoom.moved) {
        this.zoom.moved = false;
        return;
      }
      const g = nodeAt(ev);
      const id = g ? g.getAttribute('data-node-id') || '' : '';
      if (id !== this.selectedId) {
        this.select(id);
      }
    });
    this.canvas.addEventListener('keydown', ev => {
      const g = nodeAt(ev);
      if (g && (ev.key === 'Enter' || ev.key === ' ')) {
        ev.preventDefault();
        this.select(g.getAttribute('data-node-id') || '');
      }
    });
    this.canvas.addEventListener('contextmenu', ev => {
      const g = nodeAt(ev);
      if (!g) {
        return;
      }
      ev.preventDefault();
      const id = g.getAttribute('data-node-id') || '';
      if (id !== this.selectedId) {
        this.select(id);
      }
      const node = this.nodeById(id);
      if (node) {
        this.menu.open(ev.clientX, ev.clientY, node, this.catalogue(), name => this.assign(name, {}));
      }
    });
    this.canvas.addEventListener('pointermove', ev => {
      const flows = (this.model.get('flows') as Flows) || {};
      const n = nodeAt(ev);
      if (n) {
        const node = this.nodeById(n.getAttribute('data-node-id') || '');
        if (node) {
          this.tooltip.show(ev, nodeTooltip(node, flows));
          return;
        }
      }
      const e = edgeAt(ev);
      if (e) {
        const id = e.getAttribute('data-edge-id') || '';
        const edge = this.graph().edges.find(x => x.id === id);
        if (edge) {
          this.tooltip.show(ev, edgeTooltip(edge, flows));
          return;
        }
      }
      this.tooltip.hide();
    });
    this.canvas.addEventListener('pointerleave', () => this.tooltip.hide());
  }
}
