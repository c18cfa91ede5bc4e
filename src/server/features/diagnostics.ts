// Diagnostics that mean something. A prompt is flagged only on evidence of negative bias: it is
// answered No and knocking out its heads at the threshold (their attention to the negative answer
// removed) raises P(Yes) by at least nasaLens.knockoutMinShift or turns the answer to Yes. A
// prompt with an expected answer (JSONL label, `expect:` annotation) is never flagged when answered
// right, and a Yes item answered No is always flagged (as information when the knockout does not
// implicate the heads).

import { DiagnosticSeverity, type Diagnostic } from 'vscode-languageserver/node';
import type { IndexedFile, IndexedPrompt } from '../prompt-index.ts';
import type { LensScore, ScoreEntry } from '../scorer.ts';
import { alignArgs, findingOf, fixed, knockoutSentence, NAS_TOP, prob2, topHeadShare } from './format.ts';
import { formatHead } from '../../bias/nas.ts';

export const DIAGNOSTIC_SOURCE = 'NASA Lens';
export const DIAGNOSTIC_CODE = 'negative-bias';
/** A Yes item answered No that the knockout does not explain. */
export const WRONG_NO_CODE = 'wrong-no';

export interface DiagnosticSettings {
  diagnosticThreshold: number;
  knockoutMinShift: number;
}

export function diagnosticsFor(
  file: IndexedFile,
  entryOf: (p: IndexedPrompt) => ScoreEntry | undefined,
  settings: DiagnosticSettings,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const prompt of file.prompts) {
    const entry = entryOf(prompt);
    if (!entry?.ok) continue;
    const finding = findingOf(entry.score, prompt.label, settings.knockoutMinShift);
    if (finding !== 'none') out.push(diagnostic(prompt, entry.score, finding, settings));
  }
  return out;
}

function diagnostic(prompt: IndexedPrompt, score: LensScore, finding: 'bias' | 'wrong-no', settings: DiagnosticSettings): Diagnostic {
  const knockout = knockoutSentence(score, settings.knockoutMinShift);
  const expected = prompt.label === 'yes' ? 'expected yes, ' : '';
  const top = score.topHeads[0];
  const head = top
    ? `${NAS_TOP} ${formatHead(top)} ${fixed(top.nas, 2)}, ${topHeadShare(score)} of its attention on "${score.negative.word}"`
    : '';
  const message =
    finding === 'bias'
      ? `Negative bias: ${expected}answers No (P(Yes) ${prob2(score.pYes)}). ${knockout}. ${head}`
      : `Wrong No: expected yes, answers No (P(Yes) ${prob2(score.pYes)}). ` +
        (knockout ? `${knockout}.` : `No head's NAS reaches ${settings.diagnosticThreshold}: no head to knock out.`);
  return {
    range: prompt.range,
    severity: finding === 'bias' ? DiagnosticSeverity.Warning : DiagnosticSeverity.Information,
    source: DIAGNOSTIC_SOURCE,
    code: finding === 'bias' ? DIAGNOSTIC_CODE : WRONG_NO_CODE,
    message: message.trim(),
    data: alignArgs(score),
  };
}
