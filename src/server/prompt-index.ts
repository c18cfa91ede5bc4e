// The prompts of every file the server knows: open documents (their editor text, which may be
// unsaved) and workspace files read from disk by a scan. findPrompts gives character offsets; the
// index turns them into LSP ranges once, with the file's TextDocument.

import { fileURLToPath, pathToFileURL } from 'node:url';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Position, Range } from 'vscode-languageserver/node';
import type { CandidatePair } from '../bias/candidates.ts';
import { findPrompts, type FoundPrompt } from '../bias/prompts.ts';
import type { PromptInput } from '../bias/scan.ts';
import type { Label } from '../bias/dataset.ts';

export interface IndexedPrompt {
  uri: string;
  found: FoundPrompt;
  range: Range;
  /** What the model scores: the decoded text, and the line's own pair for JSONL. */
  input: PromptInput;
  /** The expected answer (JSONL label or an `expect:` annotation), or null. */
  label: Label | null;
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
  python: '.py',
  typescript: '.ts',
  typescriptreact: '.tsx',
  javascript: '.js',
  javascriptreact: '.jsx',
};

const DISK_LANGUAGES: Record<string, string> = {
  '.md': 'markdown', '.markdown': 'markdown', '.txt': 'plaintext', '.prompt': 'plaintext', '.jsonl': 'jsonl', '.ndjson': 'jsonl',
  '.py': 'python', '.pyi': 'python', '.ts': 'typescript', '.tsx': 'typescriptreact', '.mts': 'typescript', '.cts': 'typescript',
  '.js': 'javascript', '.jsx': 'javascriptreact', '.mjs': 'javascript', '.cjs': 'javascript',
};

/**
 * The file name to scan an open document as, or null for languages we do not read. The language
 * decides (an untitled Python buffer has no extension); `.prompt` files are prose whatever their language.
 */
export function scannerFileName(uri: string, languageId: string): string | null {
  const base = decodeURIComponent(uri.split(/[/\\]/).pop() ?? 'untitled');
  if (/\.prompt$/i.test(base)) return base;
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
    const found = findPrompts(f.doc.getText(), f.fileName, pairs);
    const file: IndexedFile = {
      uri: f.uri,
      fileName: f.fileName,
      doc: f.doc,
      open: f.open,
      revision: ++this.revision,
      prompts: found.map((p) => indexedPrompt(f.uri, f.doc, p)),
    };
    this.files.set(key, file);
    return file;
  }
}

function indexedPrompt(uri: string, doc: TextDocument, found: FoundPrompt): IndexedPrompt {
  return {
    uri,
    found,
    range: { start: doc.positionAt(found.startOffset), end: doc.positionAt(found.endOffset) },
    input: { text: found.text, positive: found.positive, negative: found.negative },
    label: found.label ?? null,
  };
}
