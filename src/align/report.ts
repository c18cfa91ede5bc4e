// The sentences that explain a finished NASA run, shared by the CLI and the Align panel (no engine
// imports: the webview bundles this file): which step the accuracy guard kept, and whether
// accuracy fell beyond the tolerance anyway (a run without validation data is not guarded).

import { DEFAULT_ALIGN } from './defaults.ts';
import type { KeptStep } from './records.ts';

interface Summary {
  metrics: { accuracy: number | null } | null;
}

const points = (x: number) => `${Math.round(x * 1000) / 10}`;

/** What the guard kept, or null for a run without validation data. */
export function keptSentence(kept: KeptStep | undefined): string | null {
  if (!kept) return null;
  const within = `validation accuracy within ${points(kept.tolerance)} points of the unchanged model's`;
  const main =
    kept.step === 0
      ? `No validated step lowered |prg| with ${within}: the adapter is empty (the model is unchanged).`
      : `Kept the deltas of step ${kept.step}: the lowest validation |prg| with ${within}.`;
  const rejected =
    kept.rejected === 0
      ? ''
      : ` ${kept.rejected} validated step${kept.rejected === 1 ? '' : 's'} lost more accuracy and ` +
        `${kept.rejected === 1 ? 'was' : 'were'} not kept.`;
  return main + rejected;
}

/** A warning when accuracy after is more than `tolerance` (default: NASA's) below accuracy before; else null. */
export function accuracyDropWarning(before: Summary, after: Summary, tolerance = DEFAULT_ALIGN.accuracyTolerance): string | null {
  const [b, a] = [before.metrics?.accuracy, after.metrics?.accuracy];
  if (b == null || a == null || b - a <= tolerance + 1e-9) return null;
  return (
    `Accuracy fell ${points(b - a)} points (${b.toFixed(3)} → ${a.toFixed(3)}), more than the ${points(tolerance)} allowed: ` +
    'this adapter makes the model answer worse. Lower the learning rate or raise λ task, and validate on held-out data.'
  );
}
