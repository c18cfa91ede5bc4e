// How failures reach the user: one error message that says what went wrong, with the button that
// fixes it. Cancellations are not failures and stay silent.

import * as vscode from 'vscode';
import { COMMAND } from '../command-ids.ts';
import { LSPErrorCodes, ResponseError } from 'vscode-languageclient/node';
import type { RequestFailure } from '../protocol.ts';
import { UntrustedError, type LensClient } from './language-client.ts';

export function isCancellation(err: unknown): boolean {
  return (
    err instanceof vscode.CancellationError ||
    (err instanceof ResponseError && (err.code === LSPErrorCodes.RequestCancelled || err.code === LSPErrorCodes.ServerCancelled))
  );
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether the server said the model is at fault (none loaded, or its files): another model is the fix. */
function isModelFailure(err: unknown): boolean {
  return err instanceof ResponseError && (err.data as Partial<RequestFailure> | undefined)?.code === 'model';
}

/** `what` completes "NASA Lens: could not …", e.g. "scan the workspace". */
export async function reportError(lens: LensClient, what: string, err: unknown): Promise<void> {
  if (isCancellation(err)) return;
  const message = `NASA Lens could not ${what}: ${errorMessage(err)}`;
  if (err instanceof UntrustedError) {
    if ((await vscode.window.showErrorMessage(message, 'Manage Workspace Trust')) !== undefined) {
      await vscode.commands.executeCommand('workbench.trust.manage');
    }
    return;
  }
  const fix = isModelFailure(err) ? 'Select Model…' : undefined;
  const picked = await vscode.window.showErrorMessage(message, ...(fix ? [fix] : []), 'Show Log');
  if (picked === 'Select Model…') await vscode.commands.executeCommand(COMMAND.selectModel);
  else if (picked === 'Show Log') lens.client.outputChannel.show(true);
}
