// package.json's contributions against the code they describe, without VS Code (node --test):
// settings and their defaults = the server's LensSettings defaults, the provider enum = the engine's
// providers, every command a link or a server lens invokes is declared, every contributed file is
// packaged and no source is.

import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { PROVIDERS } from '../../src/engine/providers.ts';
import { COMMAND_IDS } from '../../src/command-ids.ts';
import { DEFAULT_SETTINGS } from '../../src/server/settings.ts';

const ROOT = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const contributes = pkg.contributes;
const properties: Record<string, { default: unknown; enum?: unknown[] }> = contributes.configuration.properties;
const declared = new Set<string>(contributes.commands.map((c: { command: string }) => c.command));

test('settings are the LensSettings, with the server defaults', () => {
  const expected = Object.fromEntries(Object.entries(DEFAULT_SETTINGS).map(([k, v]) => [`nasaLens.${k}`, v]));
  const actual = Object.fromEntries(Object.entries(properties).map(([k, p]) => [k, p.default]));
  assert.deepEqual(actual, expected);
  assert.deepEqual(properties['nasaLens.provider']!.enum, [...PROVIDERS]);
  assert.deepEqual(properties['nasaLens.queryMode']!.enum, ['last', 'after']);
});

test('untrusted workspaces cannot name a model, adapter or provider', () => {
  const trust = pkg.capabilities.untrustedWorkspaces;
  assert.equal(trust.supported, 'limited');
  assert.deepEqual([...trust.restrictedConfigurations].sort(), ['nasaLens.adapterPath', 'nasaLens.modelPath', 'nasaLens.provider']);
});

test('every command that a link, a menu or the server invokes is declared', () => {
  const linked = JSON.stringify(contributes).match(/command:nasaLens\.[A-Za-z]+/g) ?? [];
  const menus = Object.values(contributes.menus as Record<string, { command: string }[]>)
    .flat()
    .map((m) => m.command);
  const used = [...linked.map((l) => l.slice('command:'.length)), ...menus];
  assert.deepEqual(
    used.filter((c) => !declared.has(c)),
    [],
  );
});

test('the command ids of src/command-ids.ts are exactly the declared commands', () => {
  assert.deepEqual([...COMMAND_IDS].sort(), [...declared].sort());
});

test('every contributed file is packaged (needs the build: node esbuild.mjs)', () => {
  const steps: { media: { markdown?: string; image?: string } }[] = contributes.walkthroughs.flatMap((w: { steps: unknown[] }) => w.steps);
  const files = [
    pkg.icon,
    pkg.main.replace(/^\.\//, ''),
    'dist/server.js',
    // The server renders chat templates in this worker (src/model/chat-template.ts).
    'dist/chat-template-worker.js',
    'dist/webview/align.js',
    'dist/webview/dashboard.js',
    'dist/webview/tokens.js',
    'media/webview.css',
    'media/explainer.md',
    'media/explainer.svg',
    ...contributes.viewsContainers.activitybar.map((c: { icon: string }) => c.icon),
    ...steps.flatMap((s) => [s.media.markdown, s.media.image]).filter((f): f is string => f !== undefined),
  ];
  // vsce's own file list (dependencies aside), so .vscodeignore is read exactly as packaging reads it.
  const vsce = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
  const listed = new Set(execFileSync(process.execPath, [vsce, 'ls', '--no-dependencies'], { cwd: ROOT, encoding: 'utf8' }).split('\n'));
  assert.deepEqual(
    files.filter((f) => !listed.has(f)),
    [],
  );
  assert.deepEqual(
    [...listed].filter((f) => /^(src|test|scripts)\/|\.map$|\.ts$/.test(f)),
    [],
    'no sources or source maps',
  );
});
