// What the editor features and the custom requests see of the language server: its parts and its
// current settings, as an interface so that they do not import the server that wires them (the
// server implements it and builds every part in its constructor).

import type { Connection } from 'vscode-languageserver/node';
import type { LensSettings } from '../protocol.ts';
import type { AlignJobs } from './align-jobs.ts';
import type { ModelSession } from './model-session.ts';
import type { IndexedPrompt, PromptIndex } from './prompt-index.ts';
import type { ScoreEntry } from './scorer.ts';
import type { ScoringQueue } from './scoring-queue.ts';

/** What the client said it supports in `initialize`. */
export interface ClientSupport {
  codeLensRefresh: boolean;
  workDoneProgress: boolean;
  configuration: boolean;
  workspaceFolders: boolean;
}

export interface ServerContext {
  readonly connection: Connection;
  readonly index: PromptIndex;
  readonly session: ModelSession;
  readonly queue: ScoringQueue;
  /** NASA runs. */
  readonly align: AlignJobs;
  /** The `nasaLens.*` settings now (replaced as a whole when they change). */
  readonly settings: LensSettings;
  /** Workspace folders, as file system paths. */
  readonly roots: readonly string[];
  /** Canonical URIs of the files the last workspace scan indexed. */
  readonly scanned: Set<string>;
  readonly client: ClientSupport;
  /** The score of a prompt at its current text, when there is one. */
  entryOf(prompt: IndexedPrompt): ScoreEntry | undefined;
  log(message: string): void;
}
