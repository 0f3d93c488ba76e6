/** Right-click menu on a node: the same propagator choices as the palette. */
import { serves } from './catalogue';
import { textColour } from './colour';
import { h } from './dom';
import { Popup } from './popup';
import { CatalogueEntry, GraphNode } from './types';

export class ContextMenu extends Popup {
  constructor(container: HTMLElement) {
    super(container, {
      class: 'pl-context-menu',
      'data-testid': 'context-menu',
      role: 'menu'
    });
    document.addEventListener('pointerdown', this.onOutside, true);
    document.addEventListener('keydown', this.onKey, true);
  }

  open(
    x: number,
    y: number,
    node: GraphNode,
    catalogue: CatalogueEntry[],
    onPick: (name: string) => void
  ): void {
    this.el.replaceChildren(
      h('div', { class: 'pl-section-title' }, node.label || node.site)
    );
    for (const entry of catalogue) {
      const item = h(
        'button',
        {
          type: 'button',
          role: 'menuitem',
          class: 'pl-menu-item',
          title: entry.doc,
          'data-testid': `context-${entry.name}`
        },
        `${entry.name} — ${entry.display}`
      );
      item.style.borderLeft = `10px solid ${entry.colour}`;
      item.disabled = !serves(entry, node.kind);
      if (node.propagator === entry.name) {
        item.style.background = entry.colour;
        item.style.color = textColour(entry.colour);
      }
      item.addEventListener('click', () => {
        this.hide();
        onPick(entry.name);
      });
      this.el.append(item);
    }
    this.showAt(x, y);
  }

  dispose(): void {
    document.removeEventListener('pointerdown', this.onOutside, true);
    document.removeEventListener('keydown', this.onKey, true);
    this.el.remove();
  }

  private onOutside = (ev: Event): void => {
    if (!this.el.hidden && !this.el.contains(ev.target as Node)) {
      this.hide();
    }
  };

  private onKey = (ev: KeyboardEvent): void => {
    if (ev.key === 'Escape') {
      this.hide();
    }
  };
}
