// No line of the TypeScript and .mjs sources is longer than 140 characters (Prettier's printWidth in
// .prettierrc.json). Prettier wraps code to that width but cannot split strings, template literals,
// comments or regular expressions: this test catches those. The files are the ones git tracks, and
// those it would add (not ignored); characters are Unicode code points.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const ROOT = path.join(__dirname, '..', '..');
const MAX_LINE = 140;

function sourceFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '*.ts', '*.mjs'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  // A tracked file deleted in the working tree has no lines.
  return [...new Set(out.split('\0').filter(Boolean))].filter((f) => fs.existsSync(path.join(ROOT, f)));
}

/** `file:line (n characters)` for each line of the text longer than `max` characters. */
export function longLines(file: string, text: string, max = MAX_LINE): string[] {
  return text.split(/\r?\n/).flatMap((line, i) => {
    const n = [...line].length;
    return n > max ? [`${file}:${i + 1} (${n} characters)`] : [];
  });
}

test('longLines counts characters, not bytes or UTF-16 units, and reports file:line', () => {
  assert.deepEqual(longLines('a.ts', `${'x'.repeat(140)}\n${'…'.repeat(140)}\n${'𝔁'.repeat(140)}`), []);
  assert.deepEqual(longLines('a.ts', `ok\n${'x'.repeat(141)}\nok\r\n${'…'.repeat(141)}`), [
    'a.ts:2 (141 characters)',
    'a.ts:4 (141 characters)',
  ]);
});

test(`no line of a .ts or .mjs source is longer than ${MAX_LINE} characters`, () => {
  const files = sourceFiles();
  assert.ok(files.length > 100, `git ls-files found only ${files.length} .ts/.mjs files`);
  assert.ok(files.includes('src/lsp-ext.ts') && files.includes('eslint.config.mjs'));
  const offenders = files.flatMap((f) => longLines(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
  assert.deepEqual(offenders, [], `lines over ${MAX_LINE} characters:\n${offenders.join('\n')}`);
});
