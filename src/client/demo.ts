// Open Demo Workspace (the walkthrough's first step): a copy of the extension's demo/ folder
// (prompts, labelled data and the small demo model in demo/model) in the extension's global
// storage, so the installed extension stays read-only and the user's edits survive updates.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { errorMessage } from './errors.ts';

export async function openDemo(context: vscode.ExtensionContext): Promise<void> {
  const folder = path.join(context.globalStorageUri.fsPath, 'demo');
  try {
    // force: false never overwrites: the user may have edited the demo prompts.
    fs.cpSync(context.asAbsolutePath('demo'), folder, { recursive: true, force: false, errorOnExist: false });
  } catch (err) {
    void vscode.window.showErrorMessage(`NASA Lens could not copy the demo workspace to ${folder}: ${errorMessage(err)}`);
    return;
  }
  const open = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (open && path.relative(open, folder) === '') {
    // Already there: show the prompts instead of reloading the window.
    await vscode.window.showTextDocument(vscode.Uri.file(path.join(folder, 'prompts.md')));
    return;
  }
  await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(folder));
}
