/**
 * The text-colour rule, the front end's copy of proppo_lab/contracts.py's
 * `luminance` / `text_colour` (tests/test_contracts.py runs both on the same
 * colours): WCAG relative luminance, white text below DARK_FILL_LUMINANCE.
 */
import { DARK_FILL_LUMINANCE } from './contracts';

const HEX_COLOUR = /^#[0-9a-fA-F]{6}$/;

/** Is `fill` a `#rrggbb` colour (the only form the kernel sends)? */
export function isHexColour(fill: string): boolean {
  return HEX_COLOUR.test(fill);
}

/** WCAG relative luminance of `#rrggbb`: 0 (black) .. 1 (white). */
export function luminance(fill: string): number {
  const [r, g, b] = [1, 3, 5]
    .map(i => parseInt(fill.slice(i, i + 2), 16) / 255)
    .map(c => (c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4)));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Black or white text, whichever reads better on `fill` ('inherit' for no `#rrggbb`). */
export function textColour(fill: string): string {
  if (!isHexColour(fill)) {
    return 'inherit';
  }
  return luminance(fill) < DARK_FILL_LUMINANCE ? '#ffffff' : '#000000';
}
