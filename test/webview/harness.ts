// Runs the real webview bundles in real Chromium, in the page webviewHtml() writes, CSP included.
// The page is served from a fake origin (https://webview.test, standing for webview.cspSource)
// through Playwright's request routing, so nothing touches the network. A nonce'd script placed
// before the bundle stands in for VS Code: acquireVsCodeApi() records posted messages and keeps
// setState's value, and every CSP violation is recorded.

import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { makeNonce, webviewHtml } from '../../src/client/webview-html.ts';

/** Debian's chromium; CHROMIUM_PATH points elsewhere (another OS, another build). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ORIGIN = 'https://webview.test';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type View = 'align' | 'dashboard' | 'tokens';

export interface Violation {
  directive: string;
  blocked: string;
}

/** Bundles both webviews the way esbuild.mjs does, into a temporary folder. */
export async function buildBundles(): Promise<string> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-webview-'));
  await esbuild.build({
    entryPoints: {
      align: path.join(ROOT, 'webview-ui/align.ts'),
      dashboard: path.join(ROOT, 'webview-ui/dashboard.ts'),
      tokens: path.join(ROOT, 'webview-ui/tokens.ts'),
    },
    outdir,
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: false,
    logLevel: 'silent',
  });
  return outdir;
}

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is required for the webview tests and was not found at ${CHROMIUM}: install it with ` +
        `\`apt-get install -y chromium\` (Debian package) or set CHROMIUM_PATH.`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}

/** The mock of VS Code's webview host script (runs before the bundle, under the same nonce). */
function mockHost(initialState: unknown): string {
  // JSON inside <script>: escape '<' so no string in the state can close the element.
  const json = JSON.stringify(initialState ?? null).replace(/</g, '\\u003c');
  return `(() => {
  const copy = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
  const h = (window.__harness = { posted: [], state: ${json}, violations: [], acquired: 0 });
  document.addEventListener('securitypolicyviolation', (e) =>
    h.violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI }),
  );
  window.acquireVsCodeApi = () => {
    if (h.acquired++ > 0) throw new Error('An instance of the VS Code API has already been acquired');
    return Object.freeze({
      postMessage: (m) => { h.posted.push(copy(m)); },
      getState: () => (h.state === null ? undefined : copy(h.state)),
      setState: (s) => { h.state = copy(s); return s; },
    });
  };
})();`;
}

export function pageHtml(view: View, nonce: string, initialState: unknown): string {
  const html = webviewHtml({
    title: view === 'align' ? 'Align Negative Heads' : 'NASA Lens',
    scriptUri: `${ORIGIN}/dist/webview/${view}.js`,
    styleUri: `${ORIGIN}/media/webview.css`,
    cspSource: ORIGIN,
    nonce,
  });
  // VS Code puts its theme variables on <html>; here they come from a stylesheet of the same origin.
  const theme = `<link rel="stylesheet" href="${ORIGIN}/theme/dark.css">`;
  const mock = `<script nonce="${nonce}">${mockHost(initialState)}</script>`;
  return html.replace('<link rel="stylesheet"', `${theme}\n  ${mock}\n  <link rel="stylesheet"`);
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html' };

export class ViewPage {
  constructor(
    readonly page: Page,
    readonly view: View,
  ) {}

  /** Messages the webview posted so far. */
  posted<T = { type: string }>(): Promise<T[]> {
    return this.page.evaluate('window.__harness.posted') as Promise<T[]>;
  }

  /**
   * Polls a JavaScript expression until it is truthy. Not page.waitForFunction: its string
   * predicates are re-evaluated with eval() inside the page, which this page's CSP blocks (as it
   * should); page.evaluate goes through the DevTools protocol instead.
   */
  async waitFor(expression: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.page.evaluate(expression))) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${expression}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async waitForPosted<T extends { type: string }>(type: string, count = 1): Promise<T[]> {
    await this.waitFor(`window.__harness.posted.filter((m) => m.type === ${JSON.stringify(type)}).length >= ${count}`);
    return (await this.posted<T>()).filter((m) => m.type === type);
  }

  async clearPosted(): Promise<void> {
    await this.page.evaluate('window.__harness.posted.length = 0');
  }

  /** Posts a message to the webview the way the extension does. */
  async send(message: unknown): Promise<void> {
    await this.page.evaluate(`window.postMessage(${JSON.stringify(message)}, '*')`);
  }

  state<T = unknown>(): Promise<T | null> {
    return this.page.evaluate('window.__harness.state') as Promise<T | null>;
  }

  violations(): Promise<Violation[]> {
    return this.page.evaluate('window.__harness.violations') as Promise<Violation[]>;
  }

  /** Evaluates a JavaScript expression in the page (strings keep DOM types out of the node build). */
  eval<T>(expression: string): Promise<T> {
    return this.page.evaluate(expression) as Promise<T>;
  }
}

export class Harness {
  private constructor(
    private readonly browser: Browser,
    private readonly bundles: string,
  ) {}

  static async start(): Promise<Harness> {
    const [browser, bundles] = await Promise.allSettled([launchChromium(), buildBundles()]);
    if (browser.status === 'fulfilled' && bundles.status === 'fulfilled') return new Harness(browser.value, bundles.value);
    if (browser.status === 'fulfilled') await browser.value.close();
    if (bundles.status === 'fulfilled') fs.rmSync(bundles.value, { recursive: true, force: true });
    throw browser.status === 'rejected' ? browser.reason : (bundles as PromiseRejectedResult).reason;
  }

  /** Opens a view as VS Code would create (or re-create) it, optionally with a saved state. */
  async open(view: View, opts: { state?: unknown; width?: number; height?: number } = {}): Promise<ViewPage> {
    const page = await this.browser.newPage({
      viewport: { width: opts.width ?? (view === 'align' ? 1200 : 340), height: opts.height ?? 900 },
    });
    const nonce = makeNonce();
    await page.route(`${ORIGIN}/**`, (route) => {
      const url = new URL(route.request().url());
      const body = this.resolve(url.pathname, view, nonce, opts.state);
      if (body === null) return route.fulfill({ status: 404, body: 'not found' });
      return route.fulfill({ status: 200, contentType: TYPES[path.extname(url.pathname) || '.html'], body });
    });
    await page.goto(`${ORIGIN}/${view}.html`);
    const v = new ViewPage(page, view);
    await v.waitFor('document.getElementById("root")?.getAttribute("aria-busy") === null');
    return v;
  }

  private resolve(pathname: string, view: View, nonce: string, state: unknown): string | Buffer | null {
    if (pathname === `/${view}.html`) return pageHtml(view, nonce, state);
    const files: Record<string, string> = {
      '/dist/webview/align.js': path.join(this.bundles, 'align.js'),
      '/dist/webview/dashboard.js': path.join(this.bundles, 'dashboard.js'),
      '/dist/webview/tokens.js': path.join(this.bundles, 'tokens.js'),
      '/media/webview.css': path.join(ROOT, 'media/webview.css'),
      '/theme/dark.css': path.join(ROOT, 'test/webview/theme-dark.css'),
    };
    const file = files[pathname];
    return file === undefined ? null : fs.readFileSync(file);
  }

  async close(): Promise<void> {
    await this.browser.close();
    fs.rmSync(this.bundles, { recursive: true, force: true });
  }
}
