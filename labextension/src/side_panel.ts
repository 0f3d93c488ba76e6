/**
 * The panel beside the graph: palette, legend, the selected node's details and
 * the options form. The form shows the options of the propagator just picked
 * (until the kernel confirms it), else of the node's own propagator, filled
 * with the options the kernel says the plan gives that node.
 */
import { entryNamed } from './catalogue';
import { renderDetails } from './details';
import { h } from './dom';
import { renderOptionsForm } from './options_form';
import { renderLegend, renderPalette } from './palette';
import { CatalogueEntry, GraphNode, OptionValues } from './types';

export type Assign = (propagator: string, options: OptionValues) => void;

export class SidePanel {
  readonly el: HTMLDivElement;
  private palette = h('div', { class: 'pl-palette', 'data-testid': 'palette' });
  private legend = h('div', { class: 'pl-legend', 'data-testid': 'legend' });
  private details = h('div', {
    class: 'pl-details',
    'data-testid': 'node-details'
  });
  private options = h('div', {
    class: 'pl-options-host',
    'data-testid': 'options-form'
  });

  constructor() {
    this.el = h(
      'div',
      { class: 'pl-side' },
      this.palette,
      this.legend,
      this.details,
      this.options
    );
  }

  render(
    node: GraphNode | null,
    nodes: GraphNode[],
    catalogue: CatalogueEntry[],
    picked: string | null,
    assign: Assign
  ): void {
    renderPalette(this.palette, catalogue, node, name => assign(name, {}));
    renderDetails(this.details, node);
    const entry = node
      ? entryNamed(catalogue, picked || node.propagator)
      : null;
    // Saved widget state from before nodes carried their options has none.
    const given =
      node && entry && entry.name === node.propagator ? node.options || {} : {};
    renderOptionsForm(this.options, entry, given, assign);
    renderLegend(this.legend, catalogue, nodes);
  }
}
