// The NASA run of `npm run demo`, in one place: scripts/demo.ts runs it through the CLI, and the
// study (docs/results.md) runs the very same CLI commands, so the adapter the acceptance checks judge
// is the one the demo writes. The settings are the ones the study chose on the validation set.

import * as path from 'node:path';
import { main, type Io } from '../../src/cli/main.ts';
import type { HeadScore } from '../../src/bias/nas.ts';

export const DEMO_ALIGN = { k: 4, steps: 600, lr: 0.01, keep: 1, task: 50, batch: 16, seed: 7 } as const;

export interface DemoPaths {
  model: string;
  /** NASA's training set and the heads' ranking set: a copy of the suite's NASA training set. */
  train: string;
  /** The suite's validation set: early stopping. */
  val: string;
  /** A slice of the held-out template family's test set. */
  test: string;
}

export function demoPaths(root: string, model = path.join(root, 'demo', 'model')): DemoPaths {
  return {
    model,
    train: path.join(root, 'demo', 'train.jsonl'),
    val: path.join(root, 'scripts', 'demo-model', 'data', 'val.jsonl'),
    test: path.join(root, 'demo', 'test.jsonl'),
  };
}

export function headsArgs(p: DemoPaths, k: number = DEMO_ALIGN.k): string[] {
  return ['heads', '--model', p.model, '--data', p.train, '--top', String(k)];
}

export function alignArgs(p: DemoPaths, heads: readonly HeadScore[], out: string): string[] {
  const s = DEMO_ALIGN;
  return [
    'align',
    '--model',
    p.model,
    '--data',
    p.train,
    '--val',
    p.val,
    '--heads',
    heads.map((h) => `${h.layer}:${h.head}`).join(','),
    '--steps',
    String(s.steps),
    '--lr',
    String(s.lr),
    '--lambda-keep',
    String(s.keep),
    '--lambda-task',
    String(s.task),
    '--batch',
    String(s.batch),
    '--seed',
    String(s.seed),
    '--out',
    out,
  ];
}

/** The top heads of the demo's training set, read through the CLI's JSON output. */
export async function demoTopHeads(p: DemoPaths, log: (s: string) => void, k: number = DEMO_ALIGN.k): Promise<HeadScore[]> {
  let json = '';
  const code = await main([...headsArgs(p, k), '--json'], { out: (s) => (json += s), log });
  if (code !== 0) throw new Error('nasa-lens heads failed');
  return JSON.parse(json).topHeads;
}

/** Writes the demo's adapter to `out` through the CLI (quietly unless `io` is given). */
export async function demoAlign(p: DemoPaths, heads: readonly HeadScore[], out: string, io?: Io): Promise<void> {
  const quiet: Io = { out: () => {}, log: () => {} };
  const code = await main(alignArgs(p, heads, out), io ?? quiet);
  if (code !== 0) throw new Error('nasa-lens align failed');
}
