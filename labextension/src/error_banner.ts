/** The error banner (widget.error) with a dismiss button, and the failing node's highlight. */
import { fillPanel, h } from './dom';
import { shownError, WidgetError } from './types';

export function renderErrorBanner(
  host: HTMLElement,
  error: WidgetError,
  onDismiss: () => void
): void {
  const shown = shownError(error);
  if (!shown) {
    fillPanel(host);
    return;
  }
  const where = [
    shown.site ? `site ${shown.site}` : '',
    shown.instance !== null && shown.instance !== undefined
      ? `instance ${shown.instance}`
      : '',
    shown.propagator ? `propagator ${shown.propagator}` : ''
  ]
    .filter(Boolean)
    .join(', ');
  const dismiss = h(
    'button',
    {
      type: 'button',
      class: 'pl-dismiss',
      'data-testid': 'dismiss-error',
      title: 'Dismiss'
    },
    '×'
  );
  dismiss.addEventListener('click', onDismiss);
  fillPanel(
    host,
    h('span', { class: 'pl-error-icon' }, '⚠'),
    h(
      'span',
      { class: 'pl-error-text', 'data-testid': 'error-message' },
      shown.message,
      where ? h('span', { class: 'pl-error-where' }, ` (${where})`) : null
    ),
    dismiss
  );
}

/** Mark the nodes the error names (all instances of the site when no instance is given). */
export function highlightError(
  nodes: Map<string, SVGGElement>,
  error: WidgetError
): void {
  nodes.forEach(g => g.classList.remove('pl-node-error'));
  const shown = shownError(error);
  if (!shown || !shown.site) {
    return;
  }
  nodes.forEach(g => {
    if (g.getAttribute('data-site') !== shown.site) {
      return;
    }
    const inst = g.getAttribute('data-instance');
    if (inst && shown.instance !== null && shown.instance !== undefined) {
      if (inst !== String(shown.instance)) {
        return;
      }
    }
    g.classList.add('pl-node-error');
  });
}
