// The NASA Lens side-bar Dashboard: the layer × head NAS heat map of the workspace's prompts (click
// heads to select them, then align them), the prompt table (click to reveal), and the metrics of the
// last evaluation. It renders the `data` the extension sends and posts user intents back; the last
// data and the selection are saved with setState so a re-shown view paints at once.

import type {
  BinaryMetrics,
  DashboardData,
  EvalReport,
  FromDashboard,
  HeadRef,
  ItemResult,
  PromptRow,
  ToDashboard,
} from '../src/protocol.ts';
import { BOOTSTRAP_MIN_N } from '../src/bias/metrics.ts';
import { fill, h } from './dom.ts';
import { basename, formatHead, num, pct, truncate } from './format.ts';
import { Heatmap } from './heatmap.ts';
import { HeadSelection } from './selection.ts';
import { onThemeChange } from './theme.ts';
import { onHostMessage, vscodeApi } from './vscode-api.ts';

interface DashboardState {
  version: 1;
  data: DashboardData | null;
  selected: HeadRef[];
}

const api = vscodeApi<DashboardState, FromDashboard>();
const saved = api.getState();
let data: DashboardData | null = saved?.version === 1 ? saved.data : null;
const selection = new HeadSelection(saved?.version === 1 ? saved.selected : []);
let heatmapShape = '';

const heatmap = new Heatmap({ label: 'Mean NAS by layer and head; select heads to align', compact: false, onToggle: toggleHead });
const ui = buildPage();

function buildPage() {
  const refs = {
    model: h('div', { class: 'model-block' }),
    heatSection: h('div', {}),
    selectionLine: h('p', { class: 'muted selection-line', 'aria-live': 'polite' }),
    alignButton: h('button', { type: 'button', class: 'primary small', onclick: onAlign }, 'Align selected heads'),
    prompts: h('div', { class: 'prompts' }),
    promptCount: h('span', { class: 'badge' }),
    evaluation: h('div', { class: 'evaluation' }),
    exportButton: h(
      'button',
      { type: 'button', class: 'secondary', hidden: true, onclick: () => post({ type: 'exportEvaluation' }) },
      'Export results…',
    ),
  };
  // The view lives in the side bar: its background, not the editor's (see media/webview.css).
  document.body.classList.add('dashboard');
  fill(
    document.getElementById('root')!,
    h(
      'header',
      { class: 'dash-header' },
      refs.model,
      h(
        'button',
        { type: 'button', class: 'secondary small', title: 'Rescore and reload the dashboard', onclick: () => post({ type: 'refresh' }) },
        'Refresh',
      ),
    ),
    h(
      'section',
      { class: 'dash-section', 'aria-labelledby': 'hm-title' },
      h('h2', { id: 'hm-title' }, 'Negative attention by head'),
      refs.heatSection,
      h('div', { class: 'align-row' }, refs.selectionLine, refs.alignButton),
    ),
    h(
      'section',
      { class: 'dash-section', 'aria-labelledby': 'prompts-title' },
      h('h2', { id: 'prompts-title' }, 'Workspace prompts ', refs.promptCount),
      refs.prompts,
    ),
    h(
      'section',
      { class: 'dash-section', 'aria-labelledby': 'eval-title' },
      h('h2', { id: 'eval-title' }, 'Evaluation'),
      refs.evaluation,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: () => post({ type: 'evaluate' }) }, 'Evaluate dataset…'),
        refs.exportButton,
      ),
    ),
  );
  document.getElementById('root')!.removeAttribute('aria-busy');
  return refs;
}

// ---------------------------------------------------------------------------------------------
// Rendering

function render(): void {
  renderModel();
  renderHeatmap();
  renderSelection();
  renderPrompts();
  renderEvaluation();
}

function renderModel(): void {
  const m = data?.model ?? null;
  if (m === null) {
    fill(ui.model, h('p', { class: 'empty' }, 'No model selected — run NASA Lens: Select Model…'));
    return;
  }
  fill(
    ui.model,
    h('div', { class: 'model-name', title: m.path }, m.name),
    h('div', { class: 'muted' }, `${m.arch} · ${m.layers}×${m.heads} heads · ${m.provider}`),
    h('div', { class: 'muted', title: data?.adapter ?? '' }, data?.adapter ? `adapter: ${basename(data.adapter)}` : 'no adapter'),
  );
}

function renderHeatmap(): void {
  const matrix = data?.heatmap ?? [];
  if (data?.model == null || matrix.length === 0 || (matrix[0]?.length ?? 0) === 0) {
    heatmapShape = '';
    fill(
      ui.heatSection,
      h(
        'p',
        { class: 'empty' },
        data?.model == null ? 'Select a model to see which heads attend to the negative answer.' : 'No prompts scored yet',
      ),
    );
    return;
  }
  fill(
    ui.heatSection,
    h(
      'p',
      { class: 'hint' },
      `Mean NAS over ${data.prompts.length} prompt${data.prompts.length === 1 ? '' : 's'}. Click heads to select them.`,
    ),
    heatmap.element,
  );
  heatmapShape = `${matrix.length}x${matrix[0]!.length}`;
  heatmap.render(matrix, selection);
}

function renderSelection(): void {
  const heads = selection.list();
  ui.selectionLine.textContent = heads.length === 0 ? 'No heads selected.' : `Selected: ${heads.map(formatHead).join(', ')}`;
  ui.alignButton.disabled = heads.length === 0 || data?.model == null;
  const plural = heads.length === 1 ? '' : 's';
  ui.alignButton.textContent = heads.length === 0 ? 'Align selected heads' : `Align ${heads.length} head${plural}…`;
  if (heatmapShape !== '') heatmap.setSelected(selection);
}

function renderPrompts(): void {
  const rows = [...(data?.prompts ?? [])].sort((a, b) => b.nasTotal - a.nasTotal);
  ui.promptCount.textContent = String(rows.length);
  ui.promptCount.hidden = rows.length === 0;
  if (rows.length === 0) {
    fill(ui.prompts, h('p', { class: 'empty' }, 'No prompts scored yet'));
    return;
  }
  const adapter = rows.some((r) => r.adapterOff !== undefined);
  fill(
    ui.prompts,
    h(
      'p',
      { class: 'hint' },
      'NAS > 0: the head looks more at the negative answer than at the positive one. NAS (top head): the largest; ',
      "ΣNAS: the sum over every head. Knockout: P(Yes) without the top heads' attention to the negative answer. ",
      '⚠ marks negative bias (the knockout raises P(Yes)), ℹ a wrong No on a Yes item.',
    ),
    h(
      'table',
      { class: 'prompt-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Prompt'),
          h(
            'th',
            {
              scope: 'col',
              class: 'num',
              title: adapter ? 'P(Yes) with the adapter on (and off)' : 'Probability of the positive answer against the negative one',
            },
            'P(Yes)',
          ),
          h('th', { scope: 'col', title: 'Head with the largest NAS, and its NAS' }, 'NAS (top head)'),
          h('th', { scope: 'col', class: 'num', title: 'NAS summed over every head (sorted by this)', 'aria-sort': 'descending' }, 'ΣNAS'),
          h(
            'th',
            {
              scope: 'col',
              class: 'num',
              title: 'P(Yes) with the top heads (NAS ≥ threshold, ≤ 3) no longer looking at the negative answer',
            },
            'Knockout',
          ),
        ),
      ),
      h('tbody', {}, ...rows.map((r) => promptRow(r, adapter))),
    ),
  );
}

function promptRow(p: PromptRow, adapter: boolean): HTMLTableRowElement {
  const where = `${basename(p.uri)}:${p.range.start.line + 1}`;
  const top = p.topHeads[0];
  const reveal = () => post({ type: 'revealPrompt', uri: p.uri, line: p.range.start.line });
  return h(
    'tr',
    {
      tabindex: '0',
      class: 'prompt-row',
      'aria-label': `Reveal ${where}`,
      onclick: reveal,
      onkeydown: (e: KeyboardEvent) => {
        if (e.key !== 'Enter' && e.key !== ' ') return;
        e.preventDefault();
        reveal();
      },
    },
    h(
      'td',
      { class: 'prompt-cell', title: p.text },
      h('div', { class: 'prompt-text' }, findingMark(p), truncate(p.text, 200)),
      h('div', { class: 'prompt-loc muted' }, where, p.label ? ` · expected ${p.label}` : ''),
      ...(p.template ? [h('div', { class: 'template-tag' }, templateNote(p.template))] : []),
      top ? h('div', { class: 'prompt-actions' }, tokensButton(p, top, where)) : null,
    ),
    h(
      'td',
      { class: p.pNo > p.pYes ? 'num leans-no' : 'num' },
      prob(p.pYes),
      adapter && p.adapterOff ? h('div', { class: 'muted', title: 'P(Yes) with the adapter off' }, `off ${prob(p.adapterOff.pYes)}`) : null,
    ),
    h(
      'td',
      { title: top ? `${formatHead(top)} NAS ${num(top.nas, 2)}` : '' },
      top ? formatHead(top) : '—',
      top ? h('div', {}, num(top.nas, 2)) : null,
    ),
    h('td', { class: 'num' }, num(p.nasTotal, 2)),
    h('td', { class: 'num', title: knockoutTitle(p) }, p.knockout && p.knockout.heads.length > 0 ? `→ ${prob(p.knockout.pYes)}` : '—'),
  );
}

/** A probability with two decimals (never in exponent form). */
function prob(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : '—';
}

function tokensButton(p: PromptRow, top: HeadRef, where: string): HTMLElement {
  return h(
    'button',
    {
      type: 'button',
      class: 'link-button',
      title: `Tokens ${formatHead(top)} looks at`,
      'aria-label': `Tokens ${formatHead(top)} looks at in ${where}`,
      onclick: (e: MouseEvent) => {
        e.stopPropagation();
        post({
          type: 'showTokens',
          uri: p.uri,
          line: p.range.start.line,
          character: p.range.start.character,
          head: { layer: top.layer, head: top.head },
        });
      },
      onkeydown: (e: KeyboardEvent) => e.stopPropagation(),
    },
    'Tokens',
  );
}

function findingMark(p: PromptRow): HTMLElement | null {
  if (p.finding === 'bias')
    return h('span', { class: 'finding bias', title: 'Negative bias: the knockout raises P(Yes)', 'aria-label': 'negative bias' }, '⚠ ');
  if (p.finding === 'wrong-no') return h('span', { class: 'finding', title: 'Wrong No on a Yes item', 'aria-label': 'wrong No' }, 'ℹ ');
  return null;
}

function knockoutTitle(p: PromptRow): string {
  const ko = p.knockout;
  if (!ko || ko.heads.length === 0) return 'No head reaches the threshold: nothing knocked out';
  return `Without ${ko.heads.map(formatHead).join(', ')} looking at the negative answer: P(Yes) ${num(p.pYes, 2)} → ${num(ko.pYes, 2)}`;
}

/** "template: 2 placeholders · mean over 3 fills · prg 0.31 (2 labelled)" */
function templateNote(t: NonNullable<PromptRow['template']>): string {
  const n = t.placeholders.length;
  const prg = t.prg === null ? '' : ` · prg ${num(t.prg, 2)} (${t.labelled} labelled)`;
  return (
    `template: ${n} placeholder${n === 1 ? '' : 's'} · mean over ${t.scored} ` +
    `fill${t.scored === 1 ? '' : 's'}${t.fillSource ? ` of ${t.fillSource}` : ''}${prg}`
  );
}

function renderEvaluation(): void {
  const ev = data?.evaluation ?? null;
  if (ev === null) {
    fill(ui.evaluation, h('p', { class: 'empty' }, 'No evaluation yet: evaluate a labelled JSONL file to measure the negative bias.'));
    return;
  }
  ui.exportButton.hidden = false;
  const noIntervals =
    ev.metrics.ci === null
      ? [
          h(
            'p',
            { class: 'hint ci-note' },
            `No 95% intervals: ${ev.metrics.n} items are fewer than the ${BOOTSTRAP_MIN_N} a bootstrap interval needs to be worth reading.`,
          ),
        ]
      : [];
  fill(
    ui.evaluation,
    h('p', { class: 'muted', title: ev.file }, `${basename(ev.file)} · ${ev.metrics.n} items`),
    h('dl', { class: 'metric-grid' }, ...metricItems(ev)),
    h('p', { class: 'hint' }, 'prg = precision − recall of the Yes answers; > 0: the model says No too often, 0: balanced.'),
    ...noIntervals,
    confusionMatrix(ev.metrics),
    itemTable(ev.items ?? []),
  );
}

/** Labelled Yes/No against predicted Yes/No (P(Yes) ≥ 0.5). */
function confusionMatrix(m: BinaryMetrics): HTMLElement {
  const cell = (n: number, title: string, ok: boolean) => h('td', { class: ok ? 'num cm-ok' : 'num cm-miss', title }, String(n));
  return h(
    'table',
    { class: 'metrics-table confusion', 'aria-label': 'Confusion matrix' },
    h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col' }, 'labelled \\ predicted'), h('th', { scope: 'col' }, 'Yes'), h('th', { scope: 'col' }, 'No')),
    ),
    h(
      'tbody',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, 'Yes'),
        cell(m.tp, 'labelled Yes, predicted Yes', true),
        cell(m.fn, 'labelled Yes, predicted No: the misses negative bias makes', false),
      ),
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, 'No'),
        cell(m.fp, 'labelled No, predicted Yes', false),
        cell(m.tn, 'labelled No, predicted No', true),
      ),
    ),
  );
}

/** Items the dashboard lists (the export has them all). */
const MAX_LISTED_ITEMS = 200;

/** The evaluation's items, wrong ones first, then by P(Yes). */
function itemTable(items: ItemResult[]): HTMLElement {
  if (items.length === 0) return h('p', { class: 'empty' }, 'No per-item results.');
  const wrong = (it: ItemResult) => (it.label !== null && (it.pYes >= 0.5 ? 'yes' : 'no') !== it.label ? 0 : 1);
  const sorted = [...items].sort((a, b) => wrong(a) - wrong(b) || a.pYes - b.pYes).slice(0, MAX_LISTED_ITEMS);
  const more =
    items.length > MAX_LISTED_ITEMS
      ? [h('p', { class: 'hint' }, `${MAX_LISTED_ITEMS} of ${items.length} items shown; Export results… writes them all.`)]
      : [];
  return h(
    'div',
    { class: 'item-results' },
    h(
      'table',
      { class: 'item-table', 'aria-label': 'Per-item results' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Item'),
          h('th', { scope: 'col' }, 'Label'),
          h('th', { scope: 'col', class: 'num' }, 'P(Yes)'),
          h('th', { scope: 'col', title: "The item's most negative head and its NAS" }, 'Top head'),
        ),
      ),
      h(
        'tbody',
        {},
        ...sorted.map((it) =>
          h(
            'tr',
            { class: wrong(it) === 0 ? 'wrong' : '' },
            h('td', { class: 'prompt-cell', title: it.prompt }, truncate(it.prompt, 120)),
            h('td', {}, it.label ?? '—'),
            h('td', { class: it.pYes < 0.5 ? 'num leans-no' : 'num' }, num(it.pYes, 2)),
            h('td', {}, it.topHead ? `${it.topHead} ${num(it.topHeadNas, 2)}` : '—'),
          ),
        ),
      ),
    ),
    ...more,
  );
}

function metricItems(ev: EvalReport): HTMLElement[] {
  const m = ev.metrics;
  const ci = (k: keyof NonNullable<BinaryMetrics['ci']>) => {
    const c = m.ci?.[k];
    return c ? h('span', { class: 'ci muted' }, ` [${num(c[0], 2)}, ${num(c[1], 2)}]`) : null;
  };
  const item = (label: string, value: string, title: string, extra: HTMLElement | null = null) =>
    h('div', { class: 'metric', title }, h('dt', {}, label), h('dd', {}, value, extra));
  return [
    item('Precision', num(m.precision), 'Share of predicted Yes that are labelled Yes', ci('precision')),
    item('Recall', num(m.recall), 'Share of labelled Yes predicted Yes', ci('recall')),
    item('Accuracy', num(m.accuracy), 'Share predicted correctly', ci('accuracy')),
    item(
      'prg (precision − recall)',
      num(m.prg),
      'Precision − recall of the Yes answers: above 0, the model says No too often (negative bias)',
      ci('prg'),
    ),
    item(
      'Yes rate',
      pct(m.yesRate),
      `Predicted Yes; labelled Yes: ${pct(m.labelYesRate)}`,
      h('span', { class: 'ci muted' }, ` vs ${pct(m.labelYesRate)} labelled`),
    ),
    item('Mean NAS (top heads)', num(ev.meanNasTopHeads), `Mean NAS of the top heads: ${ev.topHeads.map(formatHead).join(', ')}`),
    ...(ev.knockout
      ? [
          item(
            'Knockout: No → Yes',
            `${ev.knockout.noFlippedToYes} of ${ev.knockout.answeredNo}`,
            "No answers that turn to Yes when each prompt's top heads stop looking at the negative answer",
          ),
          item(
            'Wrong No → Yes',
            `${ev.knockout.wrongNoFlippedToYes} of ${ev.knockout.wrongNo}`,
            'Yes items answered No that the knockout turns to Yes',
          ),
        ]
      : []),
  ];
}

// ---------------------------------------------------------------------------------------------
// Actions and messages

function post(message: FromDashboard): void {
  api.postMessage(message);
}

function persist(): void {
  api.setState({ version: 1, data, selected: selection.list() });
}

function toggleHead(head: HeadRef): void {
  selection.toggle(head);
  renderSelection();
  persist();
  post({ type: 'selectHead', head });
}

function onAlign(): void {
  if (selection.size > 0) post({ type: 'alignHeads', heads: selection.list() });
}

function onMessage(msg: ToDashboard): void {
  if (msg.type === 'data') {
    data = msg.data;
    dropMissingHeads();
    render();
  } else {
    selection.replace(msg.heads);
    renderSelection();
  }
  persist();
}

/** A new model can have fewer layers or heads: a selection it lacks would align nothing. */
function dropMissingHeads(): void {
  const m = data?.model;
  if (m == null) return;
  selection.replace(selection.list().filter((r) => r.layer < m.layers && r.head < m.heads));
}

render();
onHostMessage<ToDashboard>(onMessage);
onThemeChange(() => {
  if (heatmapShape !== '') heatmap.recolor();
});
post({ type: 'ready' });
