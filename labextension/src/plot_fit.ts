/**
 * The Lab's plotly figures follow their grid cell's width.
 *
 * The kernel makes them autosize with plotly's "responsive" option
 * (proppo_lab/lab/plots.py), but plotly measures the cell only when it draws
 * and when the window is resized. Its widget draws before it is attached (so it
 * measures nothing and falls back to 700 px), and a cell also changes width
 * without a window resize (the presentation toggle, JupyterLab's sidebar). So
 * each Lab figure is watched, and a change of its width is announced as a
 * window resize, plotly's own cue to measure again.
 */
import { JupyterFrontEndPlugin } from '@jupyterlab/application';

/** Plotly's widget announces each figure it drew with this document event. */
const AFTER_RENDER = 'plotlywidget-after-render';

export function watchPlotWidths(doc: Document): () => void {
  const widths = new WeakMap<Element, number>();
  let pending = 0;
  const observer = new ResizeObserver(entries => {
    let changed = false;
    for (const entry of entries) {
      const el = entry.target;
      if (!el.isConnected || !el.closest('.pl-lab .pl-plots')) {
        continue; // not (yet) in a Lab's plot grid
      }
      const width = Math.round(entry.contentRect.width);
      changed ||= width > 0 && widths.get(el) !== width;
      widths.set(el, width);
    }
    if (changed && !pending) {
      pending = requestAnimationFrame(() => {
        pending = 0;
        window.dispatchEvent(new Event('resize'));
      });
    }
  });
  const drawn = (event: Event): void => {
    const el = (event as CustomEvent<{ element?: Element }>).detail?.element;
    if (el) {
      observer.observe(el);
    }
  };
  doc.addEventListener(AFTER_RENDER, drawn);
  return () => {
    doc.removeEventListener(AFTER_RENDER, drawn);
    observer.disconnect();
  };
}

export const plotFitPlugin: JupyterFrontEndPlugin<void> = {
  id: 'proppo-lab:plot-fit',
  description: "The Lab's plotly figures follow their grid cell's width.",
  autoStart: true,
  activate: (): void => {
    watchPlotWidths(document);
  }
};
