// The token view: a prompt's tokens shaded by one head's attention from the last position (the
// candidates marked), and the same with the applied adapter when one is on (webview-ui/tokens.ts).
// One panel, reused: opening it for another prompt or head replaces what it shows.

import * as vscode from 'vscode';
import { formatHead } from '../bias/nas.ts';
import { TokensRequest } from '../lsp-ext.ts';
import type { FromTokenView, HeadRef, TokenAttention, ToTokenView } from '../protocol.ts';
import { fromTokenView } from '../protocol-schemas.ts';
import { check } from '../schema.ts';
import { errorMessage } from './errors.ts';
import type { LensClient } from './language-client.ts';
import { webviewOptions, webviewPage } from './webview-host.ts';

export interface ShowTokensArgs {
  uri: string;
  position: { line: number; character: number };
  head: HeadRef;
}

export class TokenView implements vscode.Disposable {
  static readonly viewType = 'nasaLens.tokens';
  private panel: vscode.WebviewPanel | undefined;
  /** What the page shows (or will show once it says it is ready). */
  private message: ToTokenView | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly lens: LensClient,
  ) {}

  async show(args: ShowTokensArgs | undefined): Promise<void> {
    if (!isArgs(args)) throw new Error("open the token view from a prompt's hover or from the dashboard");
    let data: TokenAttention;
    try {
      data = await this.lens.request(TokensRequest, { uri: args.uri, position: args.position });
    } catch (err) {
      this.message = { type: 'error', message: errorMessage(err) };
      this.open(`Tokens ${formatHead(args.head)}`);
      return;
    }
    this.message = { type: 'data', data, head: { layer: args.head.layer, head: args.head.head } };
    this.open(`Tokens ${formatHead(args.head)}`);
  }

  private open(title: string): void {
    if (!this.panel) {
      const panel = vscode.window.createWebviewPanel(
        TokenView.viewType,
        title,
        vscode.ViewColumn.Beside,
        webviewOptions(this.extensionUri),
      );
      panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'nasa-lens.svg');
      panel.webview.html = webviewPage(panel.webview, this.extensionUri, 'tokens', 'NASA Lens Tokens');
      // Checked against its schema (src/protocol-schemas.ts); anything else is dropped.
      const receive = (raw: unknown) => {
        let m: FromTokenView;
        try {
          m = check(fromTokenView, raw, 'message');
        } catch {
          return;
        }
        if (m.type === 'ready') this.post();
      };
      panel.webview.onDidReceiveMessage(receive, undefined, this.subscriptions);
      panel.onDidDispose(() => (this.panel = undefined), undefined, this.subscriptions);
      this.panel = panel;
    } else {
      this.panel.title = title;
      this.panel.reveal(undefined, true);
      this.post();
    }
  }

  private post(): void {
    if (this.message) void this.panel?.webview.postMessage(this.message);
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.subscriptions) d.dispose();
  }
}

function isArgs(a: unknown): a is ShowTokensArgs {
  const x = a as ShowTokensArgs | undefined;
  return (
    typeof x?.uri === 'string' &&
    Number.isInteger(x.position?.line) &&
    Number.isInteger(x.position?.character) &&
    Number.isInteger(x.head?.layer) &&
    Number.isInteger(x.head?.head)
  );
}
