/**
 * Pointer and keyboard on the drawing: click or Enter selects a node, a
 * right-click opens the propagator menu, hovering shows the flow tooltip.
 * A click that ends a pan is not a selection.
 */
import { ZoomPan } from './zoom';

export interface CanvasHandlers {
  /** A node (its id) or the background ('') was clicked. */
  select(id: string): void;
  /** Right-click on node `id` at client point (x, y). */
  menu(id: string, x: number, y: number): void;
  /** The pointer is over node `nodeId` or edge `edgeId` (or neither: both null). */
  hover(ev: PointerEvent, nodeId: string | null, edgeId: string | null): void;
}

function groupAt(ev: Event, cls: string): SVGGElement | null {
  return (ev.target as Element | null)?.closest?.(
    `g.${cls}`
  ) as SVGGElement | null;
}

function nodeId(ev: Event): string | null {
  const g = groupAt(ev, 'pl-node');
  return g ? g.getAttribute('data-node-id') || '' : null;
}

export function wireCanvas(
  canvas: HTMLElement,
  zoom: ZoomPan,
  on: CanvasHandlers
): void {
  canvas.addEventListener('click', ev => {
    if (zoom.moved) {
      zoom.moved = false;
      return;
    }
    on.select(nodeId(ev) ?? '');
  });
  canvas.addEventListener('keydown', ev => {
    const id = nodeId(ev);
    if (id !== null && (ev.key === 'Enter' || ev.key === ' ')) {
      ev.preventDefault();
      on.select(id);
    }
  });
  canvas.addEventListener('contextmenu', ev => {
    const id = nodeId(ev);
    if (id !== null) {
      ev.preventDefault();
      on.menu(id, ev.clientX, ev.clientY);
    }
  });
  canvas.addEventListener('pointermove', ev => {
    const edge = groupAt(ev, 'pl-edge');
    on.hover(
      ev,
      nodeId(ev),
      edge ? edge.getAttribute('data-edge-id') || '' : null
    );
  });
  canvas.addEventListener('pointerleave', ev => on.hover(ev, null, null));
}
