// Colours come from the VS Code theme (its --vscode-* CSS variables) and are read at run time, so
// the canvas charts and the heat map follow theme switches like the rest of the page. The fallbacks
// apply only outside VS Code or on themes that leave a chart colour undefined.

export type Rgb = readonly [number, number, number];

/** A theme variable's value, or `fallback` when the theme does not define it. */
export function themeVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v === '' ? fallback : v;
}

let probe: HTMLElement | undefined;

/** Any CSS colour as sRGB bytes, resolved by the browser itself (hex, rgb(), named, …). */
export function toRgb(css: string): Rgb {
  if (probe === undefined) {
    probe = document.createElement('span');
    probe.hidden = true;
    document.body.append(probe);
  }
  probe.style.color = '';
  probe.style.color = css;
  return parseComputed(getComputedStyle(probe).color);
}

function parseComputed(c: string): Rgb {
  const nums = (c.match(/-?[\d.]+/g) ?? []).map(Number);
  // Chromium reports colours outside rgb() as `color(srgb r g b)` with 0..1 channels.
  const scale = c.startsWith('color(') ? 255 : 1;
  return [(nums[0] ?? 0) * scale, (nums[1] ?? 0) * scale, (nums[2] ?? 0) * scale];
}

/** The colour `t` of the way from a to b (t in 0..1), as a CSS colour. */
export function mix(a: Rgb, b: Rgb, t: number): string {
  const c = (i: 0 | 1 | 2): number => Math.round(a[i] + (b[i] - a[i]) * t);
  return `rgb(${c(0)}, ${c(1)}, ${c(2)})`;
}

export function withAlpha(rgb: Rgb, alpha: number): string {
  return `rgba(${Math.round(rgb[0])}, ${Math.round(rgb[1])}, ${Math.round(rgb[2])}, ${alpha})`;
}

/** The page background: the body's own (editor or side bar), else the editor's. */
export function backgroundRgb(): Rgb {
  const bg = getComputedStyle(document.body).backgroundColor;
  const transparent = bg === 'transparent' || /rgba\(.*,\s*0\)$/.test(bg);
  return transparent ? toRgb(themeVar('--vscode-editor-background', '#1e1e1e')) : parseComputed(bg);
}

export interface ChartPalette {
  foreground: string;
  muted: string;
  grid: string;
  font: string;
  red: string;
  blue: string;
  green: string;
  yellow: string;
  orange: string;
  purple: string;
}

export function chartPalette(): ChartPalette {
  return {
    foreground: themeVar('--vscode-charts-foreground', themeVar('--vscode-foreground', '#cccccc')),
    muted: themeVar('--vscode-descriptionForeground', '#9d9d9d'),
    grid: themeVar('--vscode-charts-lines', 'rgba(128, 128, 128, 0.35)'),
    font: themeVar('--vscode-font-family', 'system-ui, sans-serif'),
    red: themeVar('--vscode-charts-red', '#f14c4c'),
    blue: themeVar('--vscode-charts-blue', '#3794ff'),
    green: themeVar('--vscode-charts-green', '#89d185'),
    yellow: themeVar('--vscode-charts-yellow', '#cca700'),
    orange: themeVar('--vscode-charts-orange', '#d18616'),
    purple: themeVar('--vscode-charts-purple', '#b180d7'),
  };
}

/**
 * Calls `cb` when the theme changes: VS Code rewrites the variables on <html>'s style attribute and
 * the theme kind class on <body>. Coalesced to one call per frame.
 */
export function onThemeChange(cb: () => void): void {
  let pending = false;
  const observer = new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      cb();
    });
  });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
