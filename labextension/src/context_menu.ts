/** Right-click menu on a node: the same propagator choices as the palette. */
import { h, inkOn } from './dom';
import { CatalogueEntry, GraphNode, serves } from './types';

export class ContextMenu {
  readonly el: HTMLDivElement;

  constructor(private container: HTMLElement) {
    this.el = h('div', { class: 'pl-context-menu', 'data-testid': 'context-menu', role: 'menu' });
    this.el.hidden = true;
    container.append(this.el);
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
    const r = this.container.getBoundingClientRect();
    this.el.replaceChildren(h('div', { class: 'pl-section-title' }, node.label || node.site));
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
        item.style.color = inkOn(entry.colour);
      }
      item.addEventListener('click', () => {
        this.close();
        onPick(entry.name);
      });
      this.el.append(item);
    }
    // Open at the pointer, but keep the whole menu inside the widget.
    this.el.hidden = false;
    const w = this.el.offsetWidth;
    const hgt = this.el.offsetHeight;
    const left = Math.max(0, Math.min(x - r.left, r.width - w - 4));
    const top = Math.max(0, Math.min(y - r.top, r.height - hgt - 4));
    this.el.style.left = `${left}px`;
    this.el.style.top = `${top}px`;
  }

  close(): void {
    this.el.hidden = true;
  }

  dispose(): void {
    document.removeEventListener('pointerdown', this.onOutside, true);
    document.removeEventListener('keydown', this.onKey, true);
    this.el.remove();
  }

  private onOutside = (ev: Event): void => {
    if (!this.el.hidden && !this.el.contains(ev.target as Node)) {
      this.close();
    }
  };

  private onKey = (ev: KeyboardEvent): void => {
    if (ev.key === 'Escape') {
      this.close();
    }
  };
}
