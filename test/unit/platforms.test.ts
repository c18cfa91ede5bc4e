// What differs between Linux, macOS and Windows, checked here on any of them: `auto`'s provider order
// per platform, file URIs and paths as Windows and macOS spell them (drive letters, `\`, case), shard
// names that must be plain file names on every OS, and CRLF files read like LF files.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseDataset } from '../../src/bias/dataset.ts';
import { findPrompts } from '../../src/bias/prompts.ts';
import { autoProviders } from '../../src/engine/session.ts';
import { openCheckpoint } from '../../src/model/checkpoint.ts';
import { isShardFileName } from '../../src/model/file-name.ts';
import { canonicalUri, scannerFileName } from '../../src/server/prompt-index.ts';
import { resolvePath } from '../../src/server/settings.ts';
import { globToRegExp } from '../../src/server/workspace-files.ts';

const ROOT = path.join(__dirname, '..', '..');

test('auto: CUDA when installed, DirectML on Windows, CoreML on macOS, else the CPU with the reason', () => {
  // The backends each platform's onnxruntime-node binding lists (listSupportedBackends).
  const linuxX64 = new Set(['cpu', 'webgpu', 'cuda', 'tensorrt']);
  const cases: [NodeJS.Platform, Set<string>, boolean, string[], string[]][] = [
    ['linux', linuxX64, true, ['cuda', 'cpu'], []],
    ['linux', linuxX64, false, ['cpu'], ['cuda not installed']],
    ['linux', new Set(['cpu']), false, ['cpu'], ['no GPU provider in this onnxruntime build']],
    ['win32', new Set(['cpu', 'webgpu', 'dml']), false, ['dml', 'cpu'], []],
    ['darwin', new Set(['cpu', 'webgpu', 'coreml']), false, ['coreml', 'cpu'], []],
  ];
  for (const [platform, backends, cuda, order, reasons] of cases) {
    const skipped: string[] = [];
    assert.deepEqual(autoProviders(platform, backends, cuda, skipped), order, `${platform} ${[...backends]}`);
    assert.deepEqual(skipped, reasons);
  }
});

test('one index key per file: drive letters, encodings and case on Windows and macOS', () => {
  const windows = [
    'file:///c%3A/Users/Ada/Notes/Prompts.md',
    'file:///C:/Users/ada/notes/prompts.md',
    'file:///c:/USERS/Ada/Notes/Prompts.MD',
  ];
  assert.equal(new Set(windows.map((u) => canonicalUri(u, 'win32'))).size, 1);
  const mac = ['file:///Users/ada/Notes/Prompt%20Set.md', 'file:///Users/ada/notes/prompt set.md'];
  assert.equal(new Set(mac.map((u) => canonicalUri(u, 'darwin'))).size, 1);
  // Linux file systems are case-sensitive: two names, two files; the encodings still agree.
  assert.equal(new Set(mac.map((u) => canonicalUri(u, 'linux'))).size, 2);
  assert.equal(canonicalUri('file:///home/ada/a%20b.md', 'linux'), canonicalUri('file:///home/ada/a b.md', 'linux'));
  assert.equal(canonicalUri('untitled:Untitled-1', 'win32'), 'untitled:Untitled-1');
});

test('scanner file names from Windows URIs, whatever the case of the extension', () => {
  assert.equal(scannerFileName('file:///c%3A/work/Questions.PROMPT', 'plaintext'), 'Questions.PROMPT');
  assert.equal(scannerFileName('file:///c%3A/work/eval%20set.py', 'python'), 'eval set.py.py');
  const [prompt] = findPrompts('q = "Is 7 prime? Answer Yes or No."\n', 'C:\\work\\EVAL.PY', [{ positive: 'Yes', negative: 'No' }]);
  assert.equal(prompt?.text, 'Is 7 prime? Answer Yes or No.', 'a .PY file is read as Python');
});

test('setting paths on Windows: drive letters, backslashes, ${workspaceFolder}', () => {
  const roots = ['C:\\Users\\ada\\project'];
  assert.equal(resolvePath('models\\qwen', roots, path.win32), 'C:\\Users\\ada\\project\\models\\qwen');
  assert.equal(resolvePath('models/qwen', roots, path.win32), 'C:\\Users\\ada\\project\\models\\qwen');
  assert.equal(resolvePath('D:/models/qwen', roots, path.win32), 'D:\\models\\qwen');
  assert.equal(resolvePath('\\models\\qwen', roots, path.win32), 'C:\\models\\qwen');
  const adapter = resolvePath('${workspaceFolder}\\adapters\\a.safetensors', roots, path.win32);
  assert.equal(adapter, 'C:\\Users\\ada\\project\\adapters\\a.safetensors');
});

test('file globs written with backslashes match like forward slashes, in any case', () => {
  const re = globToRegExp('docs\\**\\*.md');
  assert.ok(re.test('docs/a/b.md') && re.test('docs/b.MD') && re.test('Docs/x.md'));
  assert.ok(!re.test('src/b.md'));
});

test('shard names are plain file names on every OS', () => {
  for (const ok of ['model.safetensors', 'model-00001-of-00002.safetensors', 'consolidated.safetensors']) {
    assert.ok(isShardFileName(ok), ok);
  }
  const bad = [
    '../model.safetensors',
    '..\\model.safetensors',
    'sub/model.safetensors',
    'C:model.safetensors',
    'ab:model.safetensors',
    'NUL.safetensors',
    'com1.safetensors',
    'lpt9.x.safetensors',
    '.hidden.safetensors',
    'model.bin',
    'a\u0000.safetensors',
    'a?.safetensors',
    42,
  ];
  for (const name of bad) assert.ok(!isShardFileName(name), String(name));
});

test('a shard index naming a file outside the folder (Windows spelling) is refused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-shards-'));
  try {
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    const index = { weight_map: { 'model.embed_tokens.weight': 'C:evil.safetensors' } };
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    assert.throws(() => openCheckpoint(dir), /not a \.safetensors file name in this directory/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('CRLF files: the same prompts and data items as LF', () => {
  const pairs = [
    { positive: 'Yes', negative: 'No' },
    { positive: 'True', negative: 'False' },
  ];
  for (const f of ['demo/prompts.md', 'demo/prompts.py', 'demo/questions.md', 'demo/test.jsonl']) {
    const lf = fs.readFileSync(path.join(ROOT, f), 'utf8');
    const crlf = lf.replace(/\n/g, '\r\n');
    const strip = (ps: ReturnType<typeof findPrompts>) => ps.map((p) => [p.text, p.startLine, p.endLine, p.positive, p.negative]);
    const prompts = findPrompts(lf, f, pairs);
    assert.ok(prompts.length > 0, f);
    assert.deepEqual(strip(findPrompts(crlf, f, pairs)), strip(prompts), f);
  }
  const data = fs.readFileSync(path.join(ROOT, 'demo/train.jsonl'), 'utf8');
  assert.deepEqual(parseDataset(data.replace(/\n/g, '\r\n'), 'train.jsonl'), parseDataset(data, 'train.jsonl'));
});
