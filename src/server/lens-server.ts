// The NASA Lens language server: wires the LSP connection to the prompt index, the warm model and
// the scoring queue, and answers hovers, CodeLenses, code actions, diagnostics and the custom
// requests of src/protocol.ts. Runs over any connection: stdio/IPC in dist/server.js, in-process
// streams in the tests.

import { READ_LIMITS, readBoundedText } from '../fs/bounded-read.ts';
import { fileURLToPath } from 'node:url';
import { TextDocument } from 'vscode-languageserver-textdocument';
import {
  CodeActionKind,
  CodeLensRefreshRequest,
  MessageType,
  ShowMessageNotification,
  TextDocumentSyncKind,
  TextDocuments,
  type Connection,
  type InitializeParams,
  type InitializeResult,
} from 'vscode-languageserver/node';
import type { LensSettings } from '../protocol.ts';
import { AlignDoneNotification, AlignProgressNotification, StatusNotification } from '../lsp-ext.ts';
import { AlignJobs } from './align-jobs.ts';
import { signalOf } from './cancellation.ts';
import type { ClientSupport, ServerContext } from './context.ts';
import { diagnosticsFor } from './features/diagnostics.ts';
import { provideCodeActions, provideCodeLenses, provideHover } from './features/providers.ts';
import { ModelSession, type DownloadReporter } from './model-session.ts';
import { canonicalUri, PromptIndex, type IndexedPrompt } from './prompt-index.ts';
import { registerCustomRequests } from './requests.ts';
import { ScoringQueue } from './scoring-queue.ts';
import type { ScoreEntry } from './scorer.ts';
import { DEFAULT_SETTINGS, readSettings, scanOptionsOf, scoringKey } from './settings.ts';

export interface ServerOptions {
  /** Quiet time after an edit before the file is re-scored (default 300 ms). */
  debounceMs?: number;
  /** Tests only: runs before each scoring job (see QueueDeps.beforeJob). */
  beforeJob?: (uris: string[]) => Promise<void>;
}

export function startServer(connection: Connection, options: ServerOptions = {}): LensServer {
  const server = new LensServer(connection, options);
  server.listen();
  return server;
}

export class LensServer implements ServerContext {
  readonly documents = new TextDocuments(TextDocument);
  readonly index = new PromptIndex();
  readonly session: ModelSession;
  readonly queue: ScoringQueue;
  readonly align: AlignJobs;
  settings: LensSettings = { ...DEFAULT_SETTINGS };
  roots: string[] = [];
  /** Canonical URIs of the files the last workspace scan indexed. */
  readonly scanned = new Set<string>();
  client: ClientSupport = { codeLensRefresh: false, workDoneProgress: false, configuration: false, workspaceFolders: false };
  private initialRaw: unknown = undefined;
  private lensRefreshQueued = false;

  constructor(
    readonly connection: Connection,
    options: ServerOptions,
  ) {
    this.session = new ModelSession({
      status: (s) => void connection.sendNotification(StatusNotification, s),
      // A notification, not showMessageRequest: nothing waits on the user's answer.
      loadFailed: (message) => void connection.sendNotification(ShowMessageNotification.type, { type: MessageType.Error, message }),
      willReload: () => this.queue.abortRunning(),
      changed: () => this.modelChanged(),
      log: (m) => this.log(m),
      downloadStarted: (title) => this.downloadProgress(title),
    });
    this.queue = new ScoringQueue({
      session: this.session,
      index: this.index,
      scanOptions: () => scanOptionsOf(this.settings),
      scoringKey: () => scoringKey(this.settings),
      scored: (uris) => this.publish(uris),
      log: (m) => this.log(m),
      debounceMs: options.debounceMs ?? 300,
      beforeJob: options.beforeJob,
    });
    this.align = new AlignJobs({
      progress: (p) => void connection.sendNotification(AlignProgressNotification, p),
      done: (d) => void connection.sendNotification(AlignDoneNotification, d),
      log: (m) => this.log(m),
    });
  }

  listen(): void {
    const c = this.connection;
    c.onInitialize((params) => this.initialize(params));
    c.onInitialized(() => void this.initialized());
    c.onDidChangeConfiguration((params) => void this.configurationChanged(params.settings));
    c.onShutdown(() => this.shutdown());
    c.onHover((params, token) => provideHover(this, params, signalOf(token)));
    c.onCodeLens((params) => provideCodeLenses(this, params.textDocument.uri));
    c.onCodeAction((params, token) => provideCodeActions(this, params, signalOf(token)));
    c.onDidChangeWatchedFiles((params) => void Promise.all(params.changes.map((ch) => this.diskFileChanged(ch.uri))));
    this.documents.onDidOpen((e) => this.openDocument(e.document));
    this.documents.onDidChangeContent((e) => this.changeDocument(e.document));
    this.documents.onDidClose((e) => void this.closeDocument(e.document));
    registerCustomRequests(this);
    this.documents.listen(c);
    c.listen();
  }

  /** Work-done progress for a model download, when the client supports server-created progress. */
  private async downloadProgress(title: string): Promise<DownloadReporter> {
    if (!this.client.workDoneProgress) return { report: () => undefined, done: () => undefined };
    const reporter = await this.connection.window.createWorkDoneProgress();
    reporter.begin(title, 0, undefined, false);
    return {
      report: (message, percentage) => (percentage === undefined ? reporter.report(message) : reporter.report(percentage, message)),
      done: () => reporter.done(),
    };
  }

  log(message: string): void {
    this.connection.console.log(`[nasa-lens] ${message}`);
  }

  // --- lifecycle and settings -------------------------------------------------------------------

  private initialize(params: InitializeParams): InitializeResult {
    this.roots = workspaceRoots(params);
    this.initialRaw = params.initializationOptions;
    this.settings = readSettings(params.initializationOptions);
    const caps = params.capabilities;
    this.client = {
      codeLensRefresh: caps.workspace?.codeLens?.refreshSupport === true,
      workDoneProgress: caps.window?.workDoneProgress === true,
      configuration: caps.workspace?.configuration === true,
      workspaceFolders: caps.workspace?.workspaceFolders === true,
    };
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
        hoverProvider: true,
        codeLensProvider: { resolveProvider: false },
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix, CodeActionKind.RefactorRewrite] },
        workspace: { workspaceFolders: { supported: true, changeNotifications: true } },
      },
      serverInfo: { name: 'NASA Lens' },
    };
  }

  private async initialized(): Promise<void> {
    if (this.client.workspaceFolders) {
      this.connection.workspace.onDidChangeWorkspaceFolders((e) => {
        const removed = new Set(e.removed.flatMap((f) => filePath(f.uri)));
        this.roots = [...this.roots.filter((r) => !removed.has(r)), ...e.added.flatMap((f) => filePath(f.uri))];
      });
    }
    // A client that sends no initializationOptions may still answer workspace/configuration.
    if (this.initialRaw === undefined || this.initialRaw === null) {
      const pulled = await this.pullSettings();
      if (pulled !== undefined) this.settings = readSettings(pulled);
    }
    await this.session.configure(this.settings, this.roots);
  }

  /** The `nasaLens` section from workspace/configuration, when the client answers it. */
  private async pullSettings(): Promise<unknown> {
    if (!this.client.configuration) return undefined;
    try {
      return await this.connection.workspace.getConfiguration('nasaLens');
    } catch (err) {
      this.log(`workspace/configuration failed: ${String(err)}`);
      return undefined;
    }
  }

  /** `settings.nasaLens` as pushed by the client (synchronize.configurationSection), else pulled. */
  private async configurationChanged(raw: unknown): Promise<void> {
    let section = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).nasaLens : undefined;
    if (section === undefined) section = await this.pullSettings();
    if (section !== undefined) this.applySettings(readSettings(section));
  }

  applySettings(next: LensSettings): void {
    const prev = this.settings;
    this.settings = next;
    if (JSON.stringify(prev.candidatePairs) !== JSON.stringify(next.candidatePairs)) this.index.reindex(next.candidatePairs);
    void this.session.configure(next, this.roots);
    if (scoringKey(prev) !== scoringKey(next)) this.queue.rescheduleAll();
    else if (prev.knockoutMinShift !== next.knockoutMinShift) this.publish(this.index.all().map((f) => f.uri));
  }

  /** A new model, or none: rescore everything; without a model, clear what the old one published. */
  private modelChanged(): void {
    if (this.session.model === null) this.publish(this.index.all().map((f) => f.uri));
    else this.refreshLenses();
    this.queue.rescheduleAll();
  }

  private async shutdown(): Promise<void> {
    this.queue.dispose();
    await this.align.stopAll();
    await this.session.close();
  }

  // --- documents --------------------------------------------------------------------------------

  private openDocument(doc: TextDocument): void {
    const file = this.index.setDocument(doc, this.settings.candidatePairs);
    if (file) this.queue.scheduleNow([file.uri]);
  }

  private changeDocument(doc: TextDocument): void {
    const existing = this.index.get(doc.uri);
    // onDidChangeContent also fires right after onDidOpen, for the same version.
    if (existing?.open && existing.doc.version === doc.version) return;
    const file = this.index.setDocument(doc, this.settings.candidatePairs);
    if (file) this.queue.schedule(file.uri);
    else if (existing) this.drop(existing.uri);
  }

  private async closeDocument(doc: TextDocument): Promise<void> {
    if (!this.scanned.has(canonicalUri(doc.uri))) {
      this.drop(doc.uri);
      return;
    }
    // A scanned workspace file stays in the index with its saved text.
    this.index.remove(doc.uri);
    await this.diskFileChanged(doc.uri);
  }

  /** A workspace file changed on disk (or its editor closed): read it again unless an editor holds it. */
  private async diskFileChanged(uri: string): Promise<void> {
    const key = canonicalUri(uri);
    const path = filePath(uri)[0];
    if (!this.scanned.has(key) || path === undefined || this.index.get(uri)?.open) return;
    let text: string;
    try {
      text = readBoundedText(path, READ_LIMITS.promptFile);
    } catch {
      this.scanned.delete(key);
      this.drop(uri);
      return;
    }
    const file = this.index.setDiskFile(path, text, this.settings.candidatePairs);
    this.queue.scheduleNow([file.uri]);
  }

  /** The file leaves the index and its diagnostics are cleared. */
  drop(uri: string): void {
    this.index.remove(uri);
    this.queue.forget(uri);
    void this.connection.sendDiagnostics({ uri, diagnostics: [] });
  }

  // --- publishing -------------------------------------------------------------------------------

  entryOf = (prompt: IndexedPrompt): ScoreEntry | undefined => this.queue.entry(prompt);

  /** Diagnostics of each file at its current version; CodeLenses are asked to refresh. */
  publish(uris: string[]): void {
    const settings = this.settings;
    for (const uri of uris) {
      const file = this.index.get(uri);
      if (!file) continue;
      const diagnostics = this.session.model ? diagnosticsFor(file, this.entryOf, settings) : [];
      void this.connection.sendDiagnostics({ uri: file.uri, version: file.open ? file.doc.version : undefined, diagnostics });
    }
    this.refreshLenses();
  }

  /** One workspace/codeLens/refresh per burst of results. */
  refreshLenses(): void {
    if (!this.client.codeLensRefresh || this.lensRefreshQueued) return;
    this.lensRefreshQueued = true;
    setImmediate(() => {
      this.lensRefreshQueued = false;
      this.connection.sendRequest(CodeLensRefreshRequest.type).catch((err: unknown) => this.log(`codeLens refresh failed: ${String(err)}`));
    });
  }
}

function workspaceRoots(params: InitializeParams): string[] {
  if (params.workspaceFolders?.length) return params.workspaceFolders.flatMap((f) => filePath(f.uri));
  if (params.rootUri) return filePath(params.rootUri);
  return params.rootPath ? [params.rootPath] : [];
}

/** The file system path of a file: URI ([] for other schemes). */
function filePath(uri: string): string[] {
  if (!uri.startsWith('file:')) return [];
  try {
    return [fileURLToPath(uri)];
  } catch {
    return [];
  }
}
