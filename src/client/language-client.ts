// The connection to the NASA Lens language server (dist/server.js, a separate Node process so that
// model loading, scoring and training never block the extension host).

import * as vscode from 'vscode';
import {
  LanguageClient,
  TransportKind,
  type LanguageClientOptions,
  type NotificationType,
  type RequestParam,
  type RequestType,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { readSettings, SECTION } from './settings.ts';

/** Languages whose prompts the server finds (Markdown/text paragraphs, JSONL fields, string literals). */
const LANGUAGES = ['markdown', 'plaintext', 'python', 'typescript', 'javascript', 'jsonl'];

/** Thrown instead of talking to the server while the workspace is not trusted. */
export class UntrustedError extends Error {
  constructor() {
    super('NASA Lens runs a model only in a trusted workspace: trust this workspace to score prompts and align heads.');
  }
}

export class LensClient {
  readonly client: LanguageClient;
  private started: Promise<void> | undefined;

  /** `trustedCommands`: the only commands that `command:` links in the server's Markdown may run. */
  constructor(context: vscode.ExtensionContext, trustedCommands: readonly string[]) {
    const module = context.asAbsolutePath('dist/server.js');
    const server: ServerOptions = {
      run: { module, transport: TransportKind.ipc },
      debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6011'] } },
    };
    const watcher = vscode.workspace.createFileSystemWatcher('**/*');
    context.subscriptions.push(watcher);
    const options: LanguageClientOptions = {
      // file and untitled only: other schemes (output, git, vscode-notebook-cell...) are not prompts.
      documentSelector: [
        ...LANGUAGES.flatMap((language) => [
          { scheme: 'file', language },
          { scheme: 'untitled', language },
        ]),
        { scheme: 'file', pattern: '**/*.{prompt,j2,jinja}' },
        { scheme: 'file', pattern: '**/promptfooconfig*.{yaml,yml}' },
      ],
      // A function, so that the settings are read when the server starts (after trust is granted).
      initializationOptions: () => readSettings(),
      // Files changed outside the editor (git checkout, a generator, another tool) reach the server
      // as workspace/didChangeWatchedFiles; it re-reads those its last scan indexed and ignores the
      // rest, so the watcher covers the whole workspace and stays right when nasaLens.fileGlobs changes.
      synchronize: { configurationSection: SECTION, fileEvents: watcher },
      // Hovers carry "Align these heads" links; only our own commands may run from them.
      markdown: { isTrusted: { enabledCommands: trustedCommands }, supportThemeIcons: true },
    };
    this.client = new LanguageClient('nasaLens', 'NASA Lens', server, options);
  }

  /** Starts the server once; call it only in a trusted workspace. */
  start(): Promise<void> {
    // Forget a failed start so that the next request tries again (e.g. after `npm run build`).
    this.started ??= this.client.start().catch((err: unknown) => {
      this.started = undefined;
      throw err;
    });
    return this.started;
  }

  get running(): boolean {
    return this.client.isRunning();
  }

  /**
   * A custom request. Refused in an untrusted workspace: LanguageClient.sendRequest would start the
   * server on its own, and the server loads the model named in the (untrusted) settings.
   */
  async request<P, R>(type: RequestType<P, R, void>, params: RequestParam<P>, token?: vscode.CancellationToken): Promise<R> {
    if (!vscode.workspace.isTrusted) throw new UntrustedError();
    await this.start();
    return this.client.sendRequest(type, params, token);
  }

  /** Handlers may be registered before the server starts; the client installs them on start. */
  onNotification<P>(type: NotificationType<P>, handler: (params: P) => void): vscode.Disposable {
    return this.client.onNotification(type, handler);
  }

  async stop(): Promise<void> {
    if (this.started) await this.client.stop();
  }
}
