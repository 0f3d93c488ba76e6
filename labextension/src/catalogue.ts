/**
 * Reading the kernel's propagator catalogue (GraphWidget.catalogue, built from
 * the registry). Which node kinds a propagator serves is the registry's rule;
 * the catalogue lists them per entry, so the front end only looks them up.
 */
import { CatalogueEntry } from './types';

/** Can `entry` serve a node of `kind`? (loss and param nodes take none.) */
export function serves(entry: CatalogueEntry, kind: string): boolean {
  return entry.kinds.indexOf(kind) >= 0;
}

/** The catalogue entry named `name`, or null. */
export function entryNamed(
  catalogue: CatalogueEntry[],
  name: string | null
): CatalogueEntry | null {
  return (name !== null && catalogue.find(c => c.name === name)) || null;
}
