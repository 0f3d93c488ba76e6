/**
 * Graphviz layout in the browser: DOT -> SVG element, with Graphviz compiled to
 * WebAssembly (@hpcc-js/wasm-graphviz, WASM inlined in the JS). It is loaded
 * with a dynamic import() so that webpack puts it in a lazy chunk: the page
 * pays for it only when a graph is drawn, and it needs no network or `dot`.
 */
type GraphvizInstance = {
  layout(dot: string, format?: string, engine?: string): string;
};

let loading: Promise<GraphvizInstance> | null = null;

function graphviz(): Promise<GraphvizInstance> {
  if (!loading) {
    loading = import(
      /* webpackChunkName: "graphviz-wasm" */ '@hpcc-js/wasm-graphviz'
    ).then(mod => mod.Graphviz.load() as Promise<GraphvizInstance>);
    loading.catch(() => {
      loading = null; // let a later render retry
    });
  }
  return loading;
}

/** Lay out `dot` and parse the result into an <svg> element (not yet attached). */
export async function layoutDot(dot: string): Promise<SVGSVGElement> {
  const gv = await graphviz();
  const text = gv.layout(dot, 'svg', 'dot');
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const svg = doc.documentElement;
  if (
    !svg ||
    svg.nodeName.toLowerCase() !== 'svg' ||
    doc.querySelector('parsererror')
  ) {
    throw new Error('Graphviz returned no SVG');
  }
  return document.importNode(svg, true) as unknown as SVGSVGElement;
}
