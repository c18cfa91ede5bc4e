// Live line charts (chart.js) for the Align panel, coloured from the theme. Points are appended one
// at a time without animation; the canvas carries data-points (the number of x values plotted) so
// tests and screen readers' fallback text can see what the chart shows.

import { Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip, type ChartDataset } from 'chart.js';
import { chartPalette, type ChartPalette } from './theme.ts';
import { num } from './format.ts';

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);

export type SeriesColour = keyof Omit<ChartPalette, 'foreground' | 'muted' | 'grid' | 'font'>;

export interface SeriesSpec {
  label: string;
  colour: SeriesColour;
}

export interface Point {
  x: number;
  y: number | null;
}

type LineDataset = ChartDataset<'line', Point[]>;

export class LiveChart {
  private readonly chart: Chart<'line', Point[]>;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly series: readonly SeriesSpec[],
    yTitle: string,
  ) {
    const p = chartPalette();
    this.chart = new Chart(canvas, {
      type: 'line',
      data: { datasets: series.map((s) => dataset(s, p)) },
      options: chartOptions(p, yTitle, series.length > 1),
    });
    this.publish();
  }

  /** Replaces every series' points (one array per series, in the order of the specs). */
  set(points: readonly (readonly Point[])[]): void {
    this.chart.data.datasets.forEach((d, i) => (d.data = (points[i] ?? []).map(clean)));
    this.refresh();
  }

  /** Appends one point per series at `x`. */
  push(x: number, ys: readonly (number | null)[]): void {
    this.chart.data.datasets.forEach((d, i) => d.data.push(clean({ x, y: ys[i] ?? null })));
    this.refresh();
  }

  /** Re-reads theme colours. */
  restyle(): void {
    const p = chartPalette();
    this.chart.options = chartOptions(p, String(this.chart.options.scales?.y?.title?.text ?? ''), this.series.length > 1);
    this.chart.data.datasets.forEach((d, i) => Object.assign(d, colours(this.series[i]!.colour, p)));
    this.chart.update('none');
  }

  private refresh(): void {
    const n = this.chart.data.datasets[0]?.data.length ?? 0;
    // Markers help while there are few points and only clutter a long run.
    for (const d of this.chart.data.datasets) d.pointRadius = n > 40 ? 0 : 2.5;
    this.chart.update('none');
    this.publish();
  }

  private publish(): void {
    const data = this.chart.data.datasets;
    this.canvas.dataset.points = String(data[0]?.data.length ?? 0);
    const last = data.map((d) => `${d.label} ${num(d.data.at(-1)?.y ?? null)}`).join(', ');
    this.canvas.textContent = data[0]?.data.length ? `Last step ${data[0].data.at(-1)!.x}: ${last}` : 'No data yet';
  }
}

/** Non-finite losses (a NaN step) become gaps instead of breaking the y scale. */
function clean(p: Point): Point {
  return { x: p.x, y: p.y !== null && Number.isFinite(p.y) ? p.y : null };
}

function colours(colour: SeriesColour, p: ChartPalette): Partial<LineDataset> {
  return { borderColor: p[colour], backgroundColor: p[colour], pointBackgroundColor: p[colour], pointBorderColor: p[colour] };
}

function dataset(s: SeriesSpec, p: ChartPalette): LineDataset {
  return { label: s.label, data: [], borderWidth: 1.5, pointRadius: 2.5, tension: 0, spanGaps: false, ...colours(s.colour, p) };
}

function chartOptions(p: ChartPalette, yTitle: string, legend: boolean): Chart<'line', Point[]>['options'] {
  const ticks = { color: p.muted, font: { family: p.font, size: 11 } };
  const title = (text: string) => ({ display: true, text, color: p.muted, font: { family: p.font, size: 11 } });
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    parsing: false,
    normalized: true,
    interaction: { mode: 'nearest', axis: 'x', intersect: false },
    scales: {
      x: { type: 'linear', title: title('step'), ticks: { ...ticks, precision: 0 }, grid: { color: p.grid }, border: { color: p.grid } },
      y: { type: 'linear', title: title(yTitle), ticks, grid: { color: p.grid }, border: { color: p.grid } },
    },
    plugins: {
      legend: {
        display: legend,
        position: 'top',
        align: 'end',
        labels: { color: p.foreground, boxWidth: 10, boxHeight: 2, font: { family: p.font, size: 11 } },
      },
      tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label ?? ''}: ${num(ctx.parsed.y)}` } },
    },
  };
}
