// CodeLenses above each prompt: "NAS 1.8 · P(No) 0.74 · top L14H3" (opens the dashboard) and
// "Align" (opens the align panel on the top heads); while there are no numbers, why not.

import type { CodeLens } from 'vscode-languageserver/node';
import { formatHead } from '../../bias/nas.ts';
import type { IndexedPrompt } from '../prompt-index.ts';
import type { LensScore, ScoreEntry } from '../scorer.ts';
import { alignArgs, COMMANDS, nas1, prob2 } from './format.ts';

export function scoredLenses(prompt: IndexedPrompt, score: LensScore): CodeLens[] {
  const top = score.topHeads[0];
  const title = `NAS ${nas1(score.nasTotal)} · P(No) ${prob2(score.pNo)}${top ? ` · top ${formatHead(top)}` : ''}`;
  return [
    { range: prompt.range, command: { title, command: COMMANDS.showDashboard } },
    { range: prompt.range, command: { title: 'Align', command: COMMANDS.alignHeads, arguments: [alignArgs(score)] } },
  ];
}

/**
 * One lens saying why there are no numbers. An empty command id makes it plain text; without a
 * model it opens the model picker.
 */
export function unscoredLens(prompt: IndexedPrompt, reason: string, entry: ScoreEntry | undefined, noModel: boolean): CodeLens {
  const title = `NASA Lens: ${truncate(reason, 80)}`;
  const command = noModel && entry === undefined ? COMMANDS.selectModel : '';
  return { range: prompt.range, command: { title, command } };
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}
