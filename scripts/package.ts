// `npm run package` (this machine's platform) and `npm run package:all` (every platform): one .vsix per
// platform that onnxruntime-node ships a native binding for, each holding that platform's binaries only.
//
//   node --import tsx scripts/package.ts [--all | --target T ...] [--out DIR] [--no-build]
//
// The bundles are built once (`node esbuild.mjs --production`: minified, no source maps), then
// `vsce package --target T` runs per platform with .vscodeignore plus the lines that let that platform's
// binaries through. There is no universal package: without a native binding the engine cannot run, and
// a package with every binding would be five times the size for no platform more (onnxruntime-node
// 1.30 has no binding for Intel Macs, darwin-x64, nor for Alpine/musl or 32-bit ARM).

import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, promisify } from 'node:util';

const ROOT = path.join(__dirname, '..');
const execFileAsync = promisify(execFile);
const ORT_BIN = 'node_modules/onnxruntime-node/bin/napi-v6';

export interface PlatformTarget {
  /** vsce's target name, `${process.platform}-${process.arch}` of the machines it installs on. */
  target: string;
  /** Files of onnxruntime-node's bin/napi-v6/<platform>/<arch>/ that this package ships. */
  binaries: readonly string[];
  /** Execution providers the binding offers there (besides `auto`), in the order `auto` tries them. */
  providers: readonly string[];
}

// Explicit lists, not the whole folder: a CUDA install (`--onnxruntime-node-install=cuda12`) drops
// gigabyte-sized provider libraries there, and macOS's folder holds libonnxruntime twice (npm has no
// symlinks): the binding loads @rpath/libonnxruntime.1.dylib, so the versioned copy stays out.
export const TARGETS: readonly PlatformTarget[] = [
  { target: 'linux-x64', binaries: ['onnxruntime_binding.node', 'libonnxruntime.so.1'], providers: ['cuda', 'cpu', 'webgpu'] },
  { target: 'linux-arm64', binaries: ['onnxruntime_binding.node', 'libonnxruntime.so.1'], providers: ['cpu'] },
  { target: 'darwin-arm64', binaries: ['onnxruntime_binding.node', 'libonnxruntime.1.dylib'], providers: ['coreml', 'cpu', 'webgpu'] },
  // DirectML.dll serves the dml provider; dxcompiler.dll and dxil.dll compile WebGPU's shaders (Direct3D 12).
  ...['win32-x64', 'win32-arm64'].map((target) => ({
    target,
    binaries: ['onnxruntime_binding.node', 'onnxruntime.dll', 'DirectML.dll', 'dxcompiler.dll', 'dxil.dll'],
    providers: ['dml', 'cpu', 'webgpu'],
  })),
];

export function findTarget(name: string): PlatformTarget {
  const found = TARGETS.find((t) => t.target === name);
  if (!found) {
    throw new Error(`no package for ${name}: onnxruntime-node has native bindings for ${TARGETS.map((t) => t.target).join(', ')}`);
  }
  return found;
}

/** bin/napi-v6/<platform>/<arch>, the folder onnxruntime-node loads its binding from. */
export function binaryFolder(target: string): string {
  const [platform, arch] = target.split('-');
  return `${ORT_BIN}/${platform}/${arch}`;
}

/** The file name `vsce package --target` gives by default. */
export function vsixName(target: string): string {
  const { name, version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  return `${name}-${target}-${version}.vsix`;
}

/** .vscodeignore (an allowlist) plus one `!` line per binary of this target. */
function ignoreFileFor(target: PlatformTarget): string {
  const base = fs.readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8');
  const folder = binaryFolder(target.target);
  const missing = target.binaries.filter((b) => !fs.existsSync(path.join(ROOT, folder, b)));
  if (missing.length) throw new Error(`${folder} lacks ${missing.join(', ')}: run npm ci`);
  const lines = target.binaries.map((b) => `!${folder}/${b}`);
  return `${base}\n# ${target.target}'s onnxruntime binaries (scripts/package.ts)\n${lines.join('\n')}\n`;
}

/** Builds the production bundles (unless told not to) and writes one .vsix per target into outDir. */
export async function packageTargets(
  targets: readonly PlatformTarget[],
  outDir: string,
  opts: { build?: boolean; log?: (s: string) => void } = {},
): Promise<string[]> {
  const log = opts.log ?? (() => {});
  if (opts.build !== false) execFileSync(process.execPath, ['esbuild.mjs', '--production'], { cwd: ROOT, stdio: 'inherit' });
  fs.mkdirSync(outDir, { recursive: true });
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-lens-package-'));
  try {
    // vsce spends its time compressing the native libraries: one process per core.
    const queue = [...targets];
    const worker = async (): Promise<void> => {
      for (let target = queue.shift(); target; target = queue.shift()) {
        const out = await packageOne(target, outDir, scratch);
        log(`${path.relative(process.cwd(), out) || out}: ${(fs.statSync(out).size / 1e6).toFixed(1)} MB`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(targets.length, os.availableParallelism()) }, worker));
    return targets.map((t) => path.join(outDir, vsixName(t.target)));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function packageOne(target: PlatformTarget, outDir: string, scratch: string): Promise<string> {
  const ignoreFile = path.join(scratch, `${target.target}.vscodeignore`);
  fs.writeFileSync(ignoreFile, ignoreFileFor(target));
  const out = path.join(outDir, vsixName(target.target));
  const vsce = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
  const args = ['package', '--target', target.target, '--ignoreFile', ignoreFile, '--out', out];
  args.push('--allow-missing-repository', '--no-rewrite-relative-links');
  try {
    await execFileAsync(process.execPath, [vsce, ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(`vsce package --target ${target.target} failed:\n${stdout}${stderr}`);
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      all: { type: 'boolean', default: false },
      target: { type: 'string', multiple: true },
      out: { type: 'string', default: ROOT },
      'no-build': { type: 'boolean', default: false },
    },
  });
  const names = values.all ? TARGETS.map((t) => t.target) : (values.target ?? [`${process.platform}-${process.arch}`]);
  await packageTargets(names.map(findTarget), path.resolve(values.out), { build: !values['no-build'], log: console.log });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
