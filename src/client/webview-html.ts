// The HTML document of every NASA Lens webview (the Align panel and the Dashboard view). A pure
// function with no `vscode` import, so the extension and the browser tests (test/unit/webview.test.ts)
// render exactly the same page, CSP included.
//
// The Content-Security-Policy is strict: nothing inline (no 'unsafe-inline' for scripts or styles),
// no eval, nothing remote. Scripts run only with the per-load nonce; styles and fonts come only
// from the extension's own resources (cspSource). The webview code never writes style attributes
// or <style> elements: it sets colours through the CSSOM (element.style.x = …), which CSP does not
// govern, and chart.js 4 does the same for its canvas, so no relaxation is needed.

import { randomBytes } from 'node:crypto';

export interface WebviewHtmlOptions {
  /** Document title (escaped here). */
  title: string;
  /** webview.asWebviewUri(…/dist/webview/<name>.js) as a string. */
  scriptUri: string;
  /** webview.asWebviewUri(…/media/webview.css) as a string. */
  styleUri: string;
  /** webview.cspSource. */
  cspSource: string;
  /** makeNonce(), fresh for every document. */
  nonce: string;
  /** Optional codicon stylesheet (served from cspSource like the rest). */
  codiconUri?: string;
}

/** The CSP of a webview document, exactly; exported so tests can compare against it. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return (
    [
      "default-src 'none'",
      `img-src ${cspSource} data:`,
      `style-src ${cspSource}`,
      `script-src 'nonce-${nonce}'`,
      `font-src ${cspSource}`,
    ].join('; ') + ';'
  );
}

export function webviewHtml(opts: WebviewHtmlOptions): string {
  if (!/^[A-Za-z0-9]{16,}$/.test(opts.nonce))
    throw new Error('webviewHtml: the nonce must be 16+ alphanumeric characters (use makeNonce())');
  const csp = contentSecurityPolicy(opts.cspSource, opts.nonce);
  const codicon = opts.codiconUri === undefined ? '' : `\n  <link rel="stylesheet" href="${attr(opts.codiconUri)}">`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${attr(csp)}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">${codicon}
  <link rel="stylesheet" href="${attr(opts.styleUri)}">
  <title>${text(opts.title)}</title>
</head>
<body>
  <main id="root" aria-busy="true"></main>
  <script nonce="${attr(opts.nonce)}" src="${attr(opts.scriptUri)}"></script>
</body>
</html>
`;
}

/** 32 alphanumeric characters from a CSPRNG (≈190 bits): unguessable per document load. */
export function makeNonce(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  // 248 = 62·4: rejecting bytes ≥ 248 keeps every character equally likely.
  let out = '';
  while (out.length < 32) {
    for (const b of randomBytes(48)) if (b < 248 && out.length < 32) out += alphabet[b % 62];
  }
  return out;
}

function text(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function attr(s: string): string {
  return text(s).replace(/"/g, '&quot;');
}
