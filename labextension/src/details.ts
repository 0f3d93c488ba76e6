/** The details panel of the selected node: where it is, what it holds, who serves it. */
import { fillPanel, h } from './dom';
import { GraphNode } from './types';

export function renderDetails(host: HTMLElement, node: GraphNode | null): void {
  if (!node) {
    fillPanel(host);
    return;
  }
  const rows: [string, string][] = [
    ['node', node.id],
    ['site', node.site],
    ['kind', node.kind],
    [
      node.instance === null ? 'instances' : 'instance',
      node.instance === null
        ? String(node.count)
        : `${node.instance} (of site, count ${node.count})`
    ],
    ['distribution', node.dist || '—'],
    ['shape', node.shape ? `[${node.shape.join(', ')}]` : '—'],
    ['dtype', node.dtype || '—'],
    ['device', node.device || '—'],
    ['propagator', node.propagator || 'default']
  ];
  const opts = Object.entries(node.options || {});
  if (opts.length) {
    rows.push([
      'options',
      opts.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')
    ]);
  }
  const overrides = Object.entries(node.overrides || {});
  if (overrides.length) {
    rows.push([
      'overrides',
      overrides.map(([i, p]) => `#${i}: ${p}`).join(', ')
    ]);
  }
  const table = h('table', { class: 'pl-details-table' });
  for (const [k, v] of rows) {
    table.append(h('tr', { 'data-field': k }, h('th', {}, k), h('td', {}, v)));
  }
  fillPanel(
    host,
    h('div', { class: 'pl-section-title' }, node.label || node.site),
    table
  );
}
