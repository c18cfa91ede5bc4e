// NASA Lens in the real editor: the packaged .vsix installed into code-server, driven through
// headless Chromium (test/e2e/editor.ts), on a copy of the demo workspace with the demo model.
// One editor session; each step is a subtest that waits explicitly for what a user would see and
// saves a screenshot to test-results/e2e-*.png (the README's screenshots come from here). A step
// after a failed one is skipped, since it would only fail for the same reason.
//
// Run with `npm run test:e2e` (sets up code-server, packages the .vsix, runs this file).

import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import {
  RESULTS,
  ROOT,
  Fatal,
  codeLenses,
  editorLine,
  escape,
  hoverWord,
  launchEditor,
  openFile,
  poll,
  problems,
  runCommand,
  screenshot,
  waitFor,
  webview,
  type Editor,
} from './editor.ts';

const STEP_TIMEOUT = 180_000;
const ALIGN_STEPS = 12;

/**
 * The prompts hovered: a Markdown paragraph and a Python string literal of demo/. The Markdown one
 * leans No (the adapter has work to do); the Python one is the demo's prompt whose No the knockout
 * ties to its heads (the one with a diagnostic).
 */
const MD_FILE = 'prompts.md';
const MD_LINE = 'Is ticket 47 of draw 12 a winner ? Answer Yes or No .';
const MD_WORD = 'winner';
const PY_FILE = 'prompts.py';
const TEMPLATE_FILE = 'templates.py';
const TEMPLATE_DATA = 'pairs.jsonl';
const PY_LINE = 'Is 88 less than 94 ? Say Yes / No ?';
const PY_WORD = 'less';

interface HoverNumbers {
  nasTotal: number;
  pYes: number;
  pNo: number;
  topHeads: { name: string; layer: number; head: number; nas: number }[];
  /** "Without L0H2 and L0H1 looking at "No": P(Yes) 0.25 → 0.38…", or null when no head was knocked out. */
  knockout: string | null;
}

/**
 * Hover readiness: the NASA Lens hover with its numbers. A scored hover ("answers …" shown) that
 * does not read as expected fails at once instead of waiting for the timeout.
 */
function scoredHover(text: string): boolean {
  if (parseHover(text) !== null) return true;
  if (/NASA Lens\s*·\s*answers/.test(text)) {
    throw new Fatal(
      `the hover does not read "answers X · P(Yes) Y · P(No) Z" and "NAS (top head): LxHy N · … · ΣNAS ` +
        `(all heads) S": ${JSON.stringify(text)}`,
    );
  }
  return false;
}

/**
 * Reads the numbers of the language server's hover ("answers No · P(Yes) 0.20 · P(No) 0.80",
 * "NAS (top head): L0H1 0.68 · … · ΣNAS (all heads) 1.23").
 */
function parseHover(text: string): HoverNumbers | null {
  const m = /NASA Lens\s*·\s*answers\s+\S+\s*·\s*P\(Yes\)\s+(\d(?:\.\d+)?)\s*·\s*P\(No\)\s+(\d(?:\.\d+)?)/.exec(text);
  const t = /NAS \(top head\):\s*(.*?)\s*·\s*ΣNAS \(all heads\)\s+(-?\d+(?:\.\d+)?)/.exec(text);
  if (!m || !t) return null;
  const topHeads = [...t[1]!.matchAll(/L(\d+)H(\d+)\s+(-?\d+(?:\.\d+)?)/g)].map((h) => ({
    name: `L${h[1]}H${h[2]}`,
    layer: Number(h[1]),
    head: Number(h[2]),
    nas: Number(h[3]),
  }));
  if (topHeads.length === 0) return null;
  const knockout = /Without [^\n]* looking at "[^"]+": P\(Yes\) [^\n]*/.exec(text)?.[0] ?? null;
  return { nasTotal: Number(t[2]), pYes: Number(m[1]), pNo: Number(m[2]), topHeads, knockout };
}

/** This platform's package in the repository root (npm run package writes it; package:all writes them all). */
function findVsix(): string {
  if (process.env.NASA_LENS_VSIX) return path.resolve(process.env.NASA_LENS_VSIX);
  const prefix = `nasa-lens-${process.platform}-${process.arch}-`;
  const found = fs
    .readdirSync(ROOT)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.vsix'))
    .map((f) => path.join(ROOT, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (found.length === 0) throw new Error(`no ${prefix}*.vsix in ${ROOT}: run \`npm run package\` first (npm run test:e2e does)`);
  return found[0]!;
}

/** A copy of demo/ (or $NASA_LENS_E2E_DEMO), its model included, with workspace settings naming the model. */
function makeWorkspace(root: string): { workspace: string; modelDir: string } {
  const workspace = path.join(root, 'nasa-lens-demo');
  fs.cpSync(process.env.NASA_LENS_E2E_DEMO ?? path.join(ROOT, 'demo'), workspace, { recursive: true });
  const modelDir = path.join(workspace, 'model');
  if (!fs.existsSync(path.join(modelDir, 'config.json'))) {
    throw new Error(`the demo workspace has no model (${path.join(modelDir, 'config.json')}): it ships in demo/model`);
  }
  // A template (f-string) and a JSONL whose keys fill it: "Score This Template with a Dataset…".
  fs.writeFileSync(path.join(workspace, TEMPLATE_FILE), 'def ask(a, b):\n    return f"Is {a} greater than {b} ? Answer Yes or No ."\n');
  fs.writeFileSync(
    path.join(workspace, TEMPLATE_DATA),
    [
      [7, 3, 'yes'],
      [2, 9, 'no'],
      [8, 1, 'yes'],
      [4, 6, 'no'],
    ]
      .map(([a, b, label]) => JSON.stringify({ a, b, label }))
      .join('\n') + '\n',
  );
  fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
  fs.writeFileSync(
    path.join(workspace, '.vscode', 'settings.json'),
    JSON.stringify({ 'nasaLens.modelPath': modelDir, 'nasaLens.provider': 'cpu' }, null, 2),
  );
  return { workspace, modelDir };
}

const log = (s: string): void => console.log(`# e2e: ${s}`);

describe('NASA Lens in the real editor (code-server + Chromium)', { timeout: 20 * 60_000 }, () => {
  let editor: Editor;
  let page: Page;
  let workspace: string;
  let failed: string | null = null;
  let mdBefore: HoverNumbers;
  let alignFrame: FrameLocator;

  /** A step: skipped after a failure; on failure, a screenshot and the place of the logs. */
  function step(name: string, fn: (t: TestContext) => Promise<void>): void {
    it(name, { timeout: STEP_TIMEOUT }, async (t) => {
      if (failed) return t.skip(`skipped: "${failed}" failed`);
      const t0 = Date.now();
      log(`${name} …`);
      try {
        await fn(t);
        log(`${name}: ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        failed = name;
        const shot = await screenshot(page, `failure-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`).catch(() => null);
        const logs = editor ? path.join(editor.scratch, 'user-data', 'logs') : 'none';
        (e as Error).message += `\n(screenshot: ${shot ?? 'none'}; editor logs: ${logs})`;
        throw e;
      }
    });
  }

  before(async () => {
    const vsix = findVsix();
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-e2e-'));
    ({ workspace } = makeWorkspace(scratch));
    // Old screenshots would pass for new ones: remove ours (other suites may share the folder).
    for (const f of fs.existsSync(RESULTS) ? fs.readdirSync(RESULTS) : []) {
      if (f.startsWith('e2e-')) fs.rmSync(path.join(RESULTS, f));
    }
    log(`vsix ${path.relative(ROOT, vsix)}, workspace ${workspace}`);
    editor = await launchEditor({ workspace, vsix: [vsix], scratch, log });
    page = editor.page;
  });

  after(async () => {
    await editor?.close();
    // The scratch folder (user data, extensions, logs, workspace) is kept when a step failed.
    if (editor && !failed) fs.rmSync(editor.scratch, { recursive: true, force: true, maxRetries: 3 });
  });

  step('the extension activates and the status bar shows the model', async () => {
    // Activation is onLanguage: open a prompt file, then the server loads the model.
    await openFile(page, MD_FILE);
    const item = page.locator('#workbench\\.parts\\.statusbar .statusbar-item[id$="nasaLens.status"]');
    await waitFor(item, 'the NASA Lens status bar item (id …nasaLens.status): the extension did not activate', 60_000);
    // The demo's config.json has no model id, and its folder is called "model": the name is
    // taken with the workspace folder's (src/server/model-session.ts, modelDisplayName).
    const text = await poll(
      async () => (await item.innerText()).trim(),
      (s) => /adapter off/.test(s) && !/no model|NASA Lens$/.test(s),
      'the status bar to show the loaded model ("nasa-lens-demo/model · CPU · adapter off")',
      120_000,
    );
    assert.match(text, /nasa-lens-demo\/model · CPU · adapter off$/, `status bar: ${text}`);
    const label = (await item.getAttribute('aria-label')) ?? '';
    assert.doesNotMatch(label, /error/i, `status bar reports an error: ${label}`);
    log(`status bar: ${text}`);
    await screenshot(page, '1-status-bar');
  });

  step('hover on a Markdown prompt shows the answer, the knockout, NAS (top head) and ΣNAS with their meaning', async () => {
    await openFile(page, MD_FILE);
    const text = await hoverWord(page, MD_LINE, MD_WORD, scoredHover, 120_000);
    const n = parseHover(text)!;
    log(`md hover: ΣNAS ${n.nasTotal}, P(No) ${n.pNo}, top ${n.topHeads.map((h) => `${h.name} ${h.nas}`).join(', ')}; ${n.knockout}`);
    assert.ok(Math.abs(n.pYes + n.pNo - 1) <= 0.011, `P(Yes) + P(No) should be 1: ${text}`);
    assert.ok(n.topHeads.length >= 1, `no top heads in the hover: ${text}`);
    assert.match(
      n.knockout ?? '',
      /^Without L\d+H\d+.* looking at "No": P\(Yes\) \d\.\d\d → \d\.\d\d/,
      `no knockout in the hover: ${text}`,
    );
    assert.match(text, /NAS > 0: the head looks more at the negative answer than at the positive one/);
    assert.match(text, /What these numbers mean/);
    mdBefore = n;
    await screenshot(page, '2-hover-markdown');
    await escape(page);
  });

  step('hover on a Python prompt string: negative bias, the No comes from the knocked-out heads', async () => {
    await openFile(page, PY_FILE);
    const text = await hoverWord(page, PY_LINE, PY_WORD, scoredHover, 120_000);
    const n = parseHover(text)!;
    log(`py hover: ΣNAS ${n.nasTotal}, P(No) ${n.pNo}, top ${n.topHeads.map((h) => h.name).join(', ')}; ${n.knockout}`);
    assert.ok(Math.abs(n.pYes + n.pNo - 1) <= 0.011, `P(Yes) + P(No) should be 1: ${text}`);
    assert.match(text, /Negative bias: answers No because heads look at "No"/);
    assert.match(n.knockout ?? '', /— the No comes from these heads/);
    await screenshot(page, '3-hover-python');
    await escape(page);
  });

  step('the token view opens from the hover: the tokens the top head looks at', async () => {
    await openFile(page, PY_FILE);
    const text = await hoverWord(page, PY_LINE, PY_WORD, scoredHover, 60_000);
    const top = parseHover(text)!.topHeads[0]!;
    await page.locator('.monaco-editor .monaco-hover:not(.hidden) a', { hasText: `Tokens ${top.name} looks at` }).click();
    const view = await webview(page, '.token-state', 'Tokens');
    const title = await view.locator('h1').innerText();
    assert.equal(title, `Tokens ${top.name} looks at`);
    const states = await view.locator('.token-state h2').allInnerTexts();
    log(`token view: ${title}; ${states.join(' | ')}`);
    assert.deepEqual(
      states.map((s) => s.split(' · ')[0]),
      ['model'],
    );
    assert.equal(await view.locator('.tok.cand.negative').innerText(), 'No');
    await page.mouse.move(page.viewportSize()!.width - 20, page.viewportSize()!.height - 60); // the hover goes
    await screenshot(page, '4-token-view');
    await runCommand(page, 'View: Close Editor');
  });

  step('CodeLens and a negative-bias diagnostic where the knockout implicates the heads', async () => {
    await openFile(page, MD_FILE);
    await page.mouse.move(5, 500);
    // The lens above the hovered prompt agrees with its hover.
    const topHead = mdBefore.topHeads[0]!;
    const want = `P(Yes) ${mdBefore.pYes.toFixed(2)} · NAS (top head) ${topHead.name} ${topHead.nas.toFixed(2)}`;
    const lenses = await poll(
      () => codeLenses(page),
      (ls) => ls.some((l) => l.includes(want)),
      `a CodeLens containing "${want}" above the prompt`,
      60_000,
    );
    assert.ok(
      lenses.some((l) => /Align/.test(l)),
      `no "Align" CodeLens: ${JSON.stringify(lenses)}`,
    );
    assert.ok(
      lenses.some((l) => /ΣNAS -?\d+\.\d · knockout → \d\.\d\d/.test(l)),
      `no ΣNAS and knockout in the lenses: ${JSON.stringify(lenses)}`,
    );
    log(`lenses: ${JSON.stringify(lenses)}`);
    // The Markdown prompts' No answers are not tied to their heads: the diagnostic is on the Python one.
    await openFile(page, PY_FILE);
    await page.mouse.move(5, 500);
    await waitFor(
      page.locator('.editor-group-container.active .monaco-editor .squiggly-warning').first(),
      'a warning squiggle under a prompt',
      60_000,
    );
    const rows = await poll(
      () => problems(page),
      (r) => r.some((x) => /Negative bias/.test(x)),
      'a "Negative bias" NASA Lens diagnostic in the Problems panel',
      60_000,
    );
    const flagged = rows.filter((r) => /Negative bias/.test(r));
    log(`problems: ${JSON.stringify(flagged)}`);
    assert.ok(
      flagged.every((r) => /Without L\d+H\d+.* looking at "No": P\(Yes\) \d\.\d\d → \d\.\d\d — the No comes from/.test(r)),
      JSON.stringify(flagged),
    );
    assert.ok(
      !rows.some((r) => /prompts\.md/.test(r) && /Negative bias/.test(r)),
      `no Markdown prompt should be flagged: ${JSON.stringify(rows)}`,
    );
    await waitFor(editorLine(page, PY_LINE), 'the prompt line');
    await screenshot(page, '4-codelens-diagnostics');
    await page.keyboard.press('Control+Shift+M'); // hide the Problems panel again
  });

  step('Align Negative Heads runs a few steps, charts them and saves the adapter', async () => {
    await runCommand(page, 'NASA Lens: Align Negative Heads');
    alignFrame = await webview(page, 'form.align-form', 'Align Negative Heads');
    const chips = alignFrame.locator('.chips .chip[aria-pressed="true"]');
    if (
      (await poll(
        () => chips.count(),
        (n) => n > 0,
        'preselected heads',
        15_000,
      ).catch(() => 0)) === 0
    ) {
      // No preselection: pick the hover's top head on the panel's heat map.
      const top = mdBefore.topHeads[0]!;
      await alignFrame.locator(`.hm-cell[data-layer="${top.layer}"][data-head="${top.head}"]`).click();
    }
    const heads = await chips.allInnerTexts();
    log(`heads: ${heads.join(', ')}`);
    assert.ok(heads.length > 0, 'no head selected in the align panel');
    await poll(
      () => alignFrame.locator('.data-row .path').first().innerText(),
      (s) => /train\.jsonl/.test(s),
      'the training data (train.jsonl) to be preselected',
      15_000,
    );
    const lossChart = alignFrame.locator('canvas[data-points]').first();
    assert.equal(await lossChart.getAttribute('data-points'), '0', 'the loss chart should start empty');
    await alignFrame.locator('#f-steps').fill(String(ALIGN_STEPS));
    // Every text the status line takes, since the demo model's run can be over before a poll.
    await alignFrame.locator('.status').evaluate((el) => {
      const seen: string[] = [];
      (globalThis as unknown as { __statuses: string[] }).__statuses = seen;
      // Runs in the webview (the DOM is there, not in this file's types).
      type Observer = new (cb: () => void) => { observe(node: unknown, opts: object): void };
      const Observer = (globalThis as unknown as { MutationObserver: Observer }).MutationObserver;
      new Observer(() => seen.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
    });
    await alignFrame.locator('button[type="submit"]', { hasText: 'Start' }).click();

    const errorStatus = alignFrame.locator('.status.error');
    // The chart's point count; an error the panel shows ends the wait at once.
    const points = async (): Promise<number> => {
      if (await errorStatus.isVisible()) throw new Fatal(`the align panel shows an error: ${await errorStatus.innerText()}`);
      return Number((await lossChart.getAttribute('data-points')) ?? 0);
    };
    const first = await poll(points, (n) => n >= 1, 'the loss chart to get its first point', 120_000, 100);
    log(`chart points after the first step: ${first}`);
    // Once steps come in, the status no longer says it is starting.
    const running = await alignFrame.locator('.status').innerText();
    log(`status with ${first} step(s): ${running}`);
    assert.match(
      running,
      new RegExp(`^(Step \\d+ / ${ALIGN_STEPS} · aligning|Finished ${ALIGN_STEPS} steps)`),
      `status during the run: ${running}`,
    );
    await screenshot(page, '5-align-running');
    const save = alignFrame.locator('button', { hasText: 'Save & Apply' });
    await poll(
      () => save.isEnabled(),
      (v) => v,
      `the run of ${ALIGN_STEPS} steps to finish (Save & Apply enabled)`,
      150_000,
    );
    const last = await points();
    assert.equal(last, ALIGN_STEPS, `the loss chart should plot ${ALIGN_STEPS} steps, plots ${last}`);
    const statuses = await alignFrame.locator('.status').evaluate(() => (globalThis as unknown as { __statuses: string[] }).__statuses);
    log(`status line: ${[...new Set(statuses)].map((x) => JSON.stringify(x)).join(' → ')}`);
    assert.ok(
      statuses.some((x) => /^Starting NASA on/.test(x)),
      `no "Starting NASA on …" status: ${JSON.stringify(statuses)}`,
    );
    assert.ok(
      statuses.some((x) => new RegExp(`^Step \\d+ / ${ALIGN_STEPS} · aligning L\\d+H\\d+`).test(x)),
      `the status should switch to "Step n / ${ALIGN_STEPS} · aligning …" while the steps come in: ${JSON.stringify(statuses)}`,
    );
    const progress = await alignFrame.locator('.run-line').innerText();
    assert.match(progress, new RegExp(`Step ${ALIGN_STEPS} / ${ALIGN_STEPS}`), `progress line: ${progress}`);
    const results = await alignFrame.locator('.results table').innerText();
    assert.match(results, /Mean NAS/, `no before/after table: ${results}`);
    // The "alignment finished" notification: the numbers, and "Save & Apply…" as its primary button.
    const notice = page.locator('.notifications-toasts .notification-list-item', { hasText: 'alignment finished' });
    await waitFor(notice, 'the "alignment finished" notification', 30_000);
    const noticeText = await notice.innerText();
    log(`notification: ${noticeText.replace(/\s+/g, ' ')}`);
    const primary = notice.locator('.monaco-button').first();
    assert.equal((await primary.innerText()).trim(), 'Save & Apply…', `the notification's primary button: ${noticeText}`);
    // Measured on what, against which base; and the kept step.
    const measured = await alignFrame.locator('.results .measured').innerText();
    log(`before/after: ${measured}`);
    assert.match(measured, /^Measured on .*\(.* data, \d+ items\) · base: model /);
    await alignFrame.locator('.results').evaluate((e) => e.scrollIntoView({ block: 'center' }));
    await screenshot(page, '6-align-finished');

    await save.click();
    // VS Code's own save dialog (the simple, quick-input one in the browser): accept the proposed path.
    const input = await waitFor(page.locator('.quick-input-widget .quick-input-box input'), 'the save dialog for the adapter');
    const target = await poll(
      () => input.inputValue(),
      (v) => v.endsWith('.safetensors'),
      'the proposed adapter path',
    );
    log(`saving the adapter to ${target}`);
    await input.press('Enter');
    await poll(
      () => alignFrame.locator('.status').innerText(),
      (s) => /Adapter saved to .* applied/.test(s),
      'the panel to say the adapter was saved and applied',
      60_000,
    );
    // Said next to the Save buttons too, where the user is.
    const note = await alignFrame.locator('.save-actions .save-note').innerText();
    assert.match(note, /Saved to adapter-.*\.safetensors and applied/, `the note by the Save buttons: ${note}`);
    const saved = fs.readdirSync(workspace).filter((f) => f.endsWith('.safetensors'));
    assert.ok(saved.length === 1, `expected one adapter file in the workspace, found ${JSON.stringify(saved)}`);
    const status = page.locator('#workbench\\.parts\\.statusbar .statusbar-item[id$="nasaLens.status"]');
    await poll(
      async () => (await status.innerText()).trim(),
      (s) => /adapter on/.test(s),
      'the status bar to show "adapter on"',
      60_000,
    );
    await alignFrame.locator('.save-actions').evaluate((e) => e.scrollIntoView({ block: 'center' }));
    await screenshot(page, '7-adapter-saved');
  });

  step('the before/after results export to CSV', async () => {
    await alignFrame.locator('button', { hasText: 'Export results…' }).click();
    const input = await waitFor(page.locator('.quick-input-widget .quick-input-box input'), 'the save dialog for the export');
    const target = await poll(
      () => input.inputValue(),
      (v) => v.endsWith('.csv'),
      'the proposed export path',
    );
    log(`exporting to ${target}`);
    await input.press('Enter');
    const file = await poll(
      async () => fs.readdirSync(workspace).find((f) => f.startsWith('before-after-') && f.endsWith('.csv')),
      (f) => f !== undefined,
      'the exported CSV in the workspace',
      30_000,
    );
    const lines = fs.readFileSync(path.join(workspace, file!), 'utf8').trim().split('\r\n');
    log(`export: ${file} with ${lines.length - 1} rows; ${lines[1]}`);
    assert.equal(lines[0], 'prompt,label,p_yes_before,p_yes_after,predicted_before,predicted_after,heads_nas_before,heads_nas_after');
    assert.ok(lines.length > 2, 'one row per item');
    await screenshot(page, '7b-export');
    await openFile(page, file!);
    await screenshot(page, '7c-export-file');
  });

  step("with the adapter applied the hover's numbers change", async () => {
    await openFile(page, MD_FILE);
    const text = await hoverWord(
      page,
      MD_LINE,
      MD_WORD,
      (s) => {
        if (!scoredHover(s)) return false;
        const n = parseHover(s)!;
        return n.nasTotal !== mdBefore.nasTotal || n.pNo !== mdBefore.pNo;
      },
      120_000,
    );
    const n = parseHover(text)!;
    log(`md hover with the adapter: ΣNAS ${mdBefore.nasTotal} → ${n.nasTotal}, P(No) ${mdBefore.pNo} → ${n.pNo}`);
    // Adapter off vs on, side by side: off is what the hover said before the adapter.
    assert.match(text, /adapter off\s+adapter on/, `no before/after table in the hover: ${text}`);
    assert.match(text, new RegExp(`P\\(Yes\\)\\s+${mdBefore.pYes.toFixed(2)}\\s+${n.pYes.toFixed(2)}`), `the table's P(Yes) row: ${text}`);
    await screenshot(page, '8-hover-with-adapter');
    await page.locator('.monaco-editor .monaco-hover:not(.hidden) a', { hasText: `Tokens ${n.topHeads[0]!.name} looks at` }).click();
    const view = await webview(page, '.token-state', 'Tokens');
    await poll(
      () => view.locator('.token-state h2').allInnerTexts(),
      (s) => s.length === 2,
      'the token view with adapter off and on',
      30_000,
    );
    const states = await view.locator('.token-state h2').allInnerTexts();
    log(`token view with the adapter: ${states.join(' | ')}`);
    assert.deepEqual(
      states.map((s) => s.split(' · ')[0]),
      ['adapter off', 'adapter on'],
    );
    await page.mouse.move(page.viewportSize()!.width - 20, page.viewportSize()!.height - 60);
    await screenshot(page, '8b-token-view-adapter');
    await runCommand(page, 'View: Close Editor');
  });

  step('the dashboard shows the heat map and a click selects a head', async () => {
    await runCommand(page, 'NASA Lens: Show Dashboard');
    // The Prompts tree starts collapsed (package.json), so the dashboard gets the side bar's height.
    const dash = await webview(page, '.dash-header', 'Dashboard');
    const top = mdBefore.topHeads[0]!;
    const cell = dash.locator(`.hm-cell[data-layer="${top.layer}"][data-head="${top.head}"]`);
    await waitFor(cell, `the heat-map cell of ${top.name} on the dashboard`, 60_000);
    await poll(
      () => dash.locator('.prompt-table .prompt-row').count(),
      (n) => n >= 2,
      'the workspace prompt table',
      60_000,
    );
    // …in view without collapsing or resizing anything.
    const row = await dash.locator('.prompt-table .prompt-row').first().boundingBox();
    const viewport = page.viewportSize();
    assert.ok(
      row && viewport && row.y + row.height <= viewport.height - 30,
      `the first prompt row should be in view: ${JSON.stringify(row)} in ${JSON.stringify(viewport)}`,
    );
    const name = await dash.locator('.model-block .model-name').innerText();
    assert.equal(name, 'nasa-lens-demo/model', 'the dashboard names the model as the status bar does');
    const adapterLine = await dash.locator('.model-block').innerText();
    assert.match(adapterLine, /adapter: .*\.safetensors/, `the dashboard should name the applied adapter: ${adapterLine}`);
    await cell.click();
    await poll(
      () => cell.getAttribute('aria-selected'),
      (v) => v === 'true',
      `${top.name} to be selected after the click`,
      10_000,
    );
    await poll(
      () => dash.locator('.selection-line').innerText(),
      (s) => s.includes(top.name),
      `the selection line to name ${top.name}`,
      10_000,
    );
    await screenshot(page, '9-dashboard');
  });

  step('a template is not scored as written; scored over a dataset it shows its bias over the fills', async () => {
    await openFile(page, TEMPLATE_FILE);
    await poll(
      () => codeLenses(page),
      (l) => l.some((t) => /template: 2 placeholders · not scored/.test(t)),
      'the template lens',
      60_000,
    );
    await runCommand(page, 'NASA Lens: Score This Template with a Dataset…');
    const input = await waitFor(page.locator('.quick-input-widget .quick-input-box input'), 'the dataset quick pick');
    await input.fill(TEMPLATE_DATA);
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: TEMPLATE_DATA }).first().click();
    const lenses = await poll(
      () => codeLenses(page),
      (l) => l.some((t) => /template: 2 placeholders · 4 fills · P\(Yes\)/.test(t)),
      'the template scored over 4 fills',
      60_000,
    );
    log(`template lens: ${lenses.join(' | ')}`);
    const text = await hoverWord(page, 'greater than {b}', 'greater', (s) => /over 4 fills from pairs\.jsonl/.test(s));
    log(`template hover: ${text.replace(/\s+/g, ' ')}`);
    assert.match(text, /template: 2 placeholders \(a, b\)/);
    assert.match(text, /mean P\(Yes\) \d\.\d\d/);
    await screenshot(page, '10-template-scored');
    await escape(page);
  });
});
