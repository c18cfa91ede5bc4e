// What the align panel and the dashboard view share as webview hosts: scripts on, and only our
// bundled scripts and styles loadable (the CSP in webviewHtml allows nothing else).

import * as vscode from 'vscode';
import { makeNonce, webviewHtml } from './webview-html.ts';

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

/** The page for `dist/webview/<script>.js`, with a fresh nonce each time it is rendered. */
export function webviewPage(
  webview: vscode.Webview,
  extensionUri: vscode.Uri,
  script: 'align' | 'dashboard' | 'tokens',
  title: string,
): string {
  return webviewHtml({
    title,
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', `${script}.js`)).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'webview.css')).toString(),
    cspSource: webview.cspSource,
    nonce: makeNonce(),
  });
}
