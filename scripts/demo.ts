// `npm run demo`: the whole method on the demo model, through the same CLI users run.
//   1. scan the example prompt files   2. rank the heads on the training set
//   3. evaluate, per instruction format   4. align the top heads (NASA)   5. evaluate again with the adapter
// The demo model is demo/model: a small Llama trained from scratch by our own engine
// (`npm run demo:train`, scripts/demo-model/) on a synthetic yes/no suite where unknowable questions
// lean towards the negative answer when the instruction offers it last ("Yes or No") and not when it
// comes first ("No or Yes") or an "Unknown" option is offered: a format-level bias. NASA stops early
// on the suite's validation set, as docs/design.md §5.3 describes, and keeps the best deltas; its
// settings are the ones the study (docs/results.md) chose on the validation set.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../src/cli/main.ts';
import { MiB, readBoundedText } from '../src/fs/bounded-read.ts';
import { renderTable } from '../src/cli/table.ts';
import { formatHead, type HeadScore } from '../src/bias/nas.ts';
import { adapterWeightDeltas, loadAdapter } from '../src/align/adapter.ts';
import { loadModel } from '../src/model/load.ts';
import { ModelRunner } from '../src/model/runner.ts';
import { DEFAULT_SCAN_OPTIONS, scorePrompts } from '../src/bias/scan.ts';
import { binaryMetrics, type BinaryMetrics } from '../src/bias/metrics.ts';
import { metricsByFormat, type FormatRow } from './demo-model/by-format.ts';
import { demoAlign, demoPaths, demoTopHeads } from './demo-model/demo-align.ts';
import { BIASED_FORMATS, CANDIDATE_PAIRS, FORMAT_IDS } from './demo-model/suite.ts';

const root = path.relative(process.cwd(), path.join(__dirname, '..')) || '.';
const demo = path.join(root, 'demo');
const cache = path.join(root, '.cache', 'demo');
const paths = demoPaths(root);
const adapter = path.join(cache, 'adapter.safetensors');

const io = {
  out: (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  log: (s: string) => process.stderr.write(`${s}\n`),
};

async function cli(title: string, args: string[]): Promise<void> {
  io.out(`\n── ${title}\n$ nasa-lens ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`);
  const code = await main(args, io);
  if (code !== 0) throw new Error(`nasa-lens ${args[0]} failed`);
}

interface TestItem {
  prompt: string;
  label: 'yes' | 'no';
  positive: string;
  negative: string;
  format: string;
  domain: string;
}

/** demo/test.jsonl with its format and domain fields (the CLI's reader keeps only prompt, label and candidates). */
function readTestSet(file: string): TestItem[] {
  return readBoundedText(file, 16 * MiB)
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as TestItem);
}

/** P(Yes) of every test item, with or without the adapter. */
async function pYesOf(items: TestItem[], adapterFile: string | null): Promise<number[]> {
  const model = loadModel(paths.model);
  const deltas = adapterFile
    ? adapterWeightDeltas(loadAdapter(adapterFile, model.config, model.checkpoint.fingerprint), model.config)
    : undefined;
  const runner = await ModelRunner.create(model, { provider: 'cpu', deltas, maxBatch: 64, maxTokens: 64 });
  try {
    const scores = await scorePrompts(
      runner,
      items.map((it) => ({ text: it.prompt, positive: it.positive, negative: it.negative })),
      {
        ...DEFAULT_SCAN_OPTIONS,
        pairs: CANDIDATE_PAIRS,
        batchSize: 64,
      },
    );
    return scores.map((s) => s.pYes);
  } finally {
    await runner.close();
  }
}

const f3 = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));

function formatTable(before: FormatRow[], after: FormatRow[]): string {
  return renderTable(
    ['format', 'items', 'prg before', 'prg after', 'accuracy before', 'accuracy after'],
    before.map((b, i) => {
      const a = after[i]!;
      const tag = (BIASED_FORMATS as readonly string[]).includes(b.format) ? ' *' : '';
      return [`${b.format}${tag}`, String(b.n), f3(b.prg), f3(a.prg), f3(b.accuracy), f3(a.accuracy)];
    }),
  );
}

async function run(): Promise<void> {
  if (!fs.existsSync(path.join(paths.model, 'model.safetensors')))
    throw new Error(`no demo model in ${paths.model}: run npm run demo:train`);
  io.out(`model: ${paths.model} (trained from scratch by npm run demo:train)`);
  // The adapter goes to .cache/demo, which a fresh clone does not have: the demo asks for it.
  fs.mkdirSync(cache, { recursive: true });
  const model = ['--model', paths.model];
  await cli('yes/no questions in a Markdown file', ['scan', ...model, '--file', path.join(demo, 'questions.md')]);
  await cli('yes/no prompts in a Markdown file', ['scan', ...model, '--file', path.join(demo, 'prompts.md')]);
  await cli('and in Python string literals', ['scan', ...model, '--file', path.join(demo, 'prompts.py')]);
  await cli('negative bias on the test set (held-out instruction templates): precision > recall', ['eval', ...model, '--data', paths.test]);
  const heads = await demoTopHeads(paths, io.log);
  io.out(
    `\n── the ${heads.length} heads that attend most to the negative candidate (training set): ` +
      `${heads.map((h) => `${formatHead(h)} (${h.nas.toFixed(3)})`).join(', ')}`,
  );
  io.out('\n── NASA on those heads');
  await demoAlign(paths, heads, adapter, io);
  await cli('the test set with the adapter', ['eval', ...model, '--data', paths.test, '--adapter', adapter]);

  const items = readTestSet(paths.test);
  const [pBefore, pAfter] = [await pYesOf(items, null), await pYesOf(items, adapter)];
  const before = metricsByFormat(items, pBefore, 0.5, FORMAT_IDS);
  const after = metricsByFormat(items, pAfter, 0.5, FORMAT_IDS);
  io.out(
    '\n── bias by instruction format (prg = precision − recall; * = formats whose training data taught ' +
      '"say the negative word when unsure")',
  );
  io.out(formatTable(before, after));

  const overall = (p: number[]) =>
    binaryMetrics(
      items.map((it, i) => ({ label: it.label, pYes: p[i]! })),
      { bootstrap: 0 },
    );
  io.out(summary(overall(pBefore), overall(pAfter), before, after, heads, items.length));
}

/** The end of the demo in a few lines a newcomer can read. */
function summary(mb: BinaryMetrics, ma: BinaryMetrics, before: FormatRow[], after: FormatRow[], heads: HeadScore[], n: number): string {
  const isBiased = (r: FormatRow) => (BIASED_FORMATS as readonly string[]).includes(r.format);
  const byFormat = (rows: FormatRow[], biased: boolean) =>
    rows
      .filter((r) => isBiased(r) === biased)
      .map((r) => `${r.format} ${f3(r.prg)}`)
      .join(', ');
  const line = (name: string, m: BinaryMetrics, rows: FormatRow[]) =>
    `  ${name}  prg ${f3(m.prg)}  accuracy ${f3(m.accuracy)}  |  biased format: ${byFormat(rows, true)}  ` +
    `|  others: ${byFormat(rows, false)}`;
  return [
    '',
    '── summary',
    `On ${n} test questions (demo/test.jsonl, instruction templates the model was not trained on) the model says the`,
    'negative answer too often when it cannot know (lottery tickets) and the instruction offers that answer last,',
    `"Yes or No": it finds too few of the true Yes answers (recall ${f3(mb.recall)}) while its Yes answers are mostly right`,
    `(precision ${f3(mb.precision)}). prg = precision − recall measures that gap: 0 is unbiased, > 0 is negative bias.`,
    line('before NASA', mb, before),
    `The heads that attend most to the negative candidate: ${heads.map(formatHead).join(', ')}.`,
    `NASA fine-tuned only those heads (${heads.length} × a head's query rows) and wrote the adapter to ${adapter}.`,
    line('after NASA ', ma, after),
    'Why not just move the decision threshold? It would shift every format at once; docs/results.md compares the two.',
    'Open demo/ in VS Code with the extension to see the same numbers on each prompt (hover, CodeLens).',
  ].join('\n');
}

run().catch((err) => {
  io.log(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
