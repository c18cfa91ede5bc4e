// The Align panel host's job (src/client/align-panel.ts), apart from VS Code: what the job has
// reported, what the panel's current webview has received of it, and the texts of the notifications
// about it. The webview is not retained (hidden, it loses the messages posted meanwhile; closed, it
// starts empty), so the host replays what the webview has not received when it says `ready` again.
// No vscode import: this is tested in plain Node (test/unit/align-job.test.ts).

import { accuracyDropWarning } from '../align/report.ts';
import { formatHead } from '../bias/nas.ts';
import type { AlignDoneParams, AlignEvent, AlignOutcome, AlignStartParams, HeadRef, ToAlignPanel } from '../protocol.ts';

/** The notification-area progress of a job, once VS Code shows it. */
export interface JobProgress {
  report(e: AlignEvent): void;
  finish(): void;
}

export class AlignJob {
  readonly events: AlignEvent[] = [];
  done: AlignDoneParams | undefined;
  stopRequested = false;
  /** Where the adapter was saved, once it was. */
  saved: string | undefined;
  progress: JobProgress = { report: () => {}, finish: () => {} };
  /** How many of `events` (and whether `done`) the current webview has received. */
  private delivered = 0;
  private doneDelivered = false;

  constructor(
    readonly id: string,
    readonly params: AlignStartParams,
  ) {}

  get running(): boolean {
    return this.done === undefined;
  }

  /** An event of the server's: kept for webviews to come, and shown in the notification. */
  record(event: AlignEvent): void {
    this.events.push(event);
    this.progress.report(event);
  }

  end(done: AlignDoneParams): void {
    this.done = done;
    this.progress.finish();
  }

  /** A new webview starts empty: it has seen nothing of the job. */
  redeliver(): void {
    this.delivered = 0;
    this.doneDelivered = false;
  }

  /** The events and the end the webview has not received, as messages; they count as received from here on. */
  undelivered(): ToAlignPanel[] {
    const messages: ToAlignPanel[] = this.events.slice(this.delivered).map((event) => ({ type: 'progress', event }));
    this.delivered = this.events.length;
    if (this.done && !this.doneDelivered) {
      messages.push({ type: 'done', result: this.done.result, error: this.done.error });
      this.doneDelivered = true;
    }
    return messages;
  }
}

/** The same heads in any order give the same key. */
export function headsKey(heads: readonly HeadRef[]): string {
  return heads.map(formatHead).sort().join(',');
}

/** The heads for a file name: `adapter-L3H1-L14H3.safetensors`. */
export function headsInFileName(heads: readonly HeadRef[]): string {
  return heads.map(formatHead).join('-');
}

/** The notification's progress for a step event (other events leave it as it is). */
export function stepProgress(e: AlignEvent, steps: number): { increment: number; message: string } | null {
  if (e.type !== 'step') return null;
  return { increment: 100 / Math.max(1, steps), message: `step ${e.step} of ${steps}, loss ${e.loss.toFixed(4)}` };
}

/**
 * "Alignment finished": the numbers, how it stopped, an empty adapter, and a warning (the notice is
 * then a warning too) when accuracy fell beyond the run's tolerance.
 */
export function finishedNotice(result: AlignOutcome, params: AlignStartParams): { text: string; warning: boolean } {
  const nas = `mean NAS of the heads ${result.before.meanNas.toFixed(3)} → ${result.after.meanNas.toFixed(3)}`;
  const [b, a] = [result.before.metrics?.prg, result.after.metrics?.prg];
  const prg = typeof b === 'number' && typeof a === 'number' ? `, precision − recall ${b.toFixed(2)} → ${a.toFixed(2)}` : '';
  const [ab, aa] = [result.before.metrics?.accuracy, result.after.metrics?.accuracy];
  const acc = typeof ab === 'number' && typeof aa === 'number' ? `, accuracy ${ab.toFixed(3)} → ${aa.toFixed(3)}` : '';
  const how = result.stopped === 'nan' ? ` (stopped at a NaN: ${result.nanReport ?? 'see the log'})` : '';
  const kept = result.kept?.step === 0 ? ' No step kept accuracy and lowered |prg|: the adapter is empty.' : '';
  const drop = accuracyDropWarning(result.before, result.after, params.accuracyTolerance);
  return { text: `NASA Lens: alignment finished: ${nas}${prg}${acc}${how}.${kept}${drop ? ` ${drop}` : ''}`, warning: drop !== null };
}
