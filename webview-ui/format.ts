// How numbers, heads and paths are written in the webviews: one place, so the two views agree.

export { formatHead } from '../src/bias/nas.ts';

/** A number for a table cell: '—' when missing or not finite; exponent form only for tiny values. */
export function num(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (x !== 0 && Math.abs(x) < 10 ** -digits) return x.toExponential(1);
  if (Math.abs(x) >= 1000) return x.toFixed(0);
  return x.toFixed(digits);
}

/** Like num, with an explicit sign (for deltas). */
export function signed(x: number | null | undefined, digits = 3): string {
  const s = num(x, digits);
  return x !== null && x !== undefined && Number.isFinite(x) && x > 0 ? `+${s}` : s.replace(/^-/, '−');
}

/** 0.823 → "82.3%". */
export function pct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(1)}%`;
}

/** Collapses whitespace and cuts to `max` characters with an ellipsis. */
export function truncate(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** Last path segment of a file path or URI. */
export function basename(path: string): string {
  const clean = path.replace(/[?#].*$/, '').replace(/[/\\]+$/, '');
  return decodeURIComponent(clean.slice(Math.max(clean.lastIndexOf('/'), clean.lastIndexOf('\\')) + 1));
}
