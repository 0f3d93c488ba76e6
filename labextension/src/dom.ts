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

/** Readable text colour on a #rrggbb background. */
export function inkOn(hex: string): string {
  if (!/^#[0-9a-fA-F]{6}$/.test(hex)) {
    return 'inherit';
  }
  const [r, g, b] = [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b < 140 ? '#ffffff' : '#000000';
}
