// The README's two set-up commands are what CI runs: .ci/run must contain them verbatim, so that a
// change to one is a change to the other (a green CI that runs other commands hides a newcomer's failure).

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** The commands of the README's "Set up" sh block, comments stripped. */
function readmeSetupCommands(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /## Set up\s+```sh\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README.md has a "## Set up" section with a ```sh block');
  return block[1]
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line.length > 0);
}

test('the README names two set-up commands: the demo, then the tests', () => {
  const commands = readmeSetupCommands();
  assert.equal(commands.length, 2, `README set-up commands: ${JSON.stringify(commands)}`);
  assert.match(commands[0], /npm run demo/);
  assert.match(commands[1], /^npm test$/);
});

test('.ci/run runs the README set-up commands verbatim and in order', () => {
  const ci = fs
    .readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8')
    .split('\n')
    .map((l) => l.trim());
  let from = 0;
  for (const command of readmeSetupCommands()) {
    const at = ci.indexOf(command, from);
    assert.ok(at >= 0, `.ci/run lacks the README command "${command}" (after line ${from})`);
    from = at + 1;
  }
});
