// ScanWorkspaceRequest: read the workspace files matching nasaLens.fileGlobs from disk, index
// their prompts, score them (in jobs that leave room for edits), and report work-done progress.
// Files of an earlier scan that no longer match leave the index, with their diagnostics.

import { READ_LIMITS, readBoundedText } from '../fs/bounded-read.ts';
import type { WorkDoneProgressReporter } from 'vscode-languageserver/node';
import type { LensSettings, ScanWorkspaceResult } from '../protocol.ts';
import { canonicalUri, type PromptIndex } from './prompt-index.ts';
import type { ScoringQueue } from './scoring-queue.ts';
import { findWorkspaceFiles } from './workspace-files.ts';

/** setTimeout's largest delay: "wait until done" (a larger one would fire at once). */
export const NO_TIMEOUT = 2 ** 31 - 1;

export interface ScanContext {
  roots: readonly string[];
  settings: LensSettings;
  index: PromptIndex;
  queue: ScoringQueue;
  /** Canonical URIs of the files the last scan indexed (so a closed document falls back to disk). */
  scanned: Set<string>;
  /** A file left the index: clear what was published for it. */
  dropped(uri: string): void;
}

export async function scanWorkspace(
  ctx: ScanContext,
  progress: WorkDoneProgressReporter,
  signal: AbortSignal,
): Promise<ScanWorkspaceResult> {
  progress.begin('NASA Lens: scanning the workspace', 0, 'finding files', true);
  try {
    const files = await findWorkspaceFiles(ctx.roots, ctx.settings.fileGlobs);
    signal.throwIfAborted();
    const uris = await indexFiles(ctx, files, signal);
    const prompts = uris.reduce((n, uri) => n + (ctx.index.get(uri)?.prompts.length ?? 0), 0);
    progress.report(10, `scoring ${prompts} prompts in ${uris.length} files`);
    ctx.queue.scheduleNow(uris);
    await waitScored(ctx.queue, uris, progress, signal);
    signal.throwIfAborted();
    return { files: files.length, prompts };
  } finally {
    progress.done();
  }
}

/** Indexes the files that have prompts; returns their URIs. */
async function indexFiles(ctx: ScanContext, files: string[], signal: AbortSignal): Promise<string[]> {
  const previous = new Set(ctx.scanned);
  ctx.scanned.clear();
  const uris: string[] = [];
  for (const file of files) {
    signal.throwIfAborted();
    let text: string;
    try {
      text = readBoundedText(file, READ_LIMITS.promptFile);
    } catch {
      continue; // deleted or unreadable since the walk
    }
    const indexed = ctx.index.setDiskFile(file, text, ctx.settings.candidatePairs);
    const key = canonicalUri(indexed.uri);
    if (indexed.prompts.length > 0 || indexed.open) {
      ctx.scanned.add(key);
      previous.delete(key);
      uris.push(indexed.uri);
    } else {
      // Keep no text in memory for files without prompts (any more).
      ctx.index.remove(indexed.uri);
      if (previous.delete(key)) {
        ctx.queue.forget(indexed.uri);
        ctx.dropped(indexed.uri);
      }
    }
  }
  for (const key of previous) {
    const file = ctx.index.get(key);
    if (file && !file.open) {
      ctx.index.remove(key);
      ctx.queue.forget(file.uri);
      ctx.dropped(file.uri);
    }
  }
  return uris;
}

async function waitScored(queue: ScoringQueue, uris: string[], progress: WorkDoneProgressReporter, signal: AbortSignal): Promise<void> {
  let done = 0;
  let shown = -1;
  await Promise.all(
    uris.map(async (uri) => {
      await queue.settled(uri, NO_TIMEOUT, signal);
      const percent = 10 + Math.floor((90 * ++done) / uris.length);
      if (percent !== shown) progress.report(percent, `scored ${done} of ${uris.length} files`);
      shown = percent;
    }),
  );
}
