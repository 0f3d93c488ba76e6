/**
 * The picture sent back to the kernel for static export (GraphWidget.svg):
 * Graphviz's whole layout (its legend included) at its own size, without the
 * live view's zoom, selection and hover state. Sent debounced after each
 * drawing, and only when it is within the kernel's size limit.
 */
import { MAX_SVG } from './contracts';

const SVG_DEBOUNCE_MS = 400;

/** Graphviz's own viewBox, width and height, captured before the live view changes them. */
export type LayoutBox = [string | null, string | null, string | null];

export function layoutBoxOf(svg: SVGSVGElement): LayoutBox {
  return [
    svg.getAttribute('viewBox'),
    svg.getAttribute('width'),
    svg.getAttribute('height')
  ];
}

/** The exported text of `svg`; `home` is the fit box, used where Graphviz gave no size. */
export function exportedSvg(
  svg: SVGSVGElement,
  box: LayoutBox,
  home: [number, number, number, number]
): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  const [viewBox, width, height] = box;
  const [x, y, w, hgt] = home;
  clone.setAttribute('viewBox', viewBox || `${x} ${y} ${w} ${hgt}`);
  clone.setAttribute('width', width || `${w}pt`);
  clone.setAttribute('height', height || `${hgt}pt`);
  clone.removeAttribute('preserveAspectRatio');
  clone
    .querySelectorAll('.pl-node-selected, .pl-aux')
    .forEach(n => n.classList.remove('pl-node-selected', 'pl-aux'));
  return new XMLSerializer().serializeToString(clone);
}

/** Calls `send` with the latest picture once drawing has paused for a moment. */
export class SvgExporter {
  private timer: number | undefined;

  constructor(
    private picture: () => string | null,
    private send: (svg: string) => void
  ) {}

  queue(): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      const text = this.picture();
      if (text !== null && text.length <= MAX_SVG) {
        this.send(text);
      }
    }, SVG_DEBOUNCE_MS);
  }

  dispose(): void {
    window.clearTimeout(this.timer);
  }
}
