// The token view: the prompt's tokens, each shaded by the attention one head pays it from the last
// position (where the answer is decided), the two candidates boxed; one row per model state (the
// model, or adapter off and adapter on). The head is picked with a <select> (keyboard: arrows), and
// the most-attended tokens are listed in a table that screen readers read in order.

import type { FromTokenView, HeadRef, TokenAttention, ToTokenView } from '../src/protocol.ts';
import { fill, h } from './dom.ts';
import { formatHead, num, pct, truncate } from './format.ts';
import { onThemeChange, themeVar, toRgb, withAlpha } from './theme.ts';
import { onHostMessage, vscodeApi } from './vscode-api.ts';

interface TokenViewState {
  version: 1;
  data: TokenAttention | null;
  head: HeadRef | null;
  error?: string;
}

/** Tokens listed in each state's table. */
const TOP_TOKENS = 5;

const api = vscodeApi<TokenViewState, FromTokenView>();
let state: TokenViewState = api.getState()?.version === 1 ? api.getState()! : { version: 1, data: null, head: null };
const root = document.getElementById('root')!;

function render(): void {
  root.removeAttribute('aria-busy');
  if (state.error) return fill(root, h('div', { class: 'status error', role: 'alert' }, state.error));
  const data = state.data;
  const head = state.head;
  if (!data || !head) return fill(root, h('p', { class: 'empty' }, "Open this view from a prompt's hover or from the dashboard."));
  fill(
    root,
    h('header', { class: 'page-header' }, h('h1', {}, `Tokens ${formatHead(head)} looks at`), headPicker(data, head)),
    h(
      'p',
      { class: 'hint' },
      `Shade: the attention ${formatHead(head)} pays each token from the last position, where the answer is decided. `,
      `Boxed: the candidates "${data.positive.word}" (positive) and "${data.negative.word}" (negative). `,
      'NAS > 0: the head looks more at the negative answer than at the positive one.',
    ),
    ...data.states.map((s) => stateBlock(data, head, s)),
  );
}

function headPicker(data: TokenAttention, head: HeadRef): HTMLElement {
  const select = h(
    'select',
    { id: 'head', 'aria-label': 'Head' },
    ...Array.from({ length: data.layers }, (_, layer) =>
      Array.from({ length: data.heads }, (_, hd) => {
        const opt = h('option', { value: `${layer}:${hd}` }, formatHead({ layer, head: hd }));
        opt.selected = layer === head.layer && hd === head.head;
        return opt;
      }),
    ).flat(),
  );
  select.addEventListener('change', () => {
    const [layer, hd] = select.value.split(':').map(Number);
    update({ head: { layer: layer!, head: hd! } });
    document.getElementById('head')?.focus();
  });
  return h('label', { class: 'field inline' }, 'Head ', select);
}

function stateBlock(data: TokenAttention, head: HeadRef, s: TokenAttention['states'][number]): HTMLElement {
  const row = s.attention[head.layer]?.[head.head] ?? [];
  // One scale for every state, so that adapter off and on compare at a glance.
  const max = Math.max(...data.states.flatMap((x) => x.attention[head.layer]?.[head.head] ?? []), 1e-9);
  const accent = toRgb(themeVar('--vscode-charts-orange', '#d18616'));
  const tokens = data.tokens.map((t, i) => {
    const a = row[i] ?? 0;
    const role = i === data.negative.index ? 'negative' : i === data.positive.index ? 'positive' : null;
    const span = h(
      'span',
      {
        class: `tok${role ? ` cand ${role}` : ''}${a / max > 0.6 ? ' strong' : ''}`,
        role: 'listitem',
        title: `${JSON.stringify(t)} · ${pct(a)}${role ? ` · ${role} candidate` : ''}`,
        'aria-label': `${t.trim() || 'space'}: ${pct(a)}${role ? `, ${role} candidate` : ''}`,
      },
      t,
    );
    span.style.backgroundColor = withAlpha(accent, Math.min(1, a / max));
    return span;
  });
  const top = row
    .map((a, i) => ({ a, i }))
    .sort((x, y) => y.a - x.a)
    .slice(0, TOP_TOKENS);
  const label =
    `${s.label} · P(Yes) ${num(s.pYes, 2)} · on "${data.negative.word}" ` +
    `${pct(row[data.negative.index])}, on "${data.positive.word}" ${pct(row[data.positive.index])}`;
  return h(
    'section',
    { class: 'card token-state', 'aria-label': label },
    h('h2', {}, label),
    h('div', { class: 'tokens', role: 'list', 'aria-label': `Tokens of the prompt, ${s.label}` }, ...tokens),
    h(
      'table',
      { class: 'top-tokens' },
      h('caption', { class: 'muted' }, `The ${TOP_TOKENS} tokens ${formatHead(head)} looks at most`),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col' }, 'token'), h('th', { scope: 'col' }, 'position'), h('th', { scope: 'col' }, 'attention')),
      ),
      h(
        'tbody',
        {},
        ...top.map(({ a, i }) =>
          h('tr', {}, h('td', {}, truncate(JSON.stringify(data.tokens[i] ?? ''), 24)), h('td', {}, i), h('td', {}, pct(a))),
        ),
      ),
    ),
  );
}

function update(next: Partial<TokenViewState>): void {
  state = { ...state, ...next };
  api.setState(state);
  render();
}

onHostMessage<ToTokenView>((m) => {
  if (m.type === 'data') update({ data: m.data, head: m.head, error: undefined });
  else if (m.type === 'error') update({ error: m.message });
});
onThemeChange(render);
render();
api.postMessage({ type: 'ready' });
