/**
 * The fixed JSON contracts between the kernel (proppo_lab.trace / lab) and this view.
 */

export type NodeKind = 'sample' | 'forward' | 'loss' | 'param';

export interface GraphNode {
  id: string;
  kind: NodeKind;
  site: string;
  instance: number | null;
  count: number;
  propagator: string | null;
  colour: string;
  label: string;
  overrides: { [instance: string]: string };
  dist: string | null;
  shape: number[] | null;
  dtype: string | null;
  device: string | null;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  recurrent: boolean;
  count: number;
}

export interface GraphJSON {
  view: 'rolled' | 'unrolled';
  sites: string[];
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface OptionSchema {
  type: 'float' | 'int' | 'bool' | 'str';
  default: unknown;
  doc: string;
  min?: number;
  max?: number;
  choices?: unknown[];
}

export interface CatalogueEntry {
  name: string;
  display: string;
  colour: string;
  doc: string;
  kinds: string[];
  builtin: boolean;
  options: { [name: string]: OptionSchema };
}

export interface NodeFlow {
  messages?: { [kind: string]: number };
  weights?: { [name: string]: number };
  baseline?: number;
}

export interface Flows {
  nodes?: { [nodeId: string]: NodeFlow };
  edges?: { [edgeId: string]: { norm: number } };
}

export interface WidgetError {
  message?: string;
  site?: string | null;
  instance?: number | null;
  propagator?: string | null;
}

/** Options as stored in the plan JSON, for one site or one instance. */
export type OptionValues = { [name: string]: unknown };

/** Front-end -> kernel messages (validated by proppo_lab/lab/protocol.py). */
export type Message =
  | { action: 'select'; node: string }
  | {
      action: 'assign';
      site: string;
      instance: number | null;
      propagator: string;
      options: OptionValues;
    }
  | { action: 'clear'; site: string; instance: number | null }
  | { action: 'view'; view: 'rolled' | 'unrolled' }
  | { action: 'svg'; svg: string };

/** Can `entry` serve a node of `kind`? (loss and param nodes take none.) */
export function serves(entry: CatalogueEntry, kind: string): boolean {
  return entry.kinds.indexOf(kind) >= 0;
}

/** The spec the plan gives a node: propagator name and explicit options. */
export function planSpec(
  plan: { [site: string]: unknown },
  site: string,
  instance: number | null
): { propagator: string | null; options: OptionValues } {
  const raw = plan[site];
  const asSpec = (v: unknown): { propagator: string | null; options: OptionValues } => {
    if (typeof v === 'string') {
      return { propagator: v, options: {} };
    }
    if (v && typeof v === 'object') {
      const o = v as { propagator?: unknown; options?: unknown };
      return {
        propagator: typeof o.propagator === 'string' ? o.propagator : null,
        options: (o.options && typeof o.options === 'object' ? o.options : {}) as OptionValues
      };
    }
    return { propagator: null, options: {} };
  };
  if (raw && typeof raw === 'object' && instance !== null) {
    const inst = (raw as { instances?: { [k: string]: unknown } }).instances;
    if (inst && inst[String(instance)] !== undefined) {
      return asSpec(inst[String(instance)]);
    }
  }
  return asSpec(raw);
}
