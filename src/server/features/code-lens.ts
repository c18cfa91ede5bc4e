// CodeLenses above each prompt: "P(Yes) 0.26 · NAS (top head) L14H3 9.20 · ΣNAS 1.8 · knockout → 0.64"
// (opens the dashboard) and "Align" (opens the align panel on the top heads); while there are no
// numbers, why not.

import type { CodeLens } from 'vscode-languageserver/node';
import { formatHead } from '../../bias/nas.ts';
import type { IndexedPrompt } from '../prompt-index.ts';
import type { LensScore, ScoreEntry } from '../scorer.ts';
import { COMMAND } from '../../command-ids.ts';
import { alignArgs, fixed, knockoutImplicates, nas1, NAS_SUM, NAS_TOP, prob2 } from './format.ts';

export function scoredLenses(prompt: IndexedPrompt, score: LensScore, minShift: number): CodeLens[] {
  const top = score.topHeads[0];
  const ko = score.knockout;
  const knockout =
    ko && ko.heads.length > 0
      ? ` · knockout → ${prob2(ko.pYes)}${knockoutImplicates(score, minShift) ? ' (No from these heads)' : ''}`
      : '';
  const head = top ? ` · ${NAS_TOP} ${formatHead(top)} ${fixed(top.nas, 2)}` : '';
  const title = `P(Yes) ${prob2(score.pYes)}${head} · ${NAS_SUM} ${nas1(score.nasTotal)}${knockout}`;
  return [
    { range: prompt.range, command: { title, command: COMMAND.showDashboard } },
    { range: prompt.range, command: { title: 'Align', command: COMMAND.alignHeads, arguments: [alignArgs(score)] } },
  ];
}

/**
 * One lens saying why there are no numbers. An empty command id makes it plain text; without a
 * model it opens the model picker.
 */
export function unscoredLens(prompt: IndexedPrompt, reason: string, entry: ScoreEntry | undefined, noModel: boolean): CodeLens {
  const title = `NASA Lens: ${truncate(reason, 80)}`;
  const command = noModel && entry === undefined ? COMMAND.selectModel : '';
  return { range: prompt.range, command: { title, command } };
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}
