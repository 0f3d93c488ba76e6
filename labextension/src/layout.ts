/**
 * Graphviz layout in the browser: DOT -> SVG element, with Graphviz compiled to
 * WebAssembly (@hpcc-js/wasm-graphviz, WASM inlined in the JS).
 *
 * The layout runs in a Web Worker (layout_worker.ts, its own webpack chunk), so
 * the page stays responsive while a large graph is laid out, and a layout that
 * takes longer than LAYOUT_TIME_LIMIT_MS is stopped (the worker is ended) with
 * an error instead of hanging. Where no worker can be started (an old page, a
 * worker chunk that does not load) it falls back to a lazy chunk on the main
 * thread, as before. Either way it needs no network or `dot`.
 */
type GraphvizInstance = {
  layout(dot: string, format?: string, engine?: string): string;
};

/** A layout that runs longer than this is stopped. */
export const LAYOUT_TIME_LIMIT_MS = 60_000;

/** Where a layout ran: in the worker, or on the main thread (fallback). */
export type LayoutThread = 'worker' | 'main';

let loading: Promise<GraphvizInstance> | null = null;

function mainThreadGraphviz(): Promise<GraphvizInstance> {
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

/** The worker failed to start or load: stop trying it. */
class WorkerUnavailable extends Error {}

type Pending = {
  resolve: (svg: string) => void;
  reject: (err: Error) => void;
  timer: number;
};

class LayoutWorker {
  private worker: Worker;
  private pending = new Map<number, Pending>();
  private next = 0;
  private answered = false;

  constructor() {
    this.worker = new Worker(new URL('./layout_worker.js', import.meta.url));
    this.worker.onmessage = (ev: MessageEvent) => {
      this.answered = true;
      const { id, svg, error } = ev.data as {
        id: number;
        svg?: string;
        error?: string;
      };
      const p = this.pending.get(id);
      if (!p) {
        return;
      }
      this.settle(id);
      if (typeof svg === 'string') {
        p.resolve(svg);
      } else {
        p.reject(new Error(error || 'no layout'));
      }
    };
    this.worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      // before any answer, an error means the worker itself did not load
      const err = this.answered
        ? new Error(`layout worker failed: ${ev.message}`)
        : new WorkerUnavailable(ev.message || 'worker did not load');
      this.failAll(err);
    };
  }

  layout(dot: string, limitMs: number): Promise<string> {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.failAll(
          new Error(
            `the layout took longer than ${limitMs / 1000} s and was stopped; ` +
              'draw the rolled view, or capture fewer steps'
          )
        );
      }, limitMs);
      this.pending.set(id, { resolve, reject, timer });
      this.worker.postMessage({ id, dot });
    });
  }

  private settle(id: number): void {
    const p = this.pending.get(id);
    if (p) {
      window.clearTimeout(p.timer);
      this.pending.delete(id);
    }
  }

  /** End the worker (a stuck layout cannot be interrupted otherwise) and fail what waits. */
  private failAll(err: Error): void {
    this.worker.terminate();
    if (worker === this) {
      worker = null;
    }
    if (err instanceof WorkerUnavailable) {
      workerBroken = true;
    }
    for (const [id, p] of [...this.pending]) {
      this.settle(id);
      p.reject(err);
    }
  }
}

let worker: LayoutWorker | null = null;
let workerBroken = typeof Worker === 'undefined';

async function layoutText(
  dot: string,
  limitMs: number
): Promise<[string, LayoutThread]> {
  if (!workerBroken) {
    try {
      worker = worker || new LayoutWorker();
      return [await worker.layout(dot, limitMs), 'worker'];
    } catch (err) {
      if (!(err instanceof WorkerUnavailable) && !workerBroken) {
        throw err;
      }
      workerBroken = true;
      console.warn(
        'proppo-lab: layout worker unavailable, laying out on the page',
        err
      );
    }
  }
  const gv = await mainThreadGraphviz();
  return [gv.layout(dot, 'svg', 'dot'), 'main'];
}

/** Lay out `dot` and parse the result into an <svg> element (not yet attached). */
export async function layoutDot(
  dot: string,
  limitMs = LAYOUT_TIME_LIMIT_MS
): Promise<SVGSVGElement> {
  const [text, thread] = await layoutText(dot, limitMs);
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const svg = doc.documentElement;
  if (
    !svg ||
    svg.nodeName.toLowerCase() !== 'svg' ||
    doc.querySelector('parsererror')
  ) {
    throw new Error('Graphviz returned no SVG');
  }
  const out = document.importNode(svg, true) as unknown as SVGSVGElement;
  out.setAttribute('data-layout-thread', thread);
  return out;
}
