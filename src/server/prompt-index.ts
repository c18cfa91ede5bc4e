// The prompts of every file the server knows: open documents (their editor text, which may be
// unsaved) and workspace files read from disk by a scan. findPrompts gives character offsets; the
// index turns them into LSP ranges once, with the file's TextDocument.

import { fileURLToPath, pathToFileURL } from 'node:url';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Position, Range } from 'vscode-languageserver/node';
import type { CandidatePair } from '../bias/candidates.ts';
import * as path from 'node:path';
import { findPrompts, promptfooReferences, type FoundPrompt, type TemplateFill } from '../bias/prompts.ts';
import type { PromptInput } from '../bias/scan.ts';
import type { Label } from '../bias/dataset.ts';

export interface IndexedPrompt {
  uri: string;
  found: FoundPrompt;
  range: Range;
  /** The prompt as the model gets it: the decoded text, and the line's own pair for JSONL. */
  input: PromptInput;
  /** The expected answer (JSONL label or an `expect:` annotation), or null. */
  label: Label | null;
  /** What is scored: the prompt itself, or a template's fills (never the template as written). */
  inputs: PromptInput[];
}

/** Example values registered for a file's templates, and where they come from. */
interface FillSet {
  fills: TemplateFill[];
  source: string;
}

export interface IndexedFile {
  /** The URI diagnostics are published under (the editor's own for open documents). */
  uri: string;
  /** The name findPrompts picks its scanner by (the language's extension for open documents). */
  fileName: string;
  doc: TextDocument;
  open: boolean;
  /** Unique across the index and bumped on every update: a job scored this file iff the revision still matches. */
  revision: number;
  prompts: IndexedPrompt[];
}

/** Extension of the scanner for each language the server reads (prose for markdown/plaintext). */
const LANGUAGE_EXTENSIONS: Record<string, string> = {
  markdown: '.md',
  plaintext: '.txt',
  prompt: '.prompt',
  jsonl: '.jsonl',
  yaml: '.yaml',
  python: '.py',
  typescript: '.ts',
  typescriptreact: '.tsx',
  javascript: '.js',
  javascriptreact: '.jsx',
};

const DISK_LANGUAGES: Record<string, string> = {
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.txt': 'plaintext',
  '.prompt': 'plaintext',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.yaml': 'yaml',
  '.yml': 'yaml',
  '.j2': 'plaintext',
  '.jinja': 'plaintext',
  '.py': 'python',
  '.pyi': 'python',
  '.ts': 'typescript',
  '.tsx': 'typescriptreact',
  '.mts': 'typescript',
  '.cts': 'typescript',
  '.js': 'javascript',
  '.jsx': 'javascriptreact',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
};

/**
 * The file name to scan an open document as, or null for languages we do not read. The language
 * decides (an untitled Python buffer has no extension); `.prompt` files are prose whatever their language.
 */
export function scannerFileName(uri: string, languageId: string): string | null {
  const base = decodeURIComponent(uri.split(/[/\\]/).pop() ?? 'untitled');
  if (/\.(prompt|j2|jinja2?)$/i.test(base)) return base;
  // Tables and logs open as plain text, but a file of rows is not a paragraph of prose.
  if (/\.(csv|tsv|log)$/i.test(base)) return null;
  const ext = LANGUAGE_EXTENSIONS[languageId];
  return ext === undefined ? null : `${base}${ext}`;
}

/**
 * One key per file whatever the URI's spelling: VS Code and Node encode some characters (and
 * Windows drive letters) differently, and on Windows and macOS file names are case-insensitive (as
 * VS Code treats them there), so `C:\Docs\A.md` and `c:\docs\a.md` are one file.
 */
export function canonicalUri(uri: string, platform: NodeJS.Platform = process.platform): string {
  if (!uri.startsWith('file:')) return uri;
  try {
    const href = pathToFileURL(fileURLToPath(uri)).href;
    return platform === 'win32' || platform === 'darwin' ? href.toLowerCase() : href;
  } catch {
    return uri;
  }
}

export class PromptIndex {
  private readonly files = new Map<string, IndexedFile>();
  private revision = 0;
  /** Fills for the templates of a file (canonical URI): a promptfoo config's tests, or a dataset the user chose. */
  private readonly fillSets = new Map<string, FillSet>();
  /** The promptfoo configs (canonical URI) and the files each one fills. */
  private readonly configTargets = new Map<string, string[]>();
  private pairs: readonly CandidatePair[] = [];

  /** Indexes an open document; null (and removed) when its language is not one we read. */
  setDocument(doc: TextDocument, pairs: readonly CandidatePair[]): IndexedFile | null {
    const key = canonicalUri(doc.uri);
    const fileName = scannerFileName(doc.uri, doc.languageId);
    if (fileName === null) {
      this.files.delete(key);
      return null;
    }
    // A snapshot: TextDocuments updates its documents in place, and the prompts' offsets must
    // stay consistent with the text they were found in while a request awaits.
    const snapshot = TextDocument.create(doc.uri, doc.languageId, doc.version, doc.getText());
    return this.store(key, { uri: doc.uri, fileName, doc: snapshot, open: true }, pairs);
  }

  /** Indexes a file read from disk, unless an open document holds it (the editor's text is newer). */
  setDiskFile(file: string, text: string, pairs: readonly CandidatePair[]): IndexedFile {
    const uri = pathToFileURL(file).href;
    const key = canonicalUri(uri);
    const existing = this.files.get(key);
    if (existing?.open) return existing;
    const ext = /\.[^./\\]+$/.exec(file)?.[0]?.toLowerCase() ?? '';
    const doc = TextDocument.create(uri, DISK_LANGUAGES[ext] ?? 'plaintext', 0, text);
    return this.store(key, { uri, fileName: file, doc, open: false }, pairs);
  }

  remove(uri: string): IndexedFile | undefined {
    const key = canonicalUri(uri);
    const file = this.files.get(key);
    this.files.delete(key);
    return file;
  }

  /**
   * Registers example values for the templates of `uri` (a dataset the user chose) and finds its
   * prompts again; returns the file when it is indexed.
   */
  setTemplateFills(uri: string, fills: TemplateFill[], source: string): IndexedFile | undefined {
    const key = canonicalUri(uri);
    this.fillSets.set(key, { fills, source });
    const file = this.files.get(key);
    return file ? this.store(key, file, this.pairs) : undefined;
  }

  get(uri: string): IndexedFile | undefined {
    return this.files.get(canonicalUri(uri));
  }

  all(): IndexedFile[] {
    return [...this.files.values()];
  }

  /** Finds the prompts again with other candidate pairs. */
  reindex(pairs: readonly CandidatePair[]): void {
    for (const [key, f] of this.files) this.store(key, f, pairs);
  }

  promptAt(uri: string, position: Position): IndexedPrompt | undefined {
    const file = this.get(uri);
    if (!file) return undefined;
    const offset = file.doc.offsetAt(position);
    return file.prompts.find((p) => p.found.startOffset <= offset && offset <= p.found.endOffset);
  }

  /** Prompts that overlap `range` (a cursor inside a prompt counts). */
  promptsIn(uri: string, range: Range): IndexedPrompt[] {
    const file = this.get(uri);
    if (!file) return [];
    const start = file.doc.offsetAt(range.start);
    const end = file.doc.offsetAt(range.end);
    return file.prompts.filter((p) => p.found.startOffset <= end && start <= p.found.endOffset);
  }

  private store(key: string, f: Omit<IndexedFile, 'revision' | 'prompts'>, pairs: readonly CandidatePair[]): IndexedFile {
    this.pairs = pairs;
    const set = this.fillSets.get(key);
    const text = f.doc.getText();
    const found = findPrompts(text, f.fileName, pairs, set ? { fills: set.fills, fillSource: set.source } : {});
    const file: IndexedFile = {
      uri: f.uri,
      fileName: f.fileName,
      doc: f.doc,
      open: f.open,
      revision: ++this.revision,
      prompts: found.map((p) => indexedPrompt(f.uri, f.doc, p)),
    };
    this.files.set(key, file);
    this.updateConfigTargets(key, f.uri, text, pairs);
    return file;
  }

  /** A promptfoo config fills the prompt files it references: register its tests for them, re-find theirs. */
  private updateConfigTargets(key: string, uri: string, text: string, pairs: readonly CandidatePair[]): void {
    const before = this.configTargets.get(key) ?? [];
    const { files, fills } = uri.startsWith('file:') ? promptfooReferences(text, uri, pairs) : { files: [], fills: [] };
    if (files.length === 0 && before.length === 0) return;
    const dir = path.dirname(fileURLToPath(uri));
    const targets = files.map((rel) => canonicalUri(pathToFileURL(path.resolve(dir, rel)).href));
    this.configTargets.set(key, targets);
    const source = `${path.basename(fileURLToPath(uri))} tests`;
    for (const t of before) if (!targets.includes(t) && this.fillSets.get(t)?.source === source) this.fillSets.delete(t);
    for (const t of targets) this.fillSets.set(t, { fills, source });
    for (const t of new Set([...before, ...targets])) {
      const target = this.files.get(t);
      if (target && t !== key) this.store(t, target, pairs);
    }
  }
}

function indexedPrompt(uri: string, doc: TextDocument, found: FoundPrompt): IndexedPrompt {
  return {
    uri,
    found,
    range: { start: doc.positionAt(found.startOffset), end: doc.positionAt(found.endOffset) },
    input: { text: found.text, positive: found.positive, negative: found.negative },
    label: found.label ?? null,
    inputs: found.template
      ? found.template.fills.map((f) => ({ text: f.text, positive: found.positive, negative: found.negative }))
      : [{ text: found.text, positive: found.positive, negative: found.negative }],
  };
}
