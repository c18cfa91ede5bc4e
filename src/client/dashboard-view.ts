// Host of the Dashboard webview view (webview-ui/dashboard.ts): heat map, prompt table, evaluation.
// It sends the server's DashboardData whenever it changes and keeps the heads the user selected,
// which Align Negative Heads preselects.

import * as vscode from 'vscode';
import { COMMAND } from '../command-ids.ts';
import { formatHead } from '../bias/nas.ts';
import type { FromDashboard, HeadRef, ToDashboard } from '../protocol.ts';
import { fromDashboard } from '../protocol-schemas.ts';
import { check } from '../schema.ts';
import type { DashboardStore } from './dashboard-data.ts';
import { exportResults } from './export.ts';
import { webviewOptions, webviewPage } from './webview-host.ts';

export class DashboardView implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = 'nasaLens.dashboard';
  private view: vscode.WebviewView | undefined;
  private selection: HeadRef[] = [];
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: DashboardStore,
  ) {
    this.subscriptions.push(store.onDidChange((data) => this.post({ type: 'data', data })));
  }

  get selectedHeads(): HeadRef[] {
    return [...this.selection];
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = webviewOptions(this.extensionUri);
    view.webview.html = webviewPage(view.webview, this.extensionUri, 'dashboard', 'NASA Lens Dashboard');
    // Checked against its schema (src/protocol-schemas.ts) before any field is used; malformed ones are dropped.
    view.webview.onDidReceiveMessage(
      (raw: unknown) => {
        let m: FromDashboard;
        try {
          m = check(fromDashboard, raw, 'message');
        } catch {
          return;
        }
        return this.receive(m);
      },
      undefined,
      this.subscriptions,
    );
    view.onDidDispose(() => (this.view = undefined), undefined, this.subscriptions);
  }

  private async receive(m: FromDashboard): Promise<void> {
    switch (m.type) {
      case 'ready': {
        // The view is recreated each time it is shown again: send everything it needs.
        const data = await this.store.get();
        if (data) this.post({ type: 'data', data });
        return this.post({ type: 'selectedHeads', heads: this.selectedHeads });
      }
      case 'refresh':
        return void this.store.refresh();
      case 'selectHead':
        return this.toggle(m.head);
      case 'revealPrompt': {
        const line = new vscode.Range(m.line, 0, m.line, 0);
        return void vscode.window.showTextDocument(vscode.Uri.parse(m.uri), { selection: line, preview: false });
      }
      case 'alignHeads':
        return void vscode.commands.executeCommand(COMMAND.alignHeads, { heads: m.heads });
      case 'evaluate':
        return void vscode.commands.executeCommand(COMMAND.evaluateDataset);
      case 'showTokens':
        return void vscode.commands.executeCommand(COMMAND.showTokens, {
          uri: m.uri,
          position: { line: m.line, character: m.character },
          head: m.head,
        });
      case 'exportEvaluation': {
        const data = this.store.current;
        const ev = data?.evaluation;
        if (!ev) return;
        const name = `${ev.file
          .split(/[\\/]/)
          .pop()!
          .replace(/\.[^.]*$/, '')}-results.csv`;
        return void exportResults(
          {
            kind: 'evaluation',
            data: ev.file,
            model: data.model?.path ?? null,
            adapter: data.adapter,
            metrics: ev.metrics,
            items: ev.items,
          },
          name,
        );
      }
    }
  }

  /** A click on a head selects it, a second click unselects it. */
  private toggle(head: HeadRef): void {
    const key = formatHead(head);
    const rest = this.selection.filter((h) => formatHead(h) !== key);
    this.selection = rest.length < this.selection.length ? rest : [...this.selection, { layer: head.layer, head: head.head }];
    this.post({ type: 'selectedHeads', heads: this.selectedHeads });
  }

  private post(m: ToDashboard): void {
    void this.view?.webview.postMessage(m);
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}
