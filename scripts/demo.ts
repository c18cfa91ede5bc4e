// `npm run demo`: the whole method on the demo model, through the same CLI users run.
//   1. scan the example prompt files   2. rank the heads on the training set
//   3. evaluate   4. align the top 4 heads (NASA)   5. evaluate again with the adapter
// The demo model is demo/model: a small Llama trained from scratch by our own engine
// (`npm run demo:train`, scripts/demo-model/) on a synthetic yes/no suite whose unsolvable items lean
// towards the negative answer, so its negative bias comes from data and training. NASA stops early
// on the suite's validation set, as docs/design.md §5.3 describes, and keeps the best deltas.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../src/cli/main.ts';
import { formatHead, type HeadScore } from '../src/bias/nas.ts';

const root = path.relative(process.cwd(), path.join(__dirname, '..')) || '.';
const demo = path.join(root, 'demo');
const cache = path.join(root, '.cache', 'demo');
const modelDir = path.join(demo, 'model');
const validation = path.join(root, 'scripts', 'demo-model', 'data', 'val.jsonl');
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

/** Runs a subcommand with --json, quietly, and returns its parsed document. */
async function cliJson<T>(args: string[]): Promise<T> {
  let json = '';
  const code = await main([...args, '--json'], { out: (s) => (json += s), log: () => {} });
  if (code !== 0) throw new Error(`nasa-lens ${args[0]} failed`);
  return JSON.parse(json) as T;
}

interface Evaluation {
  metrics: { n: number; precision: number; recall: number; accuracy: number; prg: number };
}

/** The top k heads of the training set, read through the CLI's JSON output. */
async function topHeads(k: number): Promise<HeadScore[]> {
  const { topHeads: top } = await cliJson<{ topHeads: HeadScore[] }>(['heads', '--model', modelDir, '--data', path.join(demo, 'train.jsonl'), '--top', String(k)]);
  io.out(`\nthe ${k} most negative heads: ${top.map((h) => `${formatHead(h)} (${h.nas.toFixed(3)})`).join(', ')}: aligning them`);
  return top;
}

/** The end of the demo in a few lines a newcomer can read. */
function summary(before: Evaluation, after: Evaluation, heads: HeadScore[]): string {
  const line = (name: string, e: Evaluation) => {
    const m = e.metrics;
    return `  ${name}  precision ${m.precision.toFixed(2)}  recall ${m.recall.toFixed(2)}  prg ${m.prg.toFixed(3)}  accuracy ${m.accuracy.toFixed(3)}`;
  };
  return [
    '',
    '── summary',
    `On ${before.metrics.n} held-out questions (demo/test.jsonl) the model says No too often: a "Yes" from it is`,
    'almost always right (high precision) but it finds too few of the true Yes answers (low recall).',
    'prg = precision − recall measures that gap: 0 is unbiased, > 0 is negative bias.',
    line('before NASA', before),
    `The heads that look at the word "No" whatever the question: ${heads.map(formatHead).join(', ')}.`,
    `NASA fine-tuned only those heads (${heads.length} × a head's query rows) and wrote the adapter to ${adapter}.`,
    line('after NASA ', after),
    'Open demo/ in VS Code with the extension to see the same numbers on each prompt (hover, CodeLens).',
  ].join('\n');
}

async function run(): Promise<void> {
  if (!fs.existsSync(path.join(modelDir, 'model.safetensors'))) throw new Error(`no demo model in ${modelDir}: run npm run demo:train`);
  io.out(`model: ${modelDir} (trained from scratch by npm run demo:train)`);
  // The adapter goes to .cache/demo, which a fresh clone does not have: the demo asks for it.
  fs.mkdirSync(cache, { recursive: true });
  const model = ['--model', modelDir];
  await cli('yes/no questions in a Markdown file', ['scan', ...model, '--file', path.join(demo, 'questions.md')]);
  await cli('yes/no prompts in a Markdown file', ['scan', ...model, '--file', path.join(demo, 'prompts.md')]);
  await cli('and in Python string literals', ['scan', ...model, '--file', path.join(demo, 'prompts.py')]);
  await cli('heads that attend to the negative candidate (training set)', ['heads', ...model, '--data', path.join(demo, 'train.jsonl'), '--top', '4']);
  await cli('negative bias on the held-out set: precision > recall', ['eval', ...model, '--data', path.join(demo, 'test.jsonl')]);
  const top = await topHeads(4);
  const heads = top.map((h) => `${h.layer}:${h.head}`).join(',');
  // The settings the study (docs/results.md) chose on the validation set: a strong task term keeps
  // the answers the model can know while the heads stop favouring the negative candidate.
  const settings = ['--steps', '1000', '--lr', '0.003', '--lambda-keep', '1', '--lambda-task', '50', '--batch', '16', '--seed', '7'];
  await cli('NASA on those heads', ['align', ...model, '--data', path.join(demo, 'train.jsonl'), '--val', validation, '--heads', heads, ...settings, '--out', adapter]);
  await cli('the held-out set with the adapter', ['eval', ...model, '--data', path.join(demo, 'test.jsonl'), '--adapter', adapter]);
  const test = ['eval', ...model, '--data', path.join(demo, 'test.jsonl')];
  io.out(summary(await cliJson<Evaluation>(test), await cliJson<Evaluation>([...test, '--adapter', adapter]), top));
}

run().catch((err) => {
  io.log(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
