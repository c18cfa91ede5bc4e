// The `nasaLens.*` configuration as the LensSettings the server expects. package.json holds the
// schema and the defaults (test/vscode/manifest.test.ts keeps them equal to the server's); this file
// only reads and writes. The server validates what it receives.

import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LensSettings } from '../protocol.ts';

export const SECTION = 'nasaLens';

// Written as a record so that a key added to LensSettings fails to compile until it is read here.
const KEYS = Object.keys({
  modelPath: true,
  provider: true,
  candidatePairs: true,
  queryMode: true,
  chatTemplate: true,
  thinking: true,
  maxPromptTokens: true,
  diagnosticThreshold: true,
  knockoutMinShift: true,
  fileGlobs: true,
  adapterPath: true,
  weights: true,
} satisfies Record<keyof LensSettings, true>);

export function readSettings(): LensSettings {
  const c = vscode.workspace.getConfiguration(SECTION);
  // Every key has a default in package.json, so `get` returns a value for each.
  return Object.fromEntries(KEYS.map((k) => [k, c.get(k)])) as unknown as LensSettings;
}

/**
 * Writes a setting where it takes effect: the workspace when it already holds a value for the key
 * (a workspace value would shadow a user value), else the user settings. An adapter saved or
 * applied from the align panel follows the model the user chose.
 */
export async function updateSetting<K extends keyof LensSettings>(key: K, value: LensSettings[K]): Promise<void> {
  await vscode.workspace.getConfiguration(SECTION).update(key, value, targetOf(key));
}

/** Removes the key where it is set (workspace and user), so no empty value is left behind. */
export async function removeSetting(key: keyof LensSettings): Promise<void> {
  const c = vscode.workspace.getConfiguration(SECTION);
  const where = c.inspect(key);
  if (where?.workspaceValue !== undefined) await c.update(key, undefined, vscode.ConfigurationTarget.Workspace);
  if (where?.globalValue !== undefined) await c.update(key, undefined, vscode.ConfigurationTarget.Global);
}

function targetOf(key: keyof LensSettings): vscode.ConfigurationTarget {
  const where = vscode.workspace.getConfiguration(SECTION).inspect(key);
  return where?.workspaceValue !== undefined && vscode.workspace.workspaceFolders?.length
    ? vscode.ConfigurationTarget.Workspace
    : vscode.ConfigurationTarget.Global;
}

/**
 * The model path goes to the user settings unless the user picks this workspace; a workspace value
 * is written relative to the workspace when the model lies inside it.
 */
export async function writeModelPath(dir: string): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  const user = { label: 'User settings', description: 'every workspace uses this model', target: vscode.ConfigurationTarget.Global };
  const workspace = {
    label: 'This workspace',
    description: folder ? `.vscode/settings.json of ${folder.name}` : '',
    target: vscode.ConfigurationTarget.Workspace,
  };
  const picked = folder ? await vscode.window.showQuickPick([user, workspace], { title: 'Save the model path in…' }) : user;
  if (!picked) return;
  let value = dir;
  if (picked.target === vscode.ConfigurationTarget.Workspace && folder) {
    const rel = path.relative(folder.uri.fsPath, dir);
    if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) value = rel;
  }
  await vscode.workspace.getConfiguration(SECTION).update('modelPath', value, picked.target);
}
