// The module graph of src/ and webview-ui/, read from the import statements themselves (type-only
// imports included: a type cycle is still two modules that cannot be understood apart). No cycle;
// the layers run one way (docs/design.md §2.1): engine → model → bias → align → server / cli, with the
// client and the webviews apart; the webviews reach nothing that needs Node.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const ROOT = path.join(__dirname, '..', '..');

/** Specifiers of every import, export-from, dynamic import and require of one source text. */
export function importSpecifiers(source: string): string[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const patterns = [
    /^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((p) => [...text.matchAll(p)].map((m) => m[1]!));
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return sourceFiles(rel);
    return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

interface Graph {
  /** Repository-relative file → the repository files it imports. */
  local: Map<string, string[]>;
  /** Repository-relative file → the packages and node: modules it imports. */
  external: Map<string, string[]>;
}

function buildGraph(files: string[]): Graph {
  const local = new Map<string, string[]>();
  const external = new Map<string, string[]>();
  for (const file of files) {
    const specs = importSpecifiers(fs.readFileSync(path.join(ROOT, file), 'utf8'));
    const relative = specs.filter((s) => s.startsWith('.'));
    local.set(
      file,
      relative.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s))),
    );
    external.set(
      file,
      specs.filter((s) => !s.startsWith('.')),
    );
  }
  return { local, external };
}

/** One import cycle (as a path that starts and ends on the same file), or null. */
export function findCycle(edges: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (state.get(next) === undefined) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of [...edges.keys()].sort()) {
    if (state.get(node) !== undefined) continue;
    const found = visit(node);
    if (found) return found;
  }
  return null;
}

const graph = buildGraph([...sourceFiles('src'), ...sourceFiles('webview-ui')]);

/** The layer of a file: its folder under src/ (protocol.ts and friends at src/ are 'protocol'), or 'webview'. */
function layerOf(file: string): string {
  if (file.startsWith('webview-ui/')) return 'webview';
  const parts = file.split('/');
  return parts.length > 2 ? parts[1]! : 'protocol';
}

/** What each layer may not import. The protocol is data shared by server, client and webviews. */
const FORBIDDEN: Record<string, string[]> = {
  engine: ['model', 'bias', 'align', 'server', 'cli', 'client', 'protocol', 'webview'],
  model: ['bias', 'align', 'server', 'cli', 'client', 'protocol', 'webview'],
  bias: ['align', 'server', 'cli', 'client', 'protocol', 'webview'],
  align: ['server', 'cli', 'client', 'protocol', 'webview'],
  server: ['cli', 'client', 'webview'],
  cli: ['server', 'client', 'webview'],
  client: ['server', 'cli', 'webview'],
  protocol: ['server', 'cli', 'client', 'webview'],
  webview: ['server', 'cli', 'client', 'engine', 'model'],
};

/** Packages a webview may bundle: they run in the browser. */
const BROWSER_PACKAGES = ['chart.js'];

test('the import parser reads every form of import', () => {
  const src = [
    "import a from './a.ts';",
    "import type { B } from '../b.ts';",
    'import {\n  c,\n  type D,\n} from "./c.ts";',
    "export { e } from './e.ts';",
    "export * from './f.ts';",
    "import './side-effect.ts';",
    "const g = await import('./g.ts');",
    "const h = require('node:h');",
    "// import x from './commented.ts';",
    "/* import y from './block.ts'; */",
    'const s = \'import z from "./string.ts"\';',
  ].join('\n');
  assert.deepEqual(
    importSpecifiers(src).sort(),
    ['../b.ts', './a.ts', './c.ts', './e.ts', './f.ts', './g.ts', './side-effect.ts', 'node:h'].sort(),
  );
});

test('the cycle finder names a cycle, and finds none in a tree', () => {
  const cyclic = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a', 'd']],
    ['d', []],
  ]);
  assert.deepEqual(findCycle(cyclic), ['a', 'b', 'c', 'a']);
  assert.equal(
    findCycle(
      new Map([
        ['a', ['b', 'c']],
        ['b', ['c']],
        ['c', []],
      ]),
    ),
    null,
  );
});

test('every relative import names a file that exists', () => {
  const missing = [...graph.local].flatMap(([file, deps]) =>
    deps.filter((d) => !fs.existsSync(path.join(ROOT, d))).map((d) => `${file} → ${d}`),
  );
  assert.deepEqual(missing, []);
});

test('no import cycle in src/ and webview-ui/', () => {
  const cycle = findCycle(graph.local);
  assert.equal(cycle, null, `import cycle: ${cycle?.join(' → ')}`);
});

test('the layers import one way', () => {
  const wrong = [...graph.local].flatMap(([file, deps]) =>
    deps.filter((d) => FORBIDDEN[layerOf(file)]?.includes(layerOf(d))).map((d) => `${file} (${layerOf(file)}) → ${d} (${layerOf(d)})`),
  );
  assert.deepEqual(wrong, []);
});

test('the webviews reach nothing that needs Node, directly or through what they import', () => {
  const reached = new Set<string>();
  const queue = [...graph.local.keys()].filter((f) => layerOf(f) === 'webview');
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (reached.has(file)) continue;
    reached.add(file);
    queue.push(...(graph.local.get(file) ?? []));
  }
  const nodeOnly = [...reached].flatMap((file) =>
    (graph.external.get(file) ?? [])
      .filter((s) => !BROWSER_PACKAGES.some((p) => s === p || s.startsWith(`${p}/`)))
      .map((s) => `${file} → ${s}`),
  );
  assert.deepEqual(nodeOnly, []);
});
