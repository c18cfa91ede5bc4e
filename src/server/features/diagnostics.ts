// A warning on every prompt whose answer leans No because of a negative head: the top head's NAS
// reaches nasaLens.diagnosticThreshold and P(No) > P(Yes).

import { DiagnosticSeverity, type Diagnostic } from 'vscode-languageserver/node';
import { formatHead } from '../../bias/nas.ts';
import type { IndexedFile, IndexedPrompt } from '../prompt-index.ts';
import type { LensScore, ScoreEntry } from '../scorer.ts';
import { alignArgs, fixed, headList, leansNo, prob2 } from './format.ts';

export const DIAGNOSTIC_SOURCE = 'NASA Lens';
export const DIAGNOSTIC_CODE = 'negative-bias';

export function diagnosticsFor(file: IndexedFile, entryOf: (p: IndexedPrompt) => ScoreEntry | undefined, threshold: number): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const prompt of file.prompts) {
    const entry = entryOf(prompt);
    if (entry?.ok && leansNo(entry.score, threshold)) out.push(diagnostic(prompt, entry.score, threshold));
  }
  return out;
}

function diagnostic(prompt: IndexedPrompt, score: LensScore, threshold: number): Diagnostic {
  const top = score.topHeads[0]!;
  const share = Math.round(100 * score.negShare[top.layer]![top.head]!);
  const others = score.topHeads.slice(1, 3);
  const message =
    `Leans No: P(No) ${prob2(score.pNo)} > P(Yes) ${prob2(score.pYes)}; head ${formatHead(top)} has NAS ${fixed(top.nas, 2)} ` +
    `(threshold ${threshold}) and spends ${share}% of its attention on "${score.negative.word}"` +
    (others.length > 0 ? `; next: ${headList(others)}` : '');
  return {
    range: prompt.range,
    severity: DiagnosticSeverity.Warning,
    source: DIAGNOSTIC_SOURCE,
    code: DIAGNOSTIC_CODE,
    message,
    data: alignArgs(score),
  };
}
