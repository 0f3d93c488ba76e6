/** DOM helpers shared by the view's parts. */

/** A tiny element builder: h('div', {class: 'x', 'data-testid': 'y'}, 'text', child). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: { [name: string]: string | undefined } = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined) {
      el.setAttribute(k, v);
    }
  }
  for (const c of children) {
    if (c !== null && c !== undefined) {
      el.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The SVG twin of h(): an SVG element with attributes. */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: { [name: string]: string | number } = {}
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    e.setAttribute(k, String(v));
  }
  return e;
}

/** Fill a side panel with `children`; a panel with nothing to show is hidden. */
export function fillPanel(host: HTMLElement, ...children: Node[]): void {
  host.replaceChildren(...children);
  host.hidden = children.length === 0;
}
