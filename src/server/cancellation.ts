// LSP cancellation tokens as AbortSignals (what the engine's loops check), and the errors a request
// answers with: the client treats RequestCancelled as silence and shows RequestFailed's message.

import { LSPErrorCodes, ResponseError, type CancellationToken } from 'vscode-languageserver/node';
import { errorMessage, ModelLoadError } from '../model/errors.ts';
import type { RequestFailure } from '../protocol.ts';
import { ModelUnavailableError } from './model-session.ts';

/** A signal aborted as soon as any of the tokens is cancelled. */
export function signalOf(...tokens: (CancellationToken | undefined)[]): AbortSignal {
  const controller = new AbortController();
  for (const token of tokens) {
    if (token === undefined) continue;
    if (token.isCancellationRequested) controller.abort();
    else token.onCancellationRequested(() => controller.abort());
  }
  return controller.signal;
}

export function cancelledError(): ResponseError<void> {
  return new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled');
}

/** Runs a request handler; cancellation and failures become the response errors the client expects. */
export async function answer<T>(signal: AbortSignal, log: (m: string) => void, handler: () => Promise<T>): Promise<T> {
  try {
    const result = await handler();
    if (signal.aborted) throw cancelledError();
    return result;
  } catch (err) {
    if (err instanceof ResponseError) throw err;
    if (signal.aborted) throw cancelledError();
    const message = errorMessage(err).split('\n')[0]!;
    log(`request failed: ${message}`);
    throw new ResponseError<RequestFailure>(LSPErrorCodes.RequestFailed, message, failureOf(err));
  }
}

/** The code the client picks its fix by: the model is at fault (none loaded, or its files), or the request. */
export function failureOf(err: unknown): RequestFailure {
  return { code: err instanceof ModelUnavailableError || err instanceof ModelLoadError ? 'model' : 'request' };
}
