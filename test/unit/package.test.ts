// The platform packages (scripts/package.ts) opened as zips: each .vsix targets one platform, carries
// that platform's onnxruntime binding and every library it loads, built for that OS and CPU, nothing of
// another platform, and no source, map, test data or build cache. Checks the bundles in dist/ (npm test
// builds them first), packaged into a temporary folder (about 20 s of CPU for all five); with
// NASA_LENS_VSIX_DIR it checks the packages already there instead (`npm run package:all` writes them
// to the repository root, built for production).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { binaryFolder, packageTargets, TARGETS, vsixName, type PlatformTarget } from '../../scripts/package.ts';
import { readZip, type ZipEntry } from '../package/zip.ts';

const ROOT = path.join(__dirname, '..', '..');
const NPM_BINARIES = path.join(ROOT, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
const MAX_VSIX_BYTES = 40e6;
/** Everything but the native binaries: bundles, demo model, screenshots (about 1.5 MB for production bundles). */
const MAX_REST_BYTES = 4e6;

const given = process.env.NASA_LENS_VSIX_DIR;
const dir = given ? path.resolve(given) : fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-lens-vsix-'));

before(async () => {
  if (given) return;
  assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'server.js')), 'needs the bundles: node esbuild.mjs (npm test builds them)');
  await packageTargets(TARGETS, dir, { build: false });
});

after(() => {
  if (!given) fs.rmSync(dir, { recursive: true, force: true });
});

test('one package for every platform onnxruntime-node has a binding for', () => {
  const platforms = fs
    .readdirSync(NPM_BINARIES)
    .flatMap((os) => fs.readdirSync(path.join(NPM_BINARIES, os)).map((arch) => `${os}-${arch}`));
  const withBinding = platforms.filter((p) => fs.existsSync(path.join(ROOT, binaryFolder(p), 'onnxruntime_binding.node')));
  assert.deepEqual(TARGETS.map((t) => t.target).sort(), withBinding.sort());
});

for (const target of TARGETS) {
  test(`${target.target}: manifest, native binaries, size, contents`, () => {
    const file = path.join(dir, vsixName(target.target));
    const entries = readZip(file, MAX_VSIX_BYTES);
    const byName = new Map(entries.map((e) => [e.name, e]));
    checkManifest(byName, target);
    checkNativeBinaries(entries, target);
    checkContents(entries);
    checkSize(file, entries, target);
  });
}

function text(byName: Map<string, ZipEntry>, name: string): string {
  const entry = byName.get(name);
  assert.ok(entry, `${name} is packaged`);
  return entry.read().toString('utf8');
}

function checkManifest(byName: Map<string, ZipEntry>, target: PlatformTarget): void {
  const identity = text(byName, 'extension.vsixmanifest').match(/<Identity [^>]*TargetPlatform="([^"]+)"/);
  assert.equal(identity?.[1], target.target, 'the manifest targets the platform');
  const packaged = JSON.parse(text(byName, 'extension/package.json'));
  const source = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.deepEqual([packaged.name, packaged.version, packaged.main], [source.name, source.version, source.main]);
  for (const f of [
    packaged.main,
    './dist/server.js',
    './dist/chat-template-worker.js',
    './dist/webview/align.js',
    './dist/webview/dashboard.js',
    packaged.icon,
  ]) {
    assert.ok(byName.has(path.posix.join('extension', f)), `${f} is packaged`);
  }
  for (const f of ['readme.md', 'changelog.md', 'LICENSE.txt']) assert.ok(byName.has(`extension/${f}`), `${f} is packaged`);
  // The details page shows the README's screenshots from the package (links stay relative).
  const images = [...text(byName, 'extension/readme.md').matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
  assert.ok(images.length > 0, 'the README shows screenshots');
  assert.deepEqual(
    images.filter((img) => !byName.has(path.posix.join('extension', img))),
    [],
    'every README image is packaged',
  );
}

/**
 * The binding and the closure of what it loads: every library of the npm package's folder that a
 * packaged binary names is packaged, and every packaged library is named by one (no unused copies).
 */
function checkNativeBinaries(entries: ZipEntry[], target: PlatformTarget): void {
  const folder = `extension/${binaryFolder(target.target)}/`;
  const native = entries.filter((e) => /\.(node|dll|dylib|so(\.\d+)*|exe)$/.test(e.name));
  assert.deepEqual(
    native.filter((e) => !e.name.startsWith(folder)).map((e) => e.name),
    [],
    `native files only in ${folder}`,
  );
  assert.deepEqual(
    entries.filter((e) => e.name.includes('/bin/') && !e.name.startsWith(folder)).map((e) => e.name),
    [],
  );

  const shipped = new Map(native.map((e) => [e.name.slice(folder.length), e.read()]));
  assert.ok(shipped.has('onnxruntime_binding.node'), 'the binding is packaged');
  const available = fs.readdirSync(path.join(ROOT, binaryFolder(target.target)));
  const named = new Set<string>();
  for (const [name, bytes] of shipped) {
    assert.equal(binaryPlatform(bytes), target.target, `${name} is built for ${target.target}`);
    const lower = bytes.toString('latin1').toLowerCase();
    for (const lib of available) if (lib !== name && lower.includes(lib.toLowerCase())) named.add(lib);
  }
  assert.deepEqual(
    [...named].filter((lib) => !shipped.has(lib)),
    [],
    'every library a packaged binary loads is packaged',
  );
  assert.deepEqual(
    [...shipped.keys()].filter((f) => f !== 'onnxruntime_binding.node' && !named.has(f)),
    [],
    'no unused library',
  );
}

/** The OS and CPU a native binary is built for, from its ELF, Mach-O or PE header. */
function binaryPlatform(b: Buffer): string {
  const cpu = (code: number, x64: number, arm64: number): string =>
    code === x64 ? 'x64' : code === arm64 ? 'arm64' : `cpu 0x${code.toString(16)}`;
  if (b.readUInt32BE(0) === 0x7f454c46) return `linux-${cpu(b.readUInt16LE(18), 0x3e, 0xb7)}`;
  if (b.readUInt32LE(0) === 0xfeedfacf) return `darwin-${cpu(b.readUInt32LE(4), 0x01000007, 0x0100000c)}`;
  if (b.readUInt16BE(0) === 0x4d5a) {
    const pe = b.readUInt32LE(0x3c);
    assert.equal(b.readUInt32BE(pe), 0x50450000, 'PE signature');
    return `win32-${cpu(b.readUInt16LE(pe + 4), 0x8664, 0xaa64)}`;
  }
  return `unknown binary format ${b.subarray(0, 4).toString('hex')}`;
}

/** No source, source map, test data, build cache, or dependency beyond onnxruntime's run-time files. */
function checkContents(entries: ZipEntry[]): void {
  const names = entries
    .map((e) => e.name)
    .filter((n) => n.startsWith('extension/'))
    .map((n) => n.slice('extension/'.length));
  const forbidden = names.filter(
    (n) =>
      /^(src|test|scripts|webview-ui|\.e2e|\.cache|\.ci|bench-models|test-results|out)\//.test(n) ||
      /(^|\/)\.git\//.test(n) ||
      /\.(ts|tsx|map|vsix|cpuprofile)$/.test(n) ||
      /^(tsconfig\.json|esbuild\.mjs|package-lock\.json|bench-results\.json|\.vscodeignore|\.npmrc|\.gitignore)$/.test(n),
  );
  assert.deepEqual(forbidden, [], 'no sources, maps, test data or caches');
  const modules = new Set(names.filter((n) => n.startsWith('node_modules/')).map((n) => n.split('/')[1]));
  assert.deepEqual([...modules].sort(), ['onnxruntime-common', 'onnxruntime-node'], 'the bundles carry every other dependency');
  const ortFiles = names.filter((n) => n.startsWith('node_modules/onnxruntime-node/') && !n.includes('/bin/'));
  const runtimeFile = /^node_modules\/onnxruntime-node\/(package\.json|dist\/[^/]+\.js)$/;
  assert.deepEqual(
    ortFiles.filter((n) => !runtimeFile.test(n)),
    [],
    'no install scripts',
  );
}

function checkSize(file: string, entries: ZipEntry[], target: PlatformTarget): void {
  const size = fs.statSync(file).size;
  const rest = entries.filter((e) => !e.name.includes('/bin/')).reduce((sum, e) => sum + e.compressedSize, 0);
  assert.ok(size <= MAX_VSIX_BYTES, `${target.target}: ${size} bytes`);
  assert.ok(rest <= MAX_REST_BYTES, `${target.target}: ${rest} bytes besides the native binaries`);
  // The packaged native files are exactly the npm package's copies (a size change means another file).
  for (const e of entries.filter((e) => e.name.includes('/bin/'))) {
    assert.equal(e.size, fs.statSync(path.join(ROOT, e.name.slice('extension/'.length))).size, e.name);
  }
}
