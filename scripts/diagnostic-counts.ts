// What the language server would flag in a workspace, counted: every prompt file under a folder is
// indexed and scored as the server does (same settings, knockout included), then its diagnostics
// are compared with the expected answers written next to the prompts (JSONL labels, `expect:`
// annotations). Usage:
//   node --import tsx scripts/diagnostic-counts.ts FOLDER --model DIR [--json]
// Reports, per file and in total: prompts, diagnostics (negative bias / wrong No), and over the
// labelled prompts: answered right, flagged although right (should be 0), wrong No, and wrong No
// flagged with knockout evidence.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { openScoringRunner } from '../src/align/adapter.ts';
import { DIAGNOSTIC_CODE, diagnosticsFor, WRONG_NO_CODE } from '../src/server/features/diagnostics.ts';
import { PromptIndex } from '../src/server/prompt-index.ts';
import { scoreInputs } from '../src/server/scorer.ts';
import { DEFAULT_SETTINGS, scanOptionsOf } from '../src/server/settings.ts';
import { globToRegExp } from '../src/server/workspace-files.ts';

export interface Counts {
  prompts: number;
  negativeBias: number;
  wrongNo: number;
  labelled: number;
  right: number;
  flaggedRight: number;
  answeredWrongNo: number;
  wrongNoWithKnockoutEvidence: number;
}

const empty = (): Counts => ({
  prompts: 0,
  negativeBias: 0,
  wrongNo: 0,
  labelled: 0,
  right: 0,
  flaggedRight: 0,
  answeredWrongNo: 0,
  wrongNoWithKnockoutEvidence: 0,
});

function files(root: string): string[] {
  const match = globToRegExp(DEFAULT_SETTINGS.fileGlobs[0]!);
  return (fs.readdirSync(root, { recursive: true }) as string[])
    .map((f) => f.split(path.sep).join('/'))
    .filter((f) => !f.split('/').includes('node_modules') && match.test(f) && fs.statSync(path.join(root, f)).isFile())
    .sort();
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { model: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const root = positionals[0];
  if (!root || !values.model) throw new Error('usage: diagnostic-counts.ts FOLDER --model DIR [--json]');
  const settings = { ...DEFAULT_SETTINGS };
  const runner = await openScoringRunner(values.model, undefined, { provider: 'cpu', knockout: true });
  const index = new PromptIndex();
  const perFile: Record<string, Counts> = {};
  const total = empty();
  try {
    for (const name of files(root)) {
      const file = index.setDiskFile(path.resolve(root, name), fs.readFileSync(path.join(root, name), 'utf8'), settings.candidatePairs);
      const entries = await scoreInputs(
        runner,
        file.prompts.map((p) => p.input),
        scanOptionsOf(settings),
      );
      const entryOf = new Map(file.prompts.map((p, i) => [p, entries[i]]));
      const diagnostics = diagnosticsFor(file, (p) => entryOf.get(p), settings);
      const c = empty();
      c.prompts = file.prompts.length;
      c.negativeBias = diagnostics.filter((d) => d.code === DIAGNOSTIC_CODE).length;
      c.wrongNo = diagnostics.filter((d) => d.code === WRONG_NO_CODE).length;
      file.prompts.forEach((p, i) => {
        const e = entries[i]!;
        if (!e.ok || p.label === null) return;
        const d = diagnostics.find((x) => x.range.start.line === p.range.start.line && x.range.start.character === p.range.start.character);
        const answer = e.score.pYes >= 0.5 ? 'yes' : 'no';
        c.labelled++;
        if (answer === p.label) {
          c.right++;
          if (d) c.flaggedRight++;
        } else if (p.label === 'yes') {
          c.answeredWrongNo++;
          if (d?.code === DIAGNOSTIC_CODE) c.wrongNoWithKnockoutEvidence++;
        }
      });
      perFile[name] = c;
      for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += c[k];
    }
  } finally {
    await runner.close();
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ files: perFile, total })}\n`);
    return;
  }
  for (const [name, c] of Object.entries(perFile)) process.stdout.write(`${name}: ${JSON.stringify(c)}\n`);
  process.stdout.write(`total: ${JSON.stringify(total)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
