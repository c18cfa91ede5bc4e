// The `nasaLens.*` configuration as the LensSettings the server expects. package.json holds the
// schema and the defaults (test/vscode/manifest.test.ts keeps them equal to the server's); this file
// only reads and writes. The server validates what it receives.

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
 * Writes a setting where it takes effect: the workspace when one is open (a model or adapter is
 * usually chosen per project, and a workspace value would shadow a user value anyway), else the
 * user settings.
 */
export async function updateSetting<K extends keyof LensSettings>(key: K, value: LensSettings[K]): Promise<void> {
  const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await vscode.workspace.getConfiguration(SECTION).update(key, value, target);
}
