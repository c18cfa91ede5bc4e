// "Export…" for the dashboard's evaluation and the align panel's before/after: a save dialog
// (JSON or CSV, by the name's extension), then an atomic write of the per-item results.

import * as path from 'node:path';
import * as vscode from 'vscode';
import { exportFormat, renderResults, type ResultsDocument } from '../bias/results.ts';
import { writeOutputFile } from '../fs/safe-write.ts';

/** Asks where, writes, says where; returns the file written, or undefined when cancelled. */
export async function exportResults(doc: ResultsDocument, suggestedName: string): Promise<string | undefined> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const target = await vscode.window.showSaveDialog({
    title: `Export ${doc.items.length} ${doc.kind === 'alignment' ? 'before/after' : 'evaluation'} results`,
    filters: { CSV: ['csv'], JSON: ['json'] },
    defaultUri: folder ? vscode.Uri.joinPath(folder, suggestedName) : undefined,
  });
  if (!target) return undefined;
  const format = exportFormat(target.fsPath) ?? 'csv';
  const file = exportFormat(target.fsPath) ? target.fsPath : `${target.fsPath}.csv`;
  try {
    // The save dialog asked before replacing a file; the gate still refuses model files, the data
    // the results come from, and anything but a regular file.
    writeOutputFile(file, renderResults(doc, format), { what: 'results export', inputs: [doc.data], force: true });
  } catch (err) {
    void vscode.window.showErrorMessage(`NASA Lens: could not write ${path.basename(file)}: ${(err as Error).message}`);
    return undefined;
  }
  void vscode.window.showInformationMessage(`NASA Lens: exported ${doc.items.length} items to ${path.basename(file)}.`);
  return file;
}
