/**
 * Message-flow overlay: edge stroke width by log magnitude of the message norm,
 * an animated dash running backwards (target -> source, the direction messages
 * travel), and a hover tooltip with message kinds, norms, TP weights and the
 * baseline.
 */
import { h } from './dom';
import { Popup } from './popup';
import { Flows, GraphEdge, GraphNode, Overlay } from './types';

/** A number as the tooltips and legends print it. */
export function fmt(v: unknown): string {
  if (typeof v !== 'number') {
    return String(v);
  }
  if (!Number.isFinite(v)) {
    return String(v);
  }
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4)
    ? v.toExponential(2)
    : v.toPrecision(3);
}

/** Stroke widths 1..7 px by log10 of the norm, relative to the graph's range. */
export function applyFlows(
  edges: Map<string, SVGGElement>,
  flows: Flows
): void {
  const norms = flows && flows.edges ? flows.edges : {};
  const logs: number[] = [];
  for (const id of Object.keys(norms)) {
    const n = norms[id] && norms[id].norm;
    if (typeof n === 'number' && n > 0 && Number.isFinite(n)) {
      logs.push(Math.log10(n));
    }
  }
  const lo = logs.length ? Math.min(...logs) : 0;
  const hi = logs.length ? Math.max(...logs) : 0;
  edges.forEach((g, id) => {
    const n = norms[id] ? norms[id].norm : undefined;
    const paths = g.querySelectorAll('path');
    if (typeof n !== 'number' || !(n > 0) || !Number.isFinite(n)) {
      g.classList.remove('pl-flow');
      g.removeAttribute('data-flow-norm');
      paths.forEach(p => p.style.removeProperty('stroke-width'));
      return;
    }
    const t = hi > lo ? (Math.log10(n) - lo) / (hi - lo) : 0.5;
    const width = 1 + 6 * t;
    g.classList.add('pl-flow');
    g.setAttribute('data-flow-norm', String(n));
    paths.forEach(p => (p.style.strokeWidth = `${width.toFixed(2)}px`));
  });
}

export function nodeTooltip(
  node: GraphNode,
  flows: Flows,
  overlay: Overlay | null = null
): HTMLElement {
  const f = flows && flows.nodes ? flows.nodes[node.id] : undefined;
  const box = h(
    'div',
    {},
    h(
      'div',
      { class: 'pl-tip-title' },
      `${node.label || node.site} · ${node.propagator || 'default'}`
    )
  );
  const metric = overlay ? overlay.metric : '';
  const shown = metric && overlay ? overlay.values[node.id] : undefined;
  if (typeof shown === 'number') {
    box.append(
      h('div', { class: 'pl-tip-overlay' }, `${metric}: ${fmt(shown)}`)
    );
  }
  if (!f) {
    box.append(h('div', { class: 'pl-hint' }, 'no messages recorded yet'));
    return box;
  }
  const table = h('table', {});
  for (const [kind, norm] of Object.entries(f.messages || {})) {
    table.append(
      h('tr', {}, h('th', {}, kind), h('td', {}, `‖·‖ = ${fmt(norm)}`))
    );
  }
  for (const [name, w] of Object.entries(f.weights || {})) {
    table.append(
      h('tr', {}, h('th', {}, `weight ${name}`), h('td', {}, fmt(w)))
    );
  }
  if (f.baseline !== undefined && f.baseline !== null) {
    table.append(
      h('tr', {}, h('th', {}, 'baseline'), h('td', {}, fmt(f.baseline)))
    );
  }
  box.append(table);
  return box;
}

export function edgeTooltip(edge: GraphEdge, flows: Flows): HTMLElement {
  const f = flows && flows.edges ? flows.edges[edge.id] : undefined;
  return h(
    'div',
    {},
    h(
      'div',
      { class: 'pl-tip-title' },
      edge.label ?? `${edge.source} → ${edge.target}`
    ),
    h(
      'div',
      {},
      f ? `message norm ${fmt(f.norm)}` : 'no messages recorded yet',
      edge.count > 1 ? ` · ×${edge.count}` : '',
      edge.recurrent ? ' · recurrent' : ''
    )
  );
}

/** A floating tooltip inside `container`, beside the pointer. */
export class Tooltip extends Popup {
  constructor(container: HTMLElement) {
    super(container, {
      class: 'pl-tooltip',
      'data-testid': 'flow-tooltip',
      role: 'tooltip'
    });
  }

  show(ev: MouseEvent, content: HTMLElement): void {
    this.el.replaceChildren(content);
    this.showAt(ev.clientX + 14, ev.clientY + 14);
  }
}
