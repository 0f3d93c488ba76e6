/** The error banner (widget.error) with a dismiss button, and the failing node's highlight. */
import { fillPanel, h, svg } from './dom';
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

/**
 * Mark the nodes the error names (all instances of the site when no instance is
 * given): a red outline, and a badge that does not rely on colour (a white disc
 * with a dark ring and "!" at the node's corner), readable whatever colour the
 * propagator fills the node with, a red one included.
 */
export function highlightError(
  nodes: Map<string, SVGGElement>,
  error: WidgetError
): void {
  nodes.forEach(g => {
    g.classList.remove('pl-node-error');
    g.querySelectorAll('.pl-error-badge').forEach(b => b.remove());
  });
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
    g.append(errorBadge(g));
  });
}

function errorBadge(g: SVGGElement): SVGGElement {
  const box = g.getBBox();
  const r = Math.max(5, Math.min(9, box.height / 3));
  const badge = svg('g', {
    class: 'pl-error-badge',
    'data-testid': 'error-badge',
    transform: `translate(${box.x + box.width - r / 2}, ${box.y + r / 2})`
  });
  badge.append(
    svg('circle', { r, class: 'pl-error-badge-disc' }),
    svg('text', {
      class: 'pl-error-badge-mark',
      'text-anchor': 'middle',
      dy: r * 0.4
    })
  );
  badge.lastElementChild!.textContent = '!';
  const title = svg('title');
  title.textContent = 'the error names this node';
  badge.append(title);
  return badge;
}
