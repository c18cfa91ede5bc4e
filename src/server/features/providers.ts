// The editor features over the server's state: hovers (waiting briefly for the file's scores),
// CodeLenses (never waiting: they refresh when scores arrive) and scored rewrite code actions.

import {
  CodeActionKind,
  type CodeAction,
  type CodeActionParams,
  type CodeLens,
  type Hover,
  type HoverParams,
} from 'vscode-languageserver/node';
import type { ServerContext } from '../context.ts';
import type { IndexedFile, IndexedPrompt } from '../prompt-index.ts';
import type { ScoreEntry } from '../scorer.ts';
import { tokenizerKnows, variantActions, variantInputs } from './code-actions.ts';
import { scoredLenses, unscoredLens } from './code-lens.ts';
import { unscoredText } from './format.ts';
import { scoredHover, unscoredHover } from './hover.ts';
import { templateAction, templateHover, templateLenses, templateSummary } from './template.ts';

/** How long a hover or code action waits for its file's scores before answering without them. */
const HOVER_WAIT_MS = 10_000;
const ACTION_WAIT_MS = 10_000;
/** Prompts whose rewrites one code action request scores (a selection may cover many). */
const MAX_ACTION_PROMPTS = 3;

export async function provideHover(server: ServerContext, params: HoverParams, signal: AbortSignal): Promise<Hover | null> {
  const uri = params.textDocument.uri;
  if (!server.index.promptAt(uri, params.position)) return null;
  // Wait for this file's scores (a hover shows "Loading…" meanwhile) unless there is no model.
  if (server.session.status.state !== 'no-model' && server.session.status.state !== 'error') {
    await server.queue.settled(uri, HOVER_WAIT_MS, signal);
  }
  const prompt = server.index.promptAt(uri, params.position);
  if (!prompt) return null;
  if (prompt.found.template) {
    const reason = unscoredText(server.session.status, undefined, server.queue.isPending(uri));
    return templateHover(prompt, templateSummary(prompt, server.queue.fillEntries(prompt)), reason);
  }
  const entry = server.queue.entry(prompt);
  if (entry?.ok) return scoredHover(prompt, entry.score, server.settings);
  return unscoredHover(prompt, unscoredText(server.session.status, entry, server.queue.isPending(uri)));
}

export function provideCodeLenses(server: ServerContext, uri: string): CodeLens[] {
  const file = server.index.get(uri);
  if (!file) return [];
  const status = server.session.status;
  const noModel = status.state === 'no-model' || status.state === 'error';
  return file.prompts.flatMap((p) => {
    if (p.found.template) {
      return templateLenses(
        p,
        templateSummary(p, server.queue.fillEntries(p)),
        unscoredText(status, undefined, server.queue.isPending(uri)),
      );
    }
    const entry = server.queue.entry(p);
    if (entry?.ok) return scoredLenses(p, entry.score, server.settings.knockoutMinShift);
    return [unscoredLens(p, unscoredText(status, entry, server.queue.isPending(uri)), entry, noModel)];
  });
}

export async function provideCodeActions(server: ServerContext, params: CodeActionParams, signal: AbortSignal): Promise<CodeAction[]> {
  const uri = params.textDocument.uri;
  const only = params.context.only;
  if (only && ![CodeActionKind.QuickFix, CodeActionKind.RefactorRewrite].some((k) => only.some((o) => k === o || k.startsWith(`${o}.`))))
    return [];
  const templates = server.index
    .promptsIn(uri, params.range)
    .filter((p) => p.found.template)
    .map(templateAction);
  if (server.index.promptsIn(uri, params.range).length === 0 || server.session.model === null) return templates;
  await server.queue.settled(uri, ACTION_WAIT_MS, signal);
  const file = server.index.get(uri);
  if (!file) return [];
  const actions: CodeAction[] = [...templates];
  for (const prompt of server.index
    .promptsIn(uri, params.range)
    .filter((p) => !p.found.template)
    .slice(0, MAX_ACTION_PROMPTS)) {
    const more = await promptActions(server, file, prompt, params, signal);
    // The file changed while the variants were scored: these ranges are no longer its ranges.
    if (signal.aborted || server.index.get(uri)?.revision !== file.revision) return [];
    actions.push(...more);
  }
  return actions;
}

async function promptActions(
  server: ServerContext,
  file: IndexedFile,
  prompt: IndexedPrompt,
  params: CodeActionParams,
  signal: AbortSignal,
): Promise<CodeAction[]> {
  const base = server.queue.entry(prompt);
  const model = server.session.model;
  if (!base?.ok || model === null) return [];
  const variants = variantInputs(file, prompt, server.settings.candidatePairs, tokenizerKnows(model.runner.model.tokenizer));
  if (variants.length === 0) return [];
  let entries: ScoreEntry[];
  try {
    entries = await server.queue.score(
      variants.map((v) => v.input),
      signal,
    );
  } catch (err) {
    if (!signal.aborted) server.log(`code action scoring failed: ${String(err)}`);
    return [];
  }
  return variantActions({
    file,
    prompt,
    base: base.score,
    variants,
    entries,
    diagnostics: params.context.diagnostics,
    only: params.context.only,
  });
}
