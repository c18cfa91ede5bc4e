// The ids of the extension's commands, in one place for the client that registers them, the server
// whose CodeLenses and hover links invoke them, and the webview hosts. test/vscode/manifest.test.ts
// checks them against package.json's contributes.commands, both ways.

export const COMMAND = {
  alignHeads: 'nasaLens.alignHeads',
  scanWorkspace: 'nasaLens.scanWorkspace',
  selectModel: 'nasaLens.selectModel',
  showDashboard: 'nasaLens.showDashboard',
  evaluateDataset: 'nasaLens.evaluateDataset',
  applyAdapter: 'nasaLens.applyAdapter',
  removeAdapter: 'nasaLens.removeAdapter',
  stopAlignment: 'nasaLens.stopAlignment',
  saveAdapter: 'nasaLens.saveAdapter',
  openDemo: 'nasaLens.openDemo',
  /** Arguments: [ShowTokensArgs] (src/server/features/format.ts). */
  showTokens: 'nasaLens.showTokens',
  /** Opens the explainer page (what NAS, ΣNAS, prg and the knockout mean). */
  explain: 'nasaLens.explain',
  /** Arguments: [{ uri }]: pick a JSONL whose keys fill the template's placeholders. */
  scoreTemplate: 'nasaLens.scoreTemplate',
} as const;

export type CommandName = keyof typeof COMMAND;
export type CommandId = (typeof COMMAND)[CommandName];

/** Every command id; also the only commands that `command:` links in the server's hovers may run. */
export const COMMAND_IDS: readonly CommandId[] = Object.values(COMMAND);
