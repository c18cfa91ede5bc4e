// The layer × head NAS heat map of both views: a CSS grid of cells (one per head) coloured on a
// diverging scale centred at 0 (theme blue < 0 < theme red, the page background at 0), symmetric
// around 0 so that equal colours mean equal |NAS|. It is an ARIA grid with one tab stop: arrow keys
// move, Enter/Space toggles the head, as clicking does.

import type { HeadRef } from '../src/protocol.ts';
import { h, fill } from './dom.ts';
import { formatHead, num } from './format.ts';
import type { HeadSelection } from './selection.ts';
import { backgroundRgb, mix, themeVar, toRgb } from './theme.ts';

export interface HeatmapOptions {
  /** Accessible name of the grid. */
  label: string;
  /** Small fixed-size cells (Align panel) instead of cells that fill the width (Dashboard). */
  compact: boolean;
  onToggle: (head: HeadRef) => void;
}

export class Heatmap {
  readonly element: HTMLElement;
  private readonly grid: HTMLElement;
  private readonly legend: HTMLElement;
  private matrix: number[][] = [];
  private cells: HTMLElement[][] = [];
  private active: HeadRef = { layer: 0, head: 0 };

  constructor(private readonly opts: HeatmapOptions) {
    this.grid = h('div', { class: 'hm-grid', role: 'grid', 'aria-label': opts.label, onkeydown: (e: KeyboardEvent) => this.onKey(e) });
    this.legend = h('div', { class: 'hm-legend' });
    this.element = h('div', { class: opts.compact ? 'heatmap compact' : 'heatmap' }, this.grid, this.legend);
  }

  /** Rebuilds the cells for a new matrix (layers × heads), keeping the focused head when it still exists. */
  render(matrix: number[][], selection: HeadSelection): void {
    this.matrix = matrix;
    const heads = matrix[0]?.length ?? 0;
    this.element.hidden = heads === 0;
    this.grid.style.gridTemplateColumns = `auto repeat(${heads}, var(--hm-cell))`;
    this.cells = matrix.map((row, layer) => row.map((v, head) => this.cell(layer, head, v)));
    fill(
      this.grid,
      this.headerRow(heads),
      ...this.cells.map((row, layer) => h('div', { role: 'row', class: 'hm-row' }, rowHeader(layer, matrix.length), ...row)),
    );
    if (this.active.layer >= matrix.length || this.active.head >= heads) this.active = { layer: 0, head: 0 };
    this.cellAt(this.active)?.setAttribute('tabindex', '0');
    this.setSelected(selection);
    this.recolor();
  }

  /** Marks selected cells without rebuilding (keeps keyboard focus). */
  setSelected(selection: HeadSelection): void {
    this.cells.forEach((row, layer) =>
      row.forEach((cell, head) => {
        const on = selection.has({ layer, head });
        cell.classList.toggle('selected', on);
        cell.setAttribute('aria-selected', String(on));
      }),
    );
  }

  /** Recomputes colours from the current theme. */
  recolor(): void {
    const scale = colourScale(this.matrix);
    this.cells.forEach((row, layer) =>
      row.forEach((cell, head) => (cell.style.backgroundColor = scale.colour(this.matrix[layer]![head]!))),
    );
    this.renderLegend(scale);
  }

  private cell(layer: number, head: number, v: number): HTMLElement {
    const name = `${formatHead({ layer, head })} NAS ${num(v, 2)}`;
    return h('div', {
      role: 'gridcell',
      class: 'hm-cell',
      tabindex: '-1',
      title: name,
      'aria-label': name,
      'data-layer': layer,
      'data-head': head,
      onclick: () => this.activate({ layer, head }, true),
    });
  }

  private headerRow(heads: number): HTMLElement {
    const every = heads <= 16 ? 1 : heads <= 32 ? 4 : 8;
    const labels = Array.from({ length: heads }, (_, hd) =>
      h('div', { role: 'columnheader', class: 'hm-col', 'aria-label': `head ${hd}` }, hd % every === 0 ? String(hd) : ''),
    );
    return h('div', { role: 'row', class: 'hm-row' }, h('div', { class: 'hm-corner', 'aria-hidden': 'true' }, 'L\\H'), ...labels);
  }

  private renderLegend(scale: ColourScale): void {
    const bar = h('div', { class: 'hm-legend-bar', 'aria-hidden': 'true' });
    bar.style.backgroundImage = `linear-gradient(to right, ${scale.colour(-scale.max)}, ${scale.colour(0)}, ${scale.colour(scale.max)})`;
    fill(
      this.legend,
      h('span', { class: 'muted' }, `−${num(scale.max, 2)}`),
      bar,
      h('span', { class: 'muted' }, `+${num(scale.max, 2)}`),
      h('span', { class: 'hm-legend-note muted' }, 'red: attends to the negative answer'),
    );
  }

  private cellAt(ref: HeadRef): HTMLElement | undefined {
    return this.cells[ref.layer]?.[ref.head];
  }

  private activate(ref: HeadRef, toggle: boolean): void {
    const cell = this.cellAt(ref);
    if (cell === undefined) return;
    this.cellAt(this.active)?.setAttribute('tabindex', '-1');
    this.active = ref;
    cell.setAttribute('tabindex', '0');
    cell.focus();
    if (toggle) this.opts.onToggle(ref);
  }

  private onKey(e: KeyboardEvent): void {
    const { layer, head } = this.active;
    const heads = this.matrix[0]?.length ?? 0;
    const moves: Record<string, HeadRef> = {
      ArrowUp: { layer: Math.max(0, layer - 1), head },
      ArrowDown: { layer: Math.min(this.matrix.length - 1, layer + 1), head },
      ArrowLeft: { layer, head: Math.max(0, head - 1) },
      ArrowRight: { layer, head: Math.min(heads - 1, head + 1) },
      Home: { layer, head: 0 },
      End: { layer, head: heads - 1 },
    };
    const to = moves[e.key];
    if (to !== undefined) this.activate(to, false);
    else if (e.key === 'Enter' || e.key === ' ') this.activate(this.active, true);
    else return;
    e.preventDefault();
  }
}

interface ColourScale {
  max: number;
  colour: (v: number) => string;
}

function colourScale(matrix: readonly (readonly number[])[]): ColourScale {
  const finite = matrix.flat().filter(Number.isFinite);
  const max = Math.max(1e-9, ...finite.map(Math.abs));
  const centre = backgroundRgb();
  const pos = toRgb(themeVar('--vscode-charts-red', '#f14c4c'));
  const neg = toRgb(themeVar('--vscode-charts-blue', '#3794ff'));
  return {
    max,
    colour: (v) => (Number.isFinite(v) ? mix(centre, v >= 0 ? pos : neg, Math.min(1, Math.abs(v) / max)) : mix(centre, centre, 0)),
  };
}

function rowHeader(layer: number, layers: number): HTMLElement {
  const every = layers <= 32 ? 1 : 4;
  return h('div', { role: 'rowheader', class: 'hm-rowhead', 'aria-label': `layer ${layer}` }, layer % every === 0 ? `L${layer}` : '');
}
