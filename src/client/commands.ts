// The `nasaLens.*` commands of package.json's contributes.commands, one function each.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { COMMAND, type CommandName } from '../command-ids.ts';
import { formatHead, topHeads } from '../bias/nas.ts';
import type { DashboardData, EvalReport, HeadRef, ScanWorkspaceResult } from '../protocol.ts';
import { EvaluateRequest, ScanWorkspaceRequest, TemplateDataRequest } from '../lsp-ext.ts';
import type { AlignPanel } from './align-panel.ts';
import type { DashboardStore } from './dashboard-data.ts';
import { DashboardView } from './dashboard-view.ts';
import { openDemo } from './demo.ts';
import { reportError } from './errors.ts';
import type { LensClient } from './language-client.ts';
import type { ShowTokensArgs, TokenView } from './token-view.ts';
import { readSettings, removeSetting, updateSetting, writeModelPath } from './settings.ts';

/** Heads preselected when Align is run without a selection. */
const DEFAULT_ALIGN_HEADS = 3;

export interface Parts {
  context: vscode.ExtensionContext;
  lens: LensClient;
  store: DashboardStore;
  dashboard: DashboardView;
  align: AlignPanel;
  tokens: TokenView;
}

export function registerCommands(parts: Parts): void {
  const { context, lens, store, align } = parts;
  const handlers: Record<CommandName, (...args: never[]) => unknown> = {
    selectModel: selectModel,
    applyAdapter: applyAdapter,
    removeAdapter: () => removeSetting('adapterPath'),
    showDashboard: () => vscode.commands.executeCommand(`${DashboardView.viewId}.focus`),
    scanWorkspace: () => scanWorkspace(lens, store),
    evaluateDataset: () => evaluateDataset(lens, store),
    alignHeads: (args?: { heads?: HeadRef[] }) => alignHeadsCommand(parts, args?.heads),
    stopAlignment: () => align.stop(),
    saveAdapter: () => align.saveAdapter(true),
    openDemo: () => openDemo(context),
    showTokens: (args?: ShowTokensArgs) => parts.tokens.show(args).catch((err: unknown) => reportError(lens, 'show the tokens', err)),
    // The explainer ships with the extension: what NAS, ΣNAS, prg and the knockout mean.
    explain: () =>
      vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.joinPath(context.extensionUri, 'media', 'explainer.md')),
    scoreTemplate: (args?: { uri?: string }) => scoreTemplate(lens, store, args?.uri),
  };
  for (const [name, id] of Object.entries(COMMAND) as [CommandName, string][]) {
    context.subscriptions.push(vscode.commands.registerCommand(id, handlers[name]));
  }
}

/**
 * Opens the align panel on `heads`, else on the dashboard's selection, else on the most negative
 * heads; with nothing scored yet it scans the workspace first, since the panel's heat map is where
 * the user picks heads.
 */
async function alignHeadsCommand({ lens, store, dashboard, align }: Parts, heads: HeadRef[] | undefined): Promise<void> {
  if (heads) return align.show(heads);
  if (dashboard.selectedHeads.length) return align.show(dashboard.selectedHeads);
  let data = await store.get();
  if (data?.model && !data.heatmap.length) {
    await scanWorkspace(lens, store);
    data = store.current;
  }
  return align.show(mostNegativeHeads(data));
}

/** The heads of the last evaluation (a labelled set) if there is one, else the workspace heat map's. */
function mostNegativeHeads(data: DashboardData | null): HeadRef[] {
  const ranked = data?.evaluation?.topHeads ?? (data?.heatmap.length ? topHeads(data.heatmap, DEFAULT_ALIGN_HEADS) : []);
  // Only heads that favour the negative candidate: aligning a head with NAS ≤ 0 has nothing to fix.
  return ranked
    .filter((h) => h.nas > 0)
    .slice(0, DEFAULT_ALIGN_HEADS)
    .map(({ layer, head }) => ({ layer, head }));
}

const MODEL_HINT =
  'Select a model directory with config.json, *.safetensors and tokenizer.json (a Hugging Face checkpoint downloaded to disk).';

async function selectModel(): Promise<void> {
  const current = readSettings().modelPath;
  const picked = await vscode.window.showOpenDialog({
    title: 'Select a model directory (config.json, *.safetensors, tokenizer.json)',
    canSelectFiles: false,
    canSelectFolders: true,
    canSelectMany: false,
    openLabel: 'Select Model',
    defaultUri: current ? vscode.Uri.file(current) : vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  const dir = picked?.[0]?.fsPath;
  if (!dir) return;
  const missing = missingModelFiles(dir);
  if (missing.length) {
    const again = await vscode.window.showErrorMessage(
      `NASA Lens: ${path.basename(dir)} has no ${missing.join(', ')}. ${MODEL_HINT}`,
      'Select Again',
    );
    if (again) await selectModel();
    return;
  }
  await writeModelPath(dir);
}

/** A quick check before the server loads the model (which then reports anything deeper). */
function missingModelFiles(dir: string): string[] {
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return ['readable files'];
  }
  return [
    files.includes('config.json') ? '' : 'config.json',
    files.some((f) => f.endsWith('.safetensors')) ? '' : '*.safetensors',
    files.includes('tokenizer.json') ? '' : 'tokenizer.json',
  ].filter(Boolean);
}

async function applyAdapter(): Promise<void> {
  const picked = await vscode.window.showOpenDialog({
    title: 'Apply a NASA adapter to every score',
    canSelectMany: false,
    filters: { 'NASA adapter': ['safetensors'] },
    openLabel: 'Apply Adapter',
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  if (picked?.[0]) await updateSetting('adapterPath', picked[0].fsPath);
}

async function scanWorkspace(lens: LensClient, store: DashboardStore): Promise<ScanWorkspaceResult | undefined> {
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'NASA Lens: scoring the prompts of the workspace', cancellable: true },
      (_progress, token) => lens.request(ScanWorkspaceRequest, {}, token),
    );
    await store.refresh();
    void vscode.window.showInformationMessage(
      `NASA Lens: scored ${result.prompts} prompt${result.prompts === 1 ? '' : 's'} in ${result.files} ` +
        `file${result.files === 1 ? '' : 's'}.`,
    );
    return result;
  } catch (err) {
    await reportError(lens, 'scan the workspace', err);
    return undefined;
  }
}

async function evaluateDataset(lens: LensClient, store: DashboardStore): Promise<EvalReport | undefined> {
  const picked = await vscode.window.showOpenDialog({
    title: 'Evaluate a labelled data set (JSONL: {"prompt", "label": "yes"|"no"})',
    canSelectMany: false,
    filters: { 'JSON Lines': ['jsonl'] },
    openLabel: 'Evaluate',
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  const file = picked?.[0]?.fsPath;
  if (!file) return undefined;
  try {
    const report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `NASA Lens: evaluating ${path.basename(file)}`, cancellable: true },
      (_progress, token) => lens.request(EvaluateRequest, { path: file }, token),
    );
    await store.refresh();
    void vscode.commands.executeCommand(COMMAND.showDashboard);
    void announceEvaluation(report);
    return report;
  } catch (err) {
    await reportError(lens, `evaluate ${path.basename(file)}`, err);
    return undefined;
  }
}

async function announceEvaluation(r: EvalReport): Promise<void> {
  const m = r.metrics;
  const f = (x: number | null) => (x === null ? 'n/a' : x.toFixed(2));
  const bias = m.prg !== null && m.prg > 0 ? ': negative bias (precision > recall)' : '';
  const top = r.topHeads.filter((h) => h.nas > 0).slice(0, DEFAULT_ALIGN_HEADS);
  const heads = top.length ? ` Most negative heads: ${top.map(formatHead).join(', ')}.` : '';
  const text =
    `NASA Lens: ${path.basename(r.file)}, ${m.n} items: precision ${f(m.precision)}, recall ` +
    `${f(m.recall)}, prg ${f(m.prg)}${bias}.${heads}`;
  const picked = await vscode.window.showInformationMessage(text, ...(top.length ? ['Align These Heads'] : []));
  if (picked) await vscode.commands.executeCommand(COMMAND.alignHeads, { heads: top.map(({ layer, head }) => ({ layer, head })) });
}

/**
 * "Score this template with a dataset…": a JSONL of the workspace (or any, via Browse…) whose keys
 * fill the template's placeholders; the server fills, scores and shows the template's bias over it.
 */
async function scoreTemplate(
  lens: LensClient,
  store: DashboardStore,
  uri = vscode.window.activeTextEditor?.document.uri.toString(),
): Promise<void> {
  if (!uri) return void vscode.window.showInformationMessage('NASA Lens: open the file that holds the template first.');
  const found = await vscode.workspace.findFiles('**/*.{jsonl,ndjson}', '**/node_modules/**', 200);
  const browse = { label: '$(folder-opened) Browse…', path: '' };
  const items = [...found.map((f) => ({ label: vscode.workspace.asRelativePath(f), path: f.fsPath })), browse];
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Score this template with a dataset: a JSONL whose keys are its placeholders',
  });
  if (!picked) return;
  let file = picked.path;
  if (picked === browse) {
    const chosen = await vscode.window.showOpenDialog({
      canSelectMany: false,
      filters: { 'JSON Lines': ['jsonl', 'ndjson'] },
      openLabel: 'Score With',
    });
    if (!chosen?.[0]) return;
    file = chosen[0].fsPath;
  }
  try {
    const r = await lens.request(TemplateDataRequest, { uri, path: file });
    const note =
      r.filled === 0
        ? `none of the ${r.rows} rows of ${path.basename(file)} has every placeholder as a key`
        : `${r.filled} fill${r.filled === 1 ? '' : 's'} from ${r.rows} rows of ${path.basename(file)}; the ` +
          `hover and the dashboard show the template's bias over them`;
    void vscode.window.showInformationMessage(`NASA Lens: ${note}.`);
    void store.refresh();
  } catch (err) {
    await reportError(lens, `fill the template from ${path.basename(file)}`, err);
  }
}
