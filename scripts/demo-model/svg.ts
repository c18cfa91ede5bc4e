// A horizontal bar chart as a standalone SVG (no dependencies): one bar per labelled value, zero
// line marked, colours by group. Used for the per-format prg plot of docs/results.md.

export interface Bar {
  label: string;
  value: number;
  group?: string;
}

const COLOURS: Record<string, string> = { before: '#7f7f7f', nasa: '#1f77b4', threshold: '#ff7f0e', perFormat: '#2ca02c' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function barChartSvg(title: string, bars: Bar[]): string {
  const rowH = 24;
  const labelW = 260;
  const plotW = 380;
  const top = 40;
  const height = top + bars.length * rowH + 40;
  const width = labelW + plotW + 70;
  const lo = Math.min(0, ...bars.map((b) => b.value));
  const hi = Math.max(0.05, ...bars.map((b) => b.value));
  const x = (v: number) => labelW + ((v - lo) / (hi - lo)) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ` +
      `${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const x0 = x(Math.min(0, b.value));
    const w = Math.abs(x(b.value) - x(0));
    out.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>`);
    out.push(
      `<rect x="${x0.toFixed(1)}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" ` +
        `fill="${COLOURS[b.group ?? ''] ?? '#2ca02c'}"/>`,
    );
    out.push(`<text x="${(Math.max(x(b.value), x(0)) + 4).toFixed(1)}" y="${y + 15}">${b.value.toFixed(3)}</text>`);
  });
  const zero = x(0).toFixed(1);
  out.push(`<line x1="${zero}" y1="${top}" x2="${zero}" y2="${top + bars.length * rowH}" stroke="black"/>`);
  out.push(`<text x="${zero}" y="${height - 14}" text-anchor="middle">prg = precision − recall (0 = no bias)</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
