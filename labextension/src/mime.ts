/**
 * Kernel-less graphs: a mime renderer for the graph widget's display bundle.
 *
 * GraphWidget's bundle carries, besides the widget view
 * (application/vnd.jupyter.widget-view+json), the graph as `image/svg+xml`
 * and a marker `application/vnd.proppo-lab.graph+json`. This renderer is
 * registered for the marker with a rank (-20) ahead of the widget renderer
 * (-10), so JupyterLab picks it for every graph output. It shows the static SVG
 * at once and, for trusted outputs, renders the live widget next to it through
 * the output area's own rendermime (so the same widget manager is used); as
 * soon as the live view exists the static picture is removed. When the widget
 * model is missing (a saved notebook reopened without a kernel, the widget
 * manager reports "model not found" or never restores) the static SVG stays and
 * the widget renderer's message is dropped.
 *
 * Untrusted outputs (a notebook from someone else) never get the live widget
 * (JupyterLab only renders widgets in trusted outputs either); their SVG is
 * inlined after an allow-list sanitiser (drawing elements only, no scripts,
 * links, event handlers or external references).
 */
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Panel, Widget } from '@lumino/widgets';

import { GRAPH_MIME } from './contracts';

const WIDGET_MIME = 'application/vnd.jupyter.widget-view+json';
const SVG_MIME = 'image/svg+xml';

const SVG_NS = 'http://www.w3.org/2000/svg';
const ALLOWED = new Set([
  'svg',
  'g',
  'title',
  'desc',
  'polygon',
  'polyline',
  'ellipse',
  'circle',
  'rect',
  'line',
  'path',
  'text',
  'tspan',
  'defs',
  'lineargradient',
  'radialgradient',
  'stop',
  'marker'
]);

/** Parse an SVG string into a detached, sanitised <svg> element (null if it is not one). */
export function sanitisedSvg(text: string): SVGSVGElement | null {
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const root = doc.documentElement;
  if (
    !root ||
    root.nodeName.toLowerCase() !== 'svg' ||
    root.namespaceURI !== SVG_NS
  ) {
    return null;
  }
  const clean = (el: Element): void => {
    Array.from(el.children).forEach(child => {
      if (
        child.nodeName.toLowerCase() === 'a' &&
        child.namespaceURI === SVG_NS
      ) {
        // Graphviz wraps nodes with a tooltip in <a>: keep the drawing, drop the link.
        const g = child.ownerDocument.createElementNS(SVG_NS, 'g');
        while (child.firstChild) {
          g.appendChild(child.firstChild);
        }
        child.replaceWith(g);
        clean(g);
      } else if (
        !ALLOWED.has(child.nodeName.toLowerCase()) ||
        child.namespaceURI !== SVG_NS
      ) {
        child.remove();
      } else {
        clean(child);
      }
    });
    Array.from(el.attributes).forEach(attr => {
      const name = attr.name.toLowerCase();
      const value = attr.value.toLowerCase();
      if (
        name.startsWith('on') ||
        name === 'href' ||
        name.endsWith(':href') ||
        value.includes('javascript:') ||
        (name === 'style' &&
          (value.includes('url(') || value.includes('expression')))
      ) {
        el.removeAttribute(attr.name);
      }
    });
  };
  clean(root);
  return document.importNode(root, true) as unknown as SVGSVGElement;
}

/** The rendermime of the output area that holds `widget` (walks up the parents). */
function findRendermime(widget: Widget): IRegistry | null {
  let w: Widget | null = widget.parent;
  while (w) {
    const rm = (w as unknown as { rendermime?: IRegistry }).rendermime;
    if (rm && typeof rm.createRenderer === 'function') {
      return rm;
    }
    w = w.parent;
  }
  return null;
}

/** The part of an output area's rendermime registry used here. */
interface IRegistry {
  readonly mimeTypes: ReadonlyArray<string>;
  createRenderer(mimeType: string): IRenderMime.IRenderer;
}

const sleep = (ms: number) =>
  new Promise<void>(resolve => window.setTimeout(resolve, ms));

export class GraphFallbackRenderer
  extends Panel
  implements IRenderMime.IRenderer
{
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this.addClass('pl-graph-output');
    this.mimeType = options.mimeType;
  }

  readonly mimeType: string;

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.dropLive();
    this.staticNode?.remove();
    const text = model.data[SVG_MIME];
    const svg = typeof text === 'string' ? sanitisedSvg(text) : null;
    const node = document.createElement('div');
    node.className = 'pl-graph-static';
    node.setAttribute('data-testid', 'graph-static');
    node.style.overflow = 'auto';
    node.style.maxWidth = '100%';
    if (svg) {
      node.appendChild(svg);
    } else {
      node.textContent = 'proppo_lab graph (no static picture saved)';
    }
    this.node.insertBefore(node, this.node.firstChild);
    this.staticNode = node;
    if (model.trusted && model.data[WIDGET_MIME]) {
      await this.renderLive(model);
    }
  }

  /** Render the live widget through the output area's rendermime, if it has a model. */
  private async renderLive(model: IRenderMime.IMimeModel): Promise<void> {
    let rm: IRegistry | null = null;
    for (let i = 0; i < 100 && !this.isDisposed; i++) {
      rm = findRendermime(this);
      if (rm) {
        break;
      }
      await sleep(50); // the output area attaches us after renderModel has started
    }
    if (!rm || this.isDisposed || rm.mimeTypes.indexOf(WIDGET_MIME) < 0) {
      return;
    }
    const live = rm.createRenderer(WIDGET_MIME);
    live.addClass('pl-graph-live');
    live.node.style.display = 'none'; // shown once it holds a view
    this.addWidget(live);
    this.live = live;
    const check = (): void => {
      if (this.live !== live) {
        return;
      }
      const hasView =
        ((live as unknown as Panel).widgets?.length ?? 0) > 0 ||
        live.node.querySelector('.pl-graph-widget');
      if (hasView) {
        live.node.style.display = '';
        this.staticNode?.remove();
        this.staticNode = null;
        this.observer?.disconnect();
      } else if (
        (live.node.textContent || '').indexOf('Error displaying widget') >= 0
      ) {
        this.dropLive(); // no model (no kernel, state not saved): keep the picture
      }
    };
    this.observer = new MutationObserver(check);
    this.observer.observe(live.node, {
      childList: true,
      subtree: true,
      characterData: true
    });
    try {
      await live.renderModel(model);
    } catch (err) {
      console.warn('proppo-lab: live graph widget could not render', err);
    }
    check();
  }

  private dropLive(): void {
    this.observer?.disconnect();
    this.observer = null;
    if (this.live) {
      const live = this.live;
      this.live = null;
      live.dispose();
    }
  }

  dispose(): void {
    this.dropLive();
    super.dispose();
  }

  private staticNode: HTMLElement | null = null;
  private live: IRenderMime.IRenderer | null = null;
  private observer: MutationObserver | null = null;
}

const extension: IRenderMime.IExtension = {
  id: 'proppo-lab:graph-mime',
  description:
    'Static graph pictures for proppo_lab graph outputs without a live widget.',
  rendererFactory: {
    safe: true,
    mimeTypes: [GRAPH_MIME],
    defaultRank: -20,
    createRenderer: options => new GraphFallbackRenderer(options)
  },
  rank: -20,
  dataType: 'json'
};

export default extension;
