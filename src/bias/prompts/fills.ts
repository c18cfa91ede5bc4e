// Example values for templates from a JSONL file: each line's object is one fill (its keys are
// the placeholders it fills), with its "label" as the expected answer. Lines that are not objects
// are skipped; a fill that lacks a placeholder's key is left out when the template is filled.

import { parseLabel, splitLines } from '../dataset.ts';
import type { TemplateFill } from './promptfoo.ts';

export function fillsFromJsonl(text: string): TemplateFill[] {
  return splitLines(text).flatMap((line) => {
    if (line.trim() === '') return [];
    try {
      const obj = JSON.parse(line) as unknown;
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return [];
      const vars = obj as Record<string, unknown>;
      return [{ vars, label: parseLabel(vars.label) ?? null }];
    } catch {
      return [];
    }
  });
}
