/**
 * Graphviz in a Web Worker: receives {id, dot}, answers {id, svg} or {id, error}.
 *
 * Laying out a large graph takes seconds of WebAssembly; run on the page's main
 * thread it would freeze JupyterLab meanwhile. layout.ts starts this worker
 * (webpack bundles it, with Graphviz, as its own chunk) and enforces a time limit.
 */
import { Graphviz } from '@hpcc-js/wasm-graphviz';

interface WorkerScope {
  onmessage: ((ev: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
}

const scope = self as unknown as WorkerScope;
let graphviz: Promise<Graphviz> | null = null;

scope.onmessage = async (ev: MessageEvent) => {
  const { id, dot } = ev.data as { id: number; dot: string };
  try {
    graphviz = graphviz || Graphviz.load();
    const gv = await graphviz;
    scope.postMessage({ id, svg: gv.layout(dot, 'svg', 'dot') });
  } catch (err) {
    scope.postMessage({ id, error: String(err) });
  }
};
