// The one error type for bad user input to scoring: prompts, data files and head lists.
// Front ends (CLI, language server) show its message as is, on one line, so messages must say
// what was wrong and what was expected; anything else thrown from src/bias is a programming error.

export class PromptError extends Error {
  override name = 'PromptError';
}
