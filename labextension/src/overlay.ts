/**
 * Per-node live overlay: the kernel's `overlay` trait (proppo_lab/lab/overlay.py)
 * colours each drawn node by a metric (gradient norm, TP's weight on RP, ...),
 * with a colour-scale legend. Nodes are recoloured in place (no layout); a node
 * without a value keeps its propagator's colour. Values that span more than two
 * decades (the kernel says `log`) are spread over log10.
 */
import { labelTexts, nodeShape, paintNode } from './annotate';
import { textColour } from './colour';
import { h } from './dom';
import { fmt } from './flows';
import { GraphNode, Overlay } from './types';

/** Viridis at nine stops: perceptually even, colour-blind safe, dark to light. */
const SCALE = [
  '#440154',
  '#472d7b',
  '#3b528b',
  '#2c728e',
  '#21918c',
  '#28ae80',
  '#5ec962',
  '#addc30',
  '#fde725'
];

function mix(a: string, b: string, t: number): string {
  const ch = (s: string, i: number) => parseInt(s.slice(i, i + 2), 16);
  return (
    '#' +
    [1, 3, 5]
      .map(i => Math.round(ch(a, i) + (ch(b, i) - ch(a, i)) * t))
      .map(v => v.toString(16).padStart(2, '0'))
      .join('')
  );
}

/** The colour at t in [0, 1] along the scale. */
export function scaleColour(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const pos = x * (SCALE.length - 1);
  const i = Math.min(SCALE.length - 2, Math.floor(pos));
  return mix(SCALE[i], SCALE[i + 1], pos - i);
}

/** Maps a value to [0, 1] over the overlay's range (log10 where the kernel says so). */
export class OverlayScale {
  readonly lo: number;
  readonly hi: number;
  readonly log: boolean;

  constructor(values: number[], log: boolean) {
    const usable = values.filter(v => Number.isFinite(v) && (!log || v > 0));
    this.log = log && usable.length > 0;
    const xs = usable.map(v => this.x(v));
    this.lo = xs.length ? Math.min(...xs) : 0;
    this.hi = xs.length ? Math.max(...xs) : 1;
  }

  private x(v: number): number {
    return this.log ? Math.log10(v) : v;
  }

  at(v: number): number {
    if (this.log && !(v > 0)) {
      return 0;
    }
    return this.hi > this.lo
      ? (this.x(v) - this.lo) / (this.hi - this.lo)
      : 0.5;
  }

  colour(v: number): string {
    return scaleColour(this.at(v));
  }

  /** The value at t in [0, 1] (for the legend's ticks). */
  valueAt(t: number): number {
    const x = this.lo + (this.hi - this.lo) * t;
    return this.log ? Math.pow(10, x) : x;
  }
}

function overlayValues(overlay: Overlay | null): Map<string, number> {
  const out = new Map<string, number>();
  const values = overlay && overlay.metric ? overlay.values || {} : {};
  for (const [id, v] of Object.entries(values)) {
    if (typeof v === 'number' && Number.isFinite(v)) {
      out.set(id, v);
    }
  }
  return out;
}

/**
 * Colour the drawn nodes by the overlay, or by their propagators when it is
 * off; returns the scale used (null when no node has a value).
 */
export function applyOverlay(
  drawn: Map<string, SVGGElement>,
  nodes: GraphNode[],
  overlay: Overlay | null
): OverlayScale | null {
  const values = overlayValues(overlay);
  const scale = values.size
    ? new OverlayScale([...values.values()], !!overlay?.log)
    : null;
  for (const node of nodes) {
    const g = drawn.get(node.id);
    if (!g) {
      continue;
    }
    const v = values.get(node.id);
    if (scale === null || v === undefined) {
      g.removeAttribute('data-overlay-value');
      g.removeAttribute('data-overlay-fill');
      paintNode(g, node.propagator, node.colour);
      continue;
    }
    const fill = scale.colour(v);
    const shape = nodeShape(g);
    if (shape) {
      shape.setAttribute('fill', fill);
      shape.style.fill = fill;
    }
    labelTexts(g).forEach(t => t.setAttribute('fill', textColour(fill)));
    g.setAttribute('data-overlay-value', String(v));
    g.setAttribute('data-overlay-fill', fill);
  }
  return scale;
}

/**
 * The legend, inline in the toolbar beside the selector: lowest value, colour
 * bar, highest value, and the scale and iteration; hidden when the overlay is off.
 */
export function renderOverlayLegend(
  el: HTMLElement,
  overlay: Overlay | null,
  scale: OverlayScale | null
): void {
  el.hidden = !overlay || !overlay.metric;
  el.title = overlay?.doc || '';
  if (el.hidden) {
    el.replaceChildren();
    return;
  }
  if (scale === null) {
    el.replaceChildren(
      h('span', { class: 'pl-hint' }, 'no values yet: run to record them')
    );
    return;
  }
  const stops = SCALE.map(
    (c, i) => `${c} ${((100 * i) / (SCALE.length - 1)).toFixed(1)}%`
  );
  const bar = h('span', { class: 'pl-overlay-bar' });
  bar.style.background = `linear-gradient(to right, ${stops.join(', ')})`;
  const notes = [
    scale.log ? 'log scale' : 'linear',
    overlay?.iteration === null || overlay?.iteration === undefined
      ? ''
      : `iteration ${overlay.iteration}`
  ].filter(Boolean);
  el.replaceChildren(
    h('span', { 'data-testid': 'overlay-min' }, fmt(scale.valueAt(0))),
    bar,
    h('span', { 'data-testid': 'overlay-max' }, fmt(scale.valueAt(1))),
    h('span', { class: 'pl-hint' }, notes.join(' · '))
  );
}

/** The toolbar's overlay selector: "colour by" none or one of the kernel's metrics. */
export class OverlaySelect {
  readonly el: HTMLLabelElement;
  private select: HTMLSelectElement;

  constructor(onChoose: (metric: string) => void) {
    this.select = h('select', {
      'data-testid': 'overlay-select',
      title: 'Colour the nodes by a live metric of the latest recorded pass'
    });
    this.select.addEventListener('change', () => onChoose(this.select.value));
    this.el = h(
      'label',
      { class: 'pl-overlay-select' },
      'colour by ',
      this.select
    );
  }

  refresh(overlay: Overlay | null): void {
    const metrics = overlay && overlay.metrics ? overlay.metrics : [];
    const wanted = ['', ...metrics].join('\n');
    const have = Array.from(this.select.options)
      .map(o => o.value)
      .join('\n');
    if (wanted !== have) {
      this.select.replaceChildren(
        h('option', { value: '' }, 'propagator'),
        ...metrics.map(m => h('option', { value: m }, m))
      );
    }
    this.select.value = overlay?.metric || '';
    this.el.hidden = metrics.length === 0;
  }
}
