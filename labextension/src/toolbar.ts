/** The toolbar: roll/unroll, fit, zoom, "this instance only", and the kernel's status line. */
import { h } from './dom';
import { View } from './types';
import { ZoomPan } from './zoom';

export class Toolbar {
  readonly el: HTMLDivElement;
  private toggle: HTMLButtonElement;
  private instanceOnly: HTMLInputElement;
  private status: HTMLSpanElement;

  constructor(
    zoom: ZoomPan,
    onToggleView: () => void,
    onInstanceOnly: () => void
  ) {
    this.toggle = tool('view-toggle', '', '');
    this.toggle.addEventListener('click', onToggleView);
    const fit = tool('fit-view', 'Fit the graph to the view', 'Fit');
    fit.addEventListener('click', () => zoom.fit());
    const zoomIn = tool('zoom-in', 'Zoom in', '+');
    zoomIn.addEventListener('click', () => zoom.zoomBy(1 / 1.25));
    const zoomOut = tool('zoom-out', 'Zoom out', '−');
    zoomOut.addEventListener('click', () => zoom.zoomBy(1.25));
    this.instanceOnly = h('input', {
      type: 'checkbox',
      'data-testid': 'assign-instance-only'
    });
    this.instanceOnly.addEventListener('change', onInstanceOnly);
    const instanceLabel = h(
      'label',
      {
        class: 'pl-instance-only',
        title: 'In the unrolled view, assign only the clicked instance'
      },
      this.instanceOnly,
      ' this instance only'
    );
    this.status = h('span', {
      class: 'pl-status',
      'data-testid': 'status',
      'aria-live': 'polite'
    });
    this.el = h(
      'div',
      { class: 'pl-toolbar', 'data-testid': 'toolbar' },
      this.toggle,
      fit,
      zoomIn,
      zoomOut,
      instanceLabel,
      this.status
    );
  }

  /** Whether an assignment goes to the clicked instance only (unrolled view). */
  get instanceOnlyChecked(): boolean {
    return !this.instanceOnly.disabled && this.instanceOnly.checked;
  }

  /** Put another control in the toolbar, before the status line. */
  addTool(el: HTMLElement): void {
    this.el.insertBefore(el, this.status);
  }

  refresh(view: View, status: string): void {
    const rolled = view === 'rolled';
    this.toggle.textContent = rolled ? 'Unroll' : 'Roll up';
    this.toggle.title = rolled
      ? 'Show every instance of each site'
      : 'Fold instances into one node per site';
    this.toggle.setAttribute('data-view', view);
    this.instanceOnly.disabled = rolled;
    this.status.textContent = status;
  }
}

function tool(testid: string, title: string, text: string): HTMLButtonElement {
  const attrs = {
    type: 'button',
    'data-testid': testid,
    class: 'pl-tool',
    title
  };
  return h('button', title ? attrs : { ...attrs, title: undefined }, text);
}
