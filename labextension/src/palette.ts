/**
 * The palette (one coloured button per registered propagator; tooltip = its
 * doc) and the legend (which colour is which propagator in this graph).
 */
import { serves } from './catalogue';
import { textColour } from './colour';
import { h } from './dom';
import { CatalogueEntry, GraphNode } from './types';

/** Palette buttons; `onPick(name)` on click. Buttons that cannot serve `node` are disabled. */
export function renderPalette(
  host: HTMLElement,
  catalogue: CatalogueEntry[],
  node: GraphNode | null,
  onPick: (name: string) => void
): void {
  host.replaceChildren(
    h(
      'div',
      { class: 'pl-section-title' },
      node ? `Assign to ${node.site}` : 'Propagators'
    )
  );
  const row = h('div', { class: 'pl-palette-buttons' });
  for (const entry of catalogue) {
    const ok = node !== null && serves(entry, node.kind);
    const btn = h(
      'button',
      {
        class: 'pl-palette-button',
        type: 'button',
        title: `${entry.display}: ${entry.doc}`,
        'data-testid': `palette-${entry.name}`,
        'data-propagator': entry.name
      },
      entry.name
    );
    btn.style.background = entry.colour;
    btn.style.color = textColour(entry.colour);
    btn.disabled = !ok;
    if (node && node.propagator === entry.name) {
      btn.classList.add('pl-current');
    }
    btn.addEventListener('click', () => onPick(entry.name));
    row.append(btn);
  }
  host.append(row);
  if (!node) {
    host.append(
      h('div', { class: 'pl-hint' }, 'Click a node, then a propagator.')
    );
  }
}

/** Legend of the propagators used in the graph, plus the palette's others greyed. */
export function renderLegend(
  host: HTMLElement,
  catalogue: CatalogueEntry[],
  nodes: GraphNode[]
): void {
  const used = new Map<string, string>();
  for (const n of nodes) {
    if (n.propagator) {
      used.set(n.propagator, n.colour);
    }
  }
  host.replaceChildren(h('div', { class: 'pl-section-title' }, 'Legend'));
  const list = h('ul', { class: 'pl-legend-list' });
  const names = catalogue.map(c => c.name).filter(n => used.has(n));
  for (const name of used.keys()) {
    if (names.indexOf(name) < 0) {
      names.push(name);
    }
  }
  for (const name of names) {
    const entry = catalogue.find(c => c.name === name);
    const swatch = h('span', { class: 'pl-swatch' });
    swatch.style.background =
      used.get(name) || (entry ? entry.colour : '#888888');
    list.append(
      h(
        'li',
        { 'data-testid': `legend-${name}`, title: entry ? entry.doc : name },
        swatch,
        entry ? `${name} — ${entry.display}` : name
      )
    );
  }
  if (!names.length) {
    list.append(h('li', { class: 'pl-hint' }, 'no propagators assigned'));
  }
  host.append(list);
}
