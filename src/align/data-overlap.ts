// Training data that is also the validation or evaluation data makes the before/after numbers
// flattering: the adapter was fitted to the very items it is judged on. The CLI and the Align panel
// say so before training starts. Prompts are compared after collapsing whitespace.

export interface DataOverlap {
  /** Training prompts that also occur in the other set. */
  shared: number;
  trainItems: number;
  otherItems: number;
}

const normalize = (prompt: string) => prompt.replace(/\s+/g, ' ').trim();

export function dataOverlap(train: readonly { prompt: string }[], other: readonly { prompt: string }[]): DataOverlap {
  const seen = new Set(other.map((it) => normalize(it.prompt)));
  const shared = train.filter((it) => seen.has(normalize(it.prompt))).length;
  return { shared, trainItems: train.length, otherItems: other.length };
}

/**
 * One sentence when the training data is the other set's file or shares prompts with it; null
 * when they are disjoint. `role` names the other set: "validation" or "evaluation".
 */
export function overlapWarning(trainFile: string, otherFile: string, role: string, overlap: DataOverlap | null): string | null {
  const name = (f: string) => f.split(/[\\/]/).pop() ?? f;
  if (samePath(trainFile, otherFile)) {
    return `The training data is also the ${role} data (${name(trainFile)}): the ${role} metrics will flatter the adapter.`;
  }
  if (!overlap || overlap.shared === 0) return null;
  const share = `${overlap.shared} of the ${overlap.trainItems} training prompts`;
  return `${share} also occur in the ${role} data (${name(otherFile)}): the ${role} metrics will flatter the adapter.`;
}

function samePath(a: string, b: string): boolean {
  const norm = (p: string) => p.replace(/\\/g, '/').replace(/\/+$/, '');
  return norm(a) === norm(b);
}
