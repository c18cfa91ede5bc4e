// The extension's entry (dist/extension.js): wires the language client, status bar, views, align
// panel and commands. The language server starts only in a trusted workspace: it loads the model
// that the workspace's settings name, and package.json's untrustedWorkspaces declaration keeps
// those settings from applying before trust is granted.

import * as vscode from 'vscode';
import type { DashboardData } from '../protocol.ts';
import { StatusNotification } from '../lsp-ext.ts';
import { AlignPanel } from './align-panel.ts';
import { COMMAND_IDS } from '../command-ids.ts';
import { registerCommands } from './commands.ts';
import { DashboardStore } from './dashboard-data.ts';
import { DashboardView } from './dashboard-view.ts';
import { errorMessage } from './errors.ts';
import { LensClient } from './language-client.ts';
import { PromptTree } from './prompt-tree.ts';
import { LensStatusBar } from './status-bar.ts';
import { TokenView } from './token-view.ts';

/** What activate() returns; test/vscode reads it, since VS Code has no API to read a status bar item. */
export interface LensApi {
  statusText(): string;
  dashboard(): DashboardData | null;
}

let lens: LensClient | undefined;

export function activate(context: vscode.ExtensionContext): LensApi {
  const client = new LensClient(context, COMMAND_IDS);
  lens = client;
  const store = new DashboardStore(client);
  const status = new LensStatusBar();
  const dashboard = new DashboardView(context.extensionUri, store);
  const align = new AlignPanel(context.extensionUri, client, store);
  const tree = new PromptTree(store);
  const tokens = new TokenView(context.extensionUri, client);
  context.subscriptions.push(
    tokens,
    store,
    status,
    dashboard,
    align,
    tree,
    vscode.window.registerWebviewViewProvider(DashboardView.viewId, dashboard),
    vscode.window.registerTreeDataProvider('nasaLens.prompts', tree),
    client.onNotification(StatusNotification, (s) => {
      status.update(s);
      // "ready" follows loading and every scoring pass: the moment the views' data is new.
      if (s.state === 'ready') void store.refresh();
    }),
  );
  registerCommands({ context, lens: client, store, dashboard, align, tokens });

  const start = () =>
    client.start().catch((err: unknown) => {
      void vscode.window
        .showErrorMessage(`NASA Lens: the language server did not start: ${errorMessage(err)}`, 'Show Log')
        .then((picked) => picked && client.client.outputChannel.show(true));
    });
  if (vscode.workspace.isTrusted) void start();
  else {
    status.showRestricted();
    context.subscriptions.push(vscode.workspace.onDidGrantWorkspaceTrust(start));
  }
  return { statusText: () => status.text, dashboard: () => store.current };
}

/** The server is stopped here rather than through context.subscriptions so that VS Code waits for it. */
export function deactivate(): Promise<void> | undefined {
  const client = lens;
  lens = undefined;
  return client?.stop();
}
