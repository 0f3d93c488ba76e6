/** A floating box (context menu, tooltip) inside the widget, shown at the pointer. */
import { h } from './dom';

export class Popup {
  readonly el: HTMLDivElement;

  constructor(
    protected container: HTMLElement,
    attrs: { [name: string]: string }
  ) {
    this.el = h('div', attrs);
    this.el.hidden = true;
    container.append(this.el);
  }

  /** Show at client point (x, y), moved left/up where needed to stay inside the widget. */
  protected showAt(x: number, y: number): void {
    const r = this.container.getBoundingClientRect();
    this.el.hidden = false;
    const left = Math.max(
      0,
      Math.min(x - r.left, r.width - this.el.offsetWidth - 4)
    );
    const top = Math.max(
      0,
      Math.min(y - r.top, r.height - this.el.offsetHeight - 4)
    );
    this.el.style.left = `${left}px`;
    this.el.style.top = `${top}px`;
  }

  hide(): void {
    this.el.hidden = true;
  }
}
