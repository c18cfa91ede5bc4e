// The server's view of the `nasaLens.*` settings: defaults, validation of what the client sends
// (initializationOptions, workspace/didChangeConfiguration), and the parts that key caches.
// Bad values fall back to the default rather than failing: a typo in settings.json must not stop
// the server.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_PAIRS, type CandidatePair } from '../bias/candidates.ts';
import { DEFAULT_SCAN_OPTIONS, type ScanOptions } from '../bias/scan.ts';
import { PROVIDERS, type Provider } from '../engine/providers.ts';
import { isHubId } from '../model/hub.ts';
import { WEIGHT_MODES, type WeightMode } from '../model/weights-graph.ts';
import type { LensSettings } from '../protocol.ts';

/** Files a workspace scan reads when the client sends no globs. */
export const DEFAULT_FILE_GLOBS = [
  '**/*.{md,markdown,txt,prompt,j2,jinja,jsonl,ndjson,py,ts,tsx,js,jsx,mjs,cjs}',
  '**/promptfooconfig*.{yaml,yml}',
];

export const DEFAULT_SETTINGS: Readonly<LensSettings> = {
  modelPath: '',
  provider: 'auto',
  candidatePairs: [...DEFAULT_PAIRS],
  queryMode: 'last',
  chatTemplate: true,
  thinking: false,
  maxPromptTokens: DEFAULT_SCAN_OPTIONS.maxTokens,
  diagnosticThreshold: 0.5,
  knockoutMinShift: 0.2,
  fileGlobs: DEFAULT_FILE_GLOBS,
  adapterPath: '',
  weights: 'auto',
};

type Raw = Record<string, unknown>;

/** Settings from an untrusted JSON value; missing or invalid fields take their default. */
export function readSettings(raw: unknown): LensSettings {
  const r: Raw = typeof raw === 'object' && raw !== null ? (raw as Raw) : {};
  const d = DEFAULT_SETTINGS;
  return {
    modelPath: typeof r.modelPath === 'string' ? r.modelPath.trim() : d.modelPath,
    provider: PROVIDERS.includes(r.provider as Provider) ? (r.provider as Provider) : d.provider,
    candidatePairs: readPairs(r.candidatePairs),
    queryMode: r.queryMode === 'after' ? 'after' : 'last',
    chatTemplate: typeof r.chatTemplate === 'boolean' ? r.chatTemplate : d.chatTemplate,
    thinking: typeof r.thinking === 'boolean' ? r.thinking : d.thinking,
    maxPromptTokens:
      Number.isInteger(r.maxPromptTokens) && (r.maxPromptTokens as number) > 0 ? (r.maxPromptTokens as number) : d.maxPromptTokens,
    diagnosticThreshold:
      typeof r.diagnosticThreshold === 'number' && Number.isFinite(r.diagnosticThreshold) ? r.diagnosticThreshold : d.diagnosticThreshold,
    knockoutMinShift: isShift(r.knockoutMinShift) ? r.knockoutMinShift : d.knockoutMinShift,
    fileGlobs: readGlobs(r.fileGlobs),
    adapterPath: typeof r.adapterPath === 'string' ? r.adapterPath.trim() : d.adapterPath,
    weights: WEIGHT_MODES.includes(r.weights as WeightMode) ? (r.weights as WeightMode) : d.weights,
  };
}

/** Valid pairs only; an empty list means the built-in pairs (the client's default is []). */
function readPairs(value: unknown): CandidatePair[] {
  if (!Array.isArray(value)) return [...DEFAULT_PAIRS];
  const pairs = value.filter(
    (p): p is CandidatePair => typeof p === 'object' && p !== null && isWord((p as Raw).positive) && isWord((p as Raw).negative),
  );
  return pairs.length > 0 ? pairs.map((p) => ({ positive: p.positive.trim(), negative: p.negative.trim() })) : [...DEFAULT_PAIRS];
}

function readGlobs(value: unknown): string[] {
  if (!Array.isArray(value)) return DEFAULT_FILE_GLOBS;
  const globs = value.filter((g): g is string => typeof g === 'string' && g.trim() !== '').map((g) => g.trim());
  return globs.length > 0 ? globs : DEFAULT_FILE_GLOBS;
}

function isShift(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
}

function isWord(v: unknown): v is string {
  return typeof v === 'string' && v.trim() !== '';
}

export function scanOptionsOf(s: LensSettings): ScanOptions {
  return {
    ...DEFAULT_SCAN_OPTIONS,
    pairs: s.candidatePairs,
    query: s.queryMode,
    chatTemplate: s.chatTemplate,
    thinking: s.thinking,
    maxTokens: s.maxPromptTokens,
    // Every prompt's top heads at the threshold are knocked out: the diagnostics need the evidence.
    knockout: { heads: 'auto', threshold: s.diagnosticThreshold },
  };
}

/**
 * The settings that change a prompt's numbers for a given model (the threshold picks the knockout
 * heads): part of every score cache key.
 */
export function scoringKey(s: LensSettings): string {
  return JSON.stringify([s.candidatePairs, s.queryMode, s.chatTemplate, s.thinking, s.maxPromptTokens, s.diagnosticThreshold]);
}

/**
 * A path from the settings or a request as an absolute path: `${workspaceFolder}` and `~` expand,
 * relative paths are taken from the first workspace folder (as a user writing "models/x" means).
 * `paths` is the platform's path module (path.win32 in tests of Windows paths).
 */
export function resolvePath(p: string, roots: readonly string[], paths: path.PlatformPath = path): string {
  const root = roots[0] ?? process.cwd();
  let out = p.replace(/\$\{workspaceFolder\}/g, root);
  if (out === '~' || out.startsWith('~/') || out.startsWith('~\\')) out = paths.join(os.homedir(), out.slice(1));
  return paths.resolve(root, out);
}

/**
 * nasaLens.modelPath as the server uses it: a Hugging Face id (`org/name[@rev]`) stays an id unless
 * a folder of that name exists in the workspace; anything else is a path, resolved as above.
 */
export function modelSpecOf(p: string, roots: readonly string[]): string {
  if (p === '') return '';
  const resolved = resolvePath(p, roots);
  return isHubId(p, roots[0] ?? process.cwd()) && !fs.existsSync(resolved) ? p : resolved;
}
