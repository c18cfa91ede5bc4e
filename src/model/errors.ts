// The one error type for everything that can go wrong while reading a model directory.
// Front ends (CLI, language server) show `message` as is, so every message names the file at fault
// and, where there is one, the fix.

export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The message of an unknown thrown value, for wrapping library errors into a ModelLoadError. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
