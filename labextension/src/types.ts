/**
 * The fixed JSON contracts between the kernel (proppo_lab.trace / lab) and this view.
 * Shared constants (MIME types, view names, limits, colours) are in contracts.ts.
 */
import { VIEWS } from './contracts';

/** 'rolled' (one node per site) or 'unrolled' (one node per instance). */
export type View = (typeof VIEWS)[number];

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
  /** The explicit options the plan gives this node ({} when none): the kernel resolves them. */
  options: OptionValues;
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
  /** readable title from the kernel, e.g. "beta → state (all 100 steps)" */
  label?: string;
}

export interface GraphJSON {
  view: View;
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

/** The kernel's overlay trait (proppo_lab/lab/overlay.py): a metric per drawn node. */
export interface Overlay {
  metric: string;
  metrics: string[];
  values: { [nodeId: string]: number };
  log: boolean;
  iteration: number | null;
  doc?: string;
}

/** The kernel's error trait: {} when there is none. */
export type WidgetError = Record<string, never> | ShownError;

/** An error the kernel reports, naming where it happened when it knows. */
export interface ShownError {
  message: string;
  site: string | null;
  instance: number | null;
  propagator: string | null;
}

/** The error to show, or null when `error` is the empty one. */
export function shownError(
  error: WidgetError | null | undefined
): ShownError | null {
  return error && typeof error.message === 'string' && error.message
    ? (error as ShownError)
    : null;
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
  | { action: 'svg'; svg: string }
  | { action: 'dismiss' }
  | { action: 'overlay'; metric: string };
