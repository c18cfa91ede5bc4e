// The extension in a real VS Code: activation, status bar, views, commands, and the language
// server's hovers and CodeLenses on the demo workspace, scored by the planted test model that
// test/vscode/run.ts wrote and named in the workspace settings. Tests run in order and share state.

import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { LensApi } from '../../../src/client/extension.ts';
import type { ScanWorkspaceResult } from '../../../src/protocol.ts';
import { eventually, test } from './harness.ts';

const EXTENSION_ID = 'nasa-lens.nasa-lens';
const MODEL_NAME = process.env.NASA_LENS_TEST_MODEL_NAME ?? 'planted-model';
const NAS = /\bNAS\b/; // not "NASA"

let api: LensApi;

test('activates and registers every command of package.json', async () => {
  const ext = vscode.extensions.getExtension<LensApi>(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is not installed in the test instance`);
  api = await ext.activate();
  const registered = new Set(await vscode.commands.getCommands(true));
  const declared: string[] = ext.packageJSON.contributes.commands.map((c: { command: string }) => c.command);
  assert.deepEqual(
    declared.filter((c) => !registered.has(c)),
    [],
  );
});

test('the status bar names the model', async () => {
  const text = await eventually(
    'the model in the status bar',
    () => (api.statusText().includes(MODEL_NAME) ? api.statusText() : undefined),
    90_000,
  );
  assert.match(text, /CPU|GPU/);
}, 100_000);

test('Show Dashboard opens the dashboard, which gets the server data', async () => {
  await vscode.commands.executeCommand('nasaLens.showDashboard');
  const data = await eventually('dashboard data', () => api.dashboard() ?? undefined);
  assert.equal(data.model?.name, MODEL_NAME);
});

test('Scan Workspace scores the demo prompts', async () => {
  const result = await vscode.commands.executeCommand<ScanWorkspaceResult | undefined>('nasaLens.scanWorkspace');
  assert.ok(result && result.prompts > 0 && result.files >= 2, `scan result: ${JSON.stringify(result)}`);
  const rows = api.dashboard()?.prompts ?? [];
  assert.ok(
    rows.some((r) => r.uri.endsWith('/prompts.md')),
    'prompts.md is in the dashboard data',
  );
  assert.ok(
    rows.every((r) => r.pYes + r.pNo > 0.999 && r.pYes + r.pNo < 1.001),
    'P(Yes) + P(No) = 1',
  );
}, 180_000);

test('a scanned file changed on disk, outside the editor, is read and scored again', async () => {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the test instance has the demo workspace open');
  const file = vscode.Uri.joinPath(folder.uri, 'questions.md');
  const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(file));
  const added = 'Did the file watcher see this new question? Answer Yes or No.';
  // workspace.fs writes to disk directly; no editor holds questions.md.
  await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(`${text}\n\n${added}\n`));
  await eventually(
    'the new prompt in the dashboard data',
    () => api.dashboard()?.prompts.find((r) => r.text.includes('file watcher')),
    90_000,
  );
}, 100_000);

test('a hover on a prompt shows its NAS', async () => {
  const { uri, position } = await firstPrompt('prompts.md');
  const text = await eventually(
    'a hover with NAS',
    async () => {
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, position);
      const all = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
      return NAS.test(all) ? all : undefined;
    },
    60_000,
  );
  assert.match(text, /P\(No\)|P\(Yes\)/);
}, 70_000);

test('CodeLenses above the prompts show NAS and Align', async () => {
  const { uri } = await firstPrompt('prompts.md');
  const titles = await eventually(
    'CodeLenses with NAS',
    async () => {
      const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri, 100);
      const t = lenses.map((l) => l.command?.title ?? '');
      return t.some((s) => NAS.test(s)) ? t : undefined;
    },
    60_000,
  );
  assert.ok(
    titles.some((t) => /Align/.test(t)),
    `titles: ${titles.join(' | ')}`,
  );
}, 70_000);

test('Align Negative Heads opens the align panel', async () => {
  await vscode.commands.executeCommand('nasaLens.alignHeads', { heads: [{ layer: 0, head: 1 }] });
  await eventually('the align panel tab', () =>
    vscode.window.tabGroups.all
      .flatMap((g) => g.tabs)
      .some((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.includes('nasaLens.align'))
      ? true
      : undefined,
  );
});

/** The first line of `file` (in the workspace) that names two answers, opened in an editor. */
async function firstPrompt(file: string): Promise<{ uri: vscode.Uri; position: vscode.Position }> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the test instance has the demo workspace open');
  const uri = vscode.Uri.joinPath(folder.uri, file);
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.window.showTextDocument(doc);
  for (let line = 0; line < doc.lineCount; line++) {
    const text = doc.lineAt(line).text;
    if (/\b(yes|true)\b.*\b(no|false)\b|\b(no|false)\b.*\b(yes|true)\b/i.test(text)) {
      return { uri, position: new vscode.Position(line, doc.lineAt(line).firstNonWhitespaceCharacterIndex + 1) };
    }
  }
  throw new Error(`${file} has no yes/no prompt`);
}
