/**
 * When a new DOT needs no new layout, and the in-place update that replaces it.
 *
 * Graphviz is run again only when something that moves the picture changed.
 * Colours never do. A node's label text does only when it no longer fits the
 * node's shape: an assignment rewrites "state\nRP" as "state\nTP", so labels
 * are compared by their line count, and the new lines are written into the
 * drawn <text> elements and measured. Anything else (nodes, edges, edge
 * labels, the legend, the view) differs in the layout key and relays out.
 */
import { labelTexts, nodeShape } from './annotate';

const ATTRIBUTE = /(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)/g;
const COLOURS = new Set(['fillcolor', 'fontcolor', 'color']);

/** A node statement of the kernel's DOT (one per line): `n0 [label="..." id="site:x" ...]`. */
function isNodeStatement(line: string): boolean {
  return line.indexOf('->') < 0 && /^\s*\w+\s*\[/.test(line);
}

function unquote(value: string): string {
  return value.startsWith('"')
    ? value.slice(1, -1).replace(/\\(["\\])/g, '$1')
    : value;
}

function labelLines(label: string): string[] {
  return label
    .split(/\\[nlr]/)
    .filter((line, i, all) => line !== '' || i < all.length - 1);
}

/** The DOT as far as Graphviz's layout cares: colours dropped, node labels as line counts. */
export function layoutKey(dot: string): string {
  return dot
    .split('\n')
    .map(line => {
      const node = isNodeStatement(line);
      return line.replace(ATTRIBUTE, (all, name: string, value: string) => {
        if (COLOURS.has(name)) {
          return '';
        }
        return node && name === 'label'
          ? `label=#${labelLines(unquote(value)).length}`
          : all;
      });
    })
    .join('\n');
}

/** Each DOT node id's label, split in lines as Graphviz draws them. */
export function nodeLabels(dot: string): Map<string, string[]> {
  const labels = new Map<string, string[]>();
  for (const line of dot.split('\n')) {
    if (!isNodeStatement(line)) {
      continue;
    }
    const attrs = new Map<string, string>();
    for (const m of line.matchAll(ATTRIBUTE)) {
      attrs.set(m[1], unquote(m[2]));
    }
    const id = attrs.get('id');
    const label = attrs.get('label');
    if (id !== undefined && label !== undefined) {
      labels.set(id, labelLines(label));
    }
  }
  return labels;
}

/**
 * Write the new labels into the drawn nodes; false when a node's text no
 * longer matches its drawing (another line count) or fits its shape, so the
 * caller lays the graph out again.
 */
export function relabel(
  nodes: Map<string, SVGGElement>,
  labels: Map<string, string[]>
): boolean {
  for (const [id, g] of nodes) {
    const lines = labels.get(id);
    const texts = labelTexts(g);
    if (!lines || lines.length !== texts.length) {
      return false;
    }
    const changed = texts.filter((t, i) => t.textContent !== lines[i]);
    texts.forEach((t, i) => (t.textContent = lines[i]));
    if (changed.length && !fits(g, changed)) {
      return false;
    }
  }
  return true;
}

function fits(g: SVGGElement, texts: SVGTextElement[]): boolean {
  const shape = nodeShape(g) as SVGGraphicsElement | null;
  try {
    const room = shape ? shape.getBBox().width - 4 : 0;
    return texts.every(t => t.getComputedTextLength() <= room);
  } catch {
    return false; // not measurable (detached): lay out again
  }
}
