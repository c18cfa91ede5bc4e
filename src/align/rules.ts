// The bounds of NASA's numeric settings, in one place for the CLI's flags, the server's request
// schema (src/protocol-schemas.ts) and the align panel's form. No imports: the webview bundles it.

export type AlignNumber = 'align' | 'task' | 'keep' | 'steps' | 'lr' | 'batch' | 'seed' | 'accuracyTolerance' | 'evalEvery' | 'patience';

export interface NumberRule {
  integer: boolean;
  min: number;
  /** The value must be strictly greater than `min`. */
  exclusiveMin?: boolean;
  max?: number;
}

export const ALIGN_RULES: Readonly<Record<AlignNumber, NumberRule>> = {
  align: { integer: false, min: 0 },
  task: { integer: false, min: 0 },
  keep: { integer: false, min: 0 },
  steps: { integer: true, min: 1, max: 1_000_000 },
  lr: { integer: false, min: 0, exclusiveMin: true, max: 1e3 },
  batch: { integer: true, min: 1, max: 65_536 },
  seed: { integer: true, min: 0, max: 2 ** 32 - 1 },
  /** A fraction of 1 (0.02 = 2 accuracy points). */
  accuracyTolerance: { integer: false, min: 0, max: 1 },
  evalEvery: { integer: true, min: 1, max: 1_000_000 },
  patience: { integer: true, min: 1, max: 1_000_000 },
};

/**
 * What is wrong with `value` for the setting `name`, completing "<name> …" ("must be a whole number"), or null.
 * `scale`: the value is shown in units of 1/scale of the setting (the panel's tolerance in points: 100), and so are the bounds named.
 */
export function alignNumberProblem(name: AlignNumber, value: number, scale = 1): string | null {
  const rule = ALIGN_RULES[name];
  if (!Number.isFinite(value)) return 'must be a number';
  if (rule.integer && !Number.isInteger(value)) return 'must be a whole number';
  const min = rule.min * scale;
  if (rule.exclusiveMin ? value <= min : value < min) return `must be ${rule.exclusiveMin ? 'greater than' : 'at least'} ${min}`;
  if (rule.max !== undefined && value > rule.max * scale) return `must be at most ${rule.max * scale}`;
  return null;
}
