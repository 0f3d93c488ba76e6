/** The error banner (widget.error) with a dismiss button, and the failing node's highlight. */
import { h } from './dom';
import { WidgetError } from './types';

export function renderErrorBanner(
  host: HTMLElement,
  error: WidgetError,
  onDismiss: () => void
): void {
  if (!error || !error.message) {
    host.replaceChildren();
    host.hidden = true;
    return;
  }
  const where = [
    error.site ? `site ${error.site}` : '',
    error.instance !== null && error.instance !== undefined ? `instance ${error.instance}` : '',
    error.propagator ? `propagator ${error.propagator}` : ''
  ]
    .filter(Boolean)
    .join(', ');
  const dismiss = h(
    'button',
    { type: 'button', class: 'pl-dismiss', 'data-testid': 'dismiss-error', title: 'Dismiss' },
    '×'
  );
  dismiss.addEventListener('click', onDismiss);
  host.replaceChildren(
    h('span', { class: 'pl-error-icon' }, '⚠'),
    h(
      'span',
      { class: 'pl-error-text', 'data-testid': 'error-message' },
      error.message,
      where ? h('span', { class: 'pl-error-where' }, ` (${where})`) : null
    ),
    dismiss
  );
  host.hidden = false;
}

/** Mark the nodes the error names (all instances of the site when no instance is given). */
export function highlightError(nodes: Map<string, SVGGElement>, error: WidgetError): void {
  nodes.forEach(g => g.classList.remove('pl-node-error'));
  if (!error || !error.message || !error.site) {
    return;
  }
  nodes.forEach(g => {
    if (g.getAttribute('data-site') !== error.site) {
      return;
    }
    const inst = g.getAttribute('data-instance');
    if (inst && error.instance !== null && error.instance !== undefined) {
      if (inst !== String(error.instance)) {
        return;
      }
    }
    g.classList.add('pl-node-error');
  });
}
