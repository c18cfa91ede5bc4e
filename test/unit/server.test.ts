// The language server, driven in-process over JSON-RPC streams exactly as an editor drives it:
// initialize with settings, open documents, ask for hovers, CodeLenses and code actions, receive
// diagnostics and status notifications, and call the custom requests of src/protocol.ts. The
// models are real Hugging Face directories written by our scripts: the planted model (head L0H1
// attends to "No" whatever the question) and a random llama test model.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { TextDocument } from 'vscode-languageserver-textdocument';
import {
  createConnection,
  // vscode-jsonrpc's client side, as re-exported by vscode-languageserver (its dependency).
  createMessageConnection,
  type ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type CodeAction,
  type CodeLens,
  type Diagnostic,
  type Hover,
  type MarkupContent,
  type MessageConnection,
  type PublishDiagnosticsParams,
  type TextEdit,
} from 'vscode-languageserver/node';
import { writePlantedModel } from '../../scripts/planted-model.ts';
import { STANDARD_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';
import { openScoringRunner } from '../../src/align/adapter.ts';
import { DEFAULT_ALIGN } from '../../src/align/defaults.ts';
import { DEFAULT_PAIRS } from '../../src/bias/candidates.ts';
import { findPrompts } from '../../src/bias/prompts.ts';
import { DEFAULT_SCAN_OPTIONS, scorePrompts } from '../../src/bias/scan.ts';
import { readSafetensorsHeader } from '../../src/model/safetensors.ts';
import * as L from '../../src/lsp-ext.ts';
import type * as P from '../../src/protocol.ts';
import { startServer, type ServerOptions } from '../../src/server/lens-server.ts';
import { modelDisplayName } from '../../src/server/model-session.ts';
import { readSettings } from '../../src/server/settings.ts';
import { promptVariants } from '../../src/server/features/variants.ts';
import { globToRegExp } from '../../src/server/workspace-files.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-server-'));
const plantedDir = path.join(root, 'planted');
const llamaDir = path.join(root, 'llama');
writePlantedModel(plantedDir);
writeTestModel(llamaDir, STANDARD_TEST_MODELS['llama-gqa-f32']!);
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A regular expression written in pieces (String.raw, so backslashes stay as written). */
const pattern = (...parts: string[]) => new RegExp(parts.join(''));

const NEGATIVE = 'The food was good . Did you like it ? Answer Yes or No .';
const POSITIVE = 'The movie was great . Would you recommend it ? Reply with No or Yes :';
const PROSE = 'This line has no question , so NASA Lens leaves it alone .';
const REVIEWS_MD = `# Reviews\n\n${NEGATIVE}\n\n${PROSE}\n\n${POSITIVE}\n`;

/** A balanced labelled set for the planted model: weak positives are the ones it gets wrong. */
const LABELLED = [
  ['The food was great . Did you like it ? Answer Yes or No .', 'yes'],
  ['The movie was good . Did you like it ? Answer Yes or No .', 'yes'],
  ['The book was nice . Would you recommend it ? Answer Yes or No .', 'yes'],
  ['The hotel was excellent . Is it worth it ? Answer Yes or No .', 'yes'],
  ['The song was bad . Did you like it ? Answer Yes or No .', 'no'],
  ['The game was awful . Did you like it ? Answer Yes or No .', 'no'],
  ['The room was poor . Would you recommend it ? Answer Yes or No .', 'no'],
  ['The trip was terrible . Is it worth it ? Answer Yes or No .', 'no'],
]
  .map(([prompt, label]) => JSON.stringify({ prompt, label }))
  .join('\n');

function settings(overrides: Partial<P.LensSettings> = {}): P.LensSettings {
  return { ...readSettings({}), modelPath: plantedDir, provider: 'cpu', ...overrides };
}

// ---------------------------------------------------------------------------------------------
// An editor stand-in: a JSON-RPC client connected to a server started in this process.

class TestClient {
  readonly conn: MessageConnection;
  readonly statuses: P.StatusParams[] = [];
  readonly diagnostics: PublishDiagnosticsParams[] = [];
  readonly messages: { type: number; message: string }[] = [];
  readonly alignProgress: P.AlignProgressParams[] = [];
  readonly alignDone: P.AlignDoneParams[] = [];
  readonly progress: { token: unknown; value: { kind: string; percentage?: number } }[] = [];
  lensRefreshes = 0;
  private readonly watchers = new Set<() => void>();

  constructor(
    readonly workspace: string,
    options: ServerOptions,
  ) {
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    startServer(createConnection(new StreamMessageReader(toServer), new StreamMessageWriter(toClient)), options);
    this.conn = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toServer));
    this.record(L.StatusNotification.method, this.statuses);
    this.record('textDocument/publishDiagnostics', this.diagnostics);
    this.record('window/showMessage', this.messages);
    this.record(L.AlignProgressNotification.method, this.alignProgress);
    this.record(L.AlignDoneNotification.method, this.alignDone);
    this.record('$/progress', this.progress);
    this.conn.onRequest('workspace/codeLens/refresh', () => {
      this.lensRefreshes++;
      this.changed();
      return null;
    });
    this.conn.onRequest('window/workDoneProgress/create', () => null);
    this.conn.onNotification('window/logMessage', () => {});
    this.conn.listen();
  }

  private record<T>(method: string, into: T[]): void {
    this.conn.onNotification(method, (params: T) => {
      into.push(params);
      this.changed();
    });
  }

  private changed(): void {
    for (const w of [...this.watchers]) w();
  }

  /** Resolves with the first truthy value of `probe`, checked now and after every message. */
  waitFor<T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = probe();
        if (!value) return;
        this.watchers.delete(check);
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.watchers.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      this.watchers.add(check);
      check();
    });
  }

  async initialize(s: P.LensSettings): Promise<void> {
    const uri = pathToFileURL(this.workspace).href;
    await this.conn.sendRequest('initialize', {
      processId: null,
      rootUri: uri,
      workspaceFolders: [{ uri, name: 'ws' }],
      capabilities: {
        workspace: { codeLens: { refreshSupport: true }, workspaceFolders: true },
        window: { workDoneProgress: true },
      },
      initializationOptions: s,
    });
    await this.conn.sendNotification('initialized', {});
  }

  configure(s: P.LensSettings): Promise<void> {
    return this.conn.sendNotification('workspace/didChangeConfiguration', { settings: { nasaLens: s } });
  }

  lastStatus(): P.StatusParams | undefined {
    return this.statuses[this.statuses.length - 1];
  }

  waitStatus(state: P.StatusParams['state'], since = 0): Promise<P.StatusParams> {
    return this.waitFor(`status ${state}`, () => this.statuses.slice(since).find((s) => s.state === state));
  }

  async open(name: string, languageId: string, text: string): Promise<string> {
    const uri = pathToFileURL(path.join(this.workspace, name)).href;
    await this.conn.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId, version: 1, text } });
    return uri;
  }

  change(uri: string, version: number, text: string): Promise<void> {
    return this.conn.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ text }] });
  }

  /** The first diagnostics published for `uri` after `since` messages (optionally at a version). */
  waitDiagnostics(uri: string, since: number, version?: number): Promise<PublishDiagnosticsParams> {
    return this.waitFor(`diagnostics for ${path.basename(uri)}${version ? ` v${version}` : ''}`, () =>
      this.diagnostics.slice(since).find((d) => d.uri === uri && (version === undefined || d.version === version)),
    );
  }

  hover(uri: string, line: number, character: number): Promise<Hover | null> {
    return this.conn.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line, character } });
  }

  codeLenses(uri: string): Promise<CodeLens[]> {
    return this.conn.sendRequest('textDocument/codeLens', { textDocument: { uri } });
  }

  codeActions(uri: string, line: number, diagnostics: Diagnostic[] = []): Promise<CodeAction[]> {
    const range = { start: { line, character: 5 }, end: { line, character: 5 } };
    return this.conn.sendRequest('textDocument/codeAction', { textDocument: { uri }, range, context: { diagnostics } });
  }

  async close(): Promise<void> {
    await this.conn.sendRequest('shutdown');
    this.conn.dispose();
  }
}

/** A workspace folder with the given files, and a client initialized on it. */
async function startClient(
  files: Record<string, string>,
  s: P.LensSettings,
  options: ServerOptions = { debounceMs: 100 },
): Promise<TestClient> {
  const ws = fs.mkdtempSync(path.join(root, 'ws-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(ws, name)), { recursive: true });
    fs.writeFileSync(path.join(ws, name), text);
  }
  const client = new TestClient(ws, options);
  await client.initialize(s);
  return client;
}

const text = (m: string | MarkupContent) => (typeof m === 'string' ? m : m.value);
const markdown = (h: Hover | null) => (h?.contents as MarkupContent | undefined)?.value ?? '';

function applyEdit(text: string, uri: string, edits: TextEdit[]): string {
  return TextDocument.applyEdits(TextDocument.create(uri, 'x', 1, text), edits);
}

/** P(Yes) of prompts scored directly with the engine, as the CLI would. */
async function directPYes(modelDir: string, texts: string[]): Promise<number[]> {
  const runner = await openScoringRunner(modelDir, undefined, { provider: 'cpu' });
  try {
    const scores = await scorePrompts(
      runner,
      texts.map((text) => ({ text })),
      { ...DEFAULT_SCAN_OPTIONS, pairs: DEFAULT_PAIRS },
    );
    return scores.map((s) => s.pYes);
  } finally {
    await runner.close();
  }
}

// ---------------------------------------------------------------------------------------------

describe('language server on the planted model', () => {
  let client: TestClient;
  let gate: Promise<void> | null = null;
  const jobs: string[][] = [];
  let jobEntered: (() => void) | null = null;
  let uri: string;

  before(async () => {
    client = await startClient(
      {
        'notes.md': `Notes\n\nThe book was bad . Is it worth it ? Answer Yes or No .\n`,
        'data/set.jsonl': LABELLED,
        'node_modules/dep/readme.md': NEGATIVE,
        'src/app.py': `Q = "${NEGATIVE}"\n`,
      },
      settings(),
      {
        debounceMs: 100,
        // Lets a test hold a job at its start, change the document under it, then release it.
        beforeJob: async (uris) => {
          jobs.push(uris);
          jobEntered?.();
          if (gate) await gate;
        },
      },
    );
  });
  after(() => client.close());

  test('initialize with settings: status ready with the model', async () => {
    const ready = await client.waitStatus('ready');
    assert.equal(ready.model?.layers, 2);
    assert.equal(ready.model?.heads, 4);
    assert.equal(ready.model?.name, 'planted');
    assert.equal(ready.model?.provider, 'cpu');
    assert.ok(
      client.statuses.some((s) => s.state === 'loading'),
      'loading came first',
    );
  });

  test('diagnostics where the knockout ties the No to the heads, none on prose or the prompt that answers Yes', async () => {
    const refreshes = client.lensRefreshes;
    uri = await client.open('reviews.md', 'markdown', REVIEWS_MD);
    const published = await client.waitDiagnostics(uri, 0);
    assert.equal(published.version, 1);
    assert.equal(published.diagnostics.length, 1, JSON.stringify(published.diagnostics));
    const d = published.diagnostics[0]!;
    assert.deepEqual(d.range, { start: { line: 2, character: 0 }, end: { line: 2, character: NEGATIVE.length } });
    assert.equal(d.source, 'NASA Lens');
    assert.equal(d.severity, 2); // Warning
    assert.match(
      text(d.message),
      pattern(
        String.raw`^Negative bias: answers No \(P\(Yes\) 0\.\d\d\)\.`,
        String.raw` Without L0H1( and L\dH\d)? looking at "No": P\(Yes\) 0\.\d\d → 0\.9\d`,
        String.raw` — the No comes from these heads\. NAS \(top head\) L0H1 \d+\.\d\d, 9\d% of its attention on "No"$`,
      ),
    );
    assert.equal(d.code, 'negative-bias');
    await client.waitFor('a CodeLens refresh once the scores are in', () => client.lensRefreshes > refreshes);
  });

  test('hover: answer, knockout verdict, NAS (top head) and ΣNAS with the sign convention, command links; nothing on prose', async () => {
    const h = markdown(await client.hover(uri, 2, 10));
    const [pYes] = await directPYes(plantedDir, [NEGATIVE]);
    assert.ok(h.includes(`answers **No** · P(Yes) ${pYes!.toFixed(2)}`), h);
    assert.ok(h.includes(`P(No) ${(1 - pYes!).toFixed(2)}`), h);
    assert.match(h, /\*\*Negative bias\*\*: answers No because heads look at "No"/);
    assert.match(
      h,
      pattern(
        String.raw`Without L0H1( and L\dH\d)? looking at "No": P\(Yes\) ${pYes!.toFixed(2)} → 0\.9\d`,
        ' — the No comes from these heads',
      ),
    );
    assert.match(h, /NAS \(top head\): L0H1 \d+\.\d\d · L\dH\d -?\d+\.\d\d/);
    assert.match(h, /ΣNAS \(all heads\) -?\d+\.\d\d — NAS > 0: the head looks more at the negative answer than at the positive one/);
    assert.ok(!/adapter off/.test(h), 'no before/after without an adapter');
    assert.ok(h.includes('[What these numbers mean](command:nasaLens.explain)'));
    const tokens = /\[Tokens L0H1 looks at\]\(command:nasaLens\.showTokens\?([^)]+)\)/.exec(h);
    assert.ok(tokens, h);
    assert.deepEqual(JSON.parse(decodeURIComponent(tokens[1]!)), [
      { uri, position: { line: 2, character: 0 }, head: { layer: 0, head: 1 } },
    ]);
    assert.ok(h.includes('[Open dashboard](command:nasaLens.showDashboard)'));
    const link = /\[Align these heads\]\(command:nasaLens\.alignHeads\?([^)]+)\)/.exec(h);
    assert.ok(link, h);
    const args = JSON.parse(decodeURIComponent(link[1]!)) as [{ heads: P.HeadRef[] }];
    assert.equal(args[0].heads.length, 3);
    assert.deepEqual(args[0].heads[0], { layer: 0, head: 1 });
    assert.equal(await client.hover(uri, 4, 5), null, 'prose is not a prompt');
    assert.equal(await client.hover(uri, 0, 2), null, 'a heading is not a prompt');
  });

  test('CodeLens: numbers and top head above each prompt, and Align with the top 3 heads', async () => {
    const lenses = await client.codeLenses(uri);
    assert.equal(lenses.length, 4);
    const titles = lenses.map((l) => l.command!.title);
    assert.match(
      titles[0]!,
      /^P\(Yes\) 0\.\d\d · NAS \(top head\) L0H1 \d+\.\d\d · ΣNAS -?\d+\.\d · knockout → 0\.9\d \(No from these heads\)$/,
    );
    assert.match(titles[2]!, /^P\(Yes\) 0\.\d\d · NAS \(top head\) L0H1 \d+\.\d\d · ΣNAS -?\d+\.\d · knockout → \d\.\d\d$/);
    assert.deepEqual(
      lenses.map((l) => l.range.start.line),
      [2, 2, 6, 6],
    );
    assert.equal(lenses[0]!.command!.command, 'nasaLens.showDashboard');
    assert.equal(lenses[1]!.command!.title, 'Align');
    assert.equal(lenses[1]!.command!.command, 'nasaLens.alignHeads');
    const [arg] = lenses[1]!.command!.arguments as [{ heads: P.HeadRef[] }];
    assert.deepEqual(arg.heads[0], { layer: 0, head: 1 });
    assert.equal(arg.heads.length, 3);
  });

  test('code actions: rewrites scored before they are offered, edits replace exactly the prompt', async () => {
    const published = client.diagnostics.filter((d) => d.uri === uri).pop()!;
    const actions = await client.codeActions(uri, 2, published.diagnostics);
    const titles = actions.map((a) => a.title);
    const [pYes, pYesTrue] = await directPYes(plantedDir, [NEGATIVE, NEGATIVE.replace('Yes or No', 'True or False')]);
    const swap = actions.find((a) => a.title.startsWith('Swap to "No or Yes"'));
    const words = actions.find((a) => a.title.startsWith('Use "True or False"'));
    assert.ok(swap && words, titles.join('\n'));
    assert.match(
      words.title,
      pattern(
        String.raw`^Use "True or False" → "The food was good \. Did you like it \? Answer True or False \." · `,
        String.raw`P\(Yes\) \d\.\d\d → \d\.\d\d \(higher = less No-leaning\) · `,
        String.raw`NAS \(top head\) -?\d+\.\d\d → -?\d+\.\d\d \(lower is better\)$`,
      ),
    );
    assert.ok(words.title.includes(`P(Yes) ${pYes!.toFixed(2)} → ${pYesTrue!.toFixed(2)}`), words.title);
    assert.equal(words.kind, 'quickfix');
    // The preferred fix is the one that raises P(Yes) the most.
    const after = (a: CodeAction) => Number(/P\(Yes\) \d\.\d\d → (\d\.\d\d)/.exec(a.title)![1]);
    const preferred = actions.filter((a) => a.isPreferred);
    assert.equal(preferred.length, 1);
    assert.equal(after(preferred[0]!), Math.max(...actions.map(after)));
    // The planted tokenizer has no "I", "don" or "know": that rewrite cannot be scored, so it is not offered.
    assert.ok(!titles.some((t) => t.includes("I don't know")), titles.join('\n'));
    // Correct/Incorrect and Agree/Disagree are not in its vocabulary either; Right/Wrong is.
    assert.ok(
      titles.some((t) => t.startsWith('Use "Right or Wrong"')),
      titles.join('\n'),
    );
    assert.ok(!titles.some((t) => /Correct|Agree/.test(t)), titles.join('\n'));
    const edits = words.edit!.changes![uri]!;
    assert.equal(edits.length, 1);
    assert.deepEqual(edits[0]!.range, published.diagnostics[0]!.range);
    assert.equal(applyEdit(REVIEWS_MD, uri, edits), REVIEWS_MD.replace(NEGATIVE, NEGATIVE.replace('Yes or No', 'True or False')));
    assert.equal(
      applyEdit(REVIEWS_MD, uri, swap.edit!.changes![uri]!),
      REVIEWS_MD.replace(NEGATIVE, NEGATIVE.replace('Yes or No', 'No or Yes')),
    );
    // Without a diagnostic in the request they are rewrites, not fixes.
    const rewrites = await client.codeActions(uri, 6);
    assert.ok(rewrites.length > 0 && rewrites.every((a) => a.kind === 'refactor.rewrite'));
    assert.deepEqual(await client.codeActions(uri, 4), [], 'no actions on prose');
  });

  test('a Python string literal prompt is found, hovered and diagnosed', async () => {
    const py = `import x\n\nGREETING = "hello"\nPROMPT = "${NEGATIVE}"\n`;
    const pyUri = await client.open('prompts.py', 'python', py);
    const published = await client.waitDiagnostics(pyUri, 0);
    assert.equal(published.diagnostics.length, 1);
    assert.deepEqual(published.diagnostics[0]!.range.start, { line: 3, character: 10 });
    const lenses = await client.codeLenses(pyUri);
    assert.equal(lenses.length, 2);
    assert.ok(lenses.every((l) => l.range.start.line === 3));
    assert.match(markdown(await client.hover(pyUri, 3, 20)), /P\(No\) 0\.\d\d/);
    assert.equal(await client.hover(pyUri, 2, 14), null, '"hello" is not a prompt');
  });

  // A wrong No whose heads the knockout does not implicate is information, not a warning.
  test('expected answers: a right answer is never flagged, a wrong No always', async () => {
    const review = (adjective: string) => `The food was ${adjective} . Did you like it ? Answer Yes or No .`;
    const py = [
      '"""Reviews; the model answers Yes or No."""', //          0: a docstring, not a prompt
      '# expect: no', //                                        1
      `A = "${review('bad')}"`, //                              2: right No
      `B = "${review('good')}"  # expect: yes`, //              3: wrong No, from the planted head
      `C = "${review('great')}"  # expect: yes`, //             4: right Yes
      `D = "${review('awful')}"  # expect: yes`, //             5: wrong No, not from the head
      `E = "${review('good')}"  # expect: no`, //               6: right No, though the knockout flips it
    ].join('\n');
    const pyUri = await client.open('labelled.py', 'python', py);
    const published = await client.waitDiagnostics(pyUri, 0);
    const byLine = new Map(published.diagnostics.map((d) => [d.range.start.line, d]));
    assert.deepEqual([...byLine.keys()].sort(), [3, 5]);
    assert.equal(byLine.get(3)!.severity, 2);
    assert.equal(byLine.get(3)!.code, 'negative-bias');
    assert.match(text(byLine.get(3)!.message), /^Negative bias: expected yes, answers No \(P\(Yes\) 0\.\d\d\)\. Without L0H1/);
    assert.equal(byLine.get(5)!.severity, 3);
    assert.equal(byLine.get(5)!.code, 'wrong-no');
    assert.match(
      text(byLine.get(5)!.message),
      pattern(
        String.raw`^Wrong No: expected yes, answers No \(P\(Yes\) 0\.00\)\. Without L0H1( and L\dH\d)? looking at "No": `,
        String.raw`P\(Yes\) 0\.00 → 0\.\d\d: the No does not come from these heads\.$`,
      ),
    );
    assert.match(markdown(await client.hover(pyUri, 6, 10)), /Answers No \(expected no: right\)/);
    assert.match(markdown(await client.hover(pyUri, 3, 10)), /\*\*Negative bias\*\*: answers No \(expected yes: wrong\)/);
    assert.equal(await client.hover(pyUri, 0, 10), null, 'a docstring is not a prompt');
  });

  test("TokensRequest: the tokens and every head's attention from the last position; errors off a prompt", async () => {
    const t = await client.conn.sendRequest(L.TokensRequest, { uri, position: { line: 2, character: 3 } });
    assert.deepEqual(
      t.states.map((s) => s.label),
      ['model'],
    );
    assert.equal(t.tokens[t.negative.index]!.trim(), 'No');
    assert.equal(t.tokens[t.positive.index]!.trim(), 'Yes');
    assert.equal(t.states[0]!.attention.length, 2);
    assert.equal(t.states[0]!.attention[0]!.length, 4);
    const planted = t.states[0]!.attention[0]![1]!;
    assert.equal(planted.length, t.tokens.length);
    assert.ok(Math.abs(planted.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    assert.ok(planted[t.negative.index]! > 0.8, 'the planted head looks at "No"');
    const [pYes] = await directPYes(plantedDir, [NEGATIVE]);
    assert.ok(Math.abs(t.states[0]!.pYes - pYes!) < 1e-6);
    await assert.rejects(
      client.conn.sendRequest(L.TokensRequest, { uri, position: { line: 4, character: 1 } }),
      /no yes\/no prompt at that position/,
    );
    await assert.rejects(client.conn.sendRequest(L.TokensRequest.method, { uri }), /params\.position must be/);
  });

  test('an edit re-scores after the debounce; stale results are never published', async () => {
    const since = client.diagnostics.length;
    const jobsBefore = jobs.length;
    // Three quick edits: one job, for the last version only.
    const t0 = Date.now();
    await client.change(uri, 2, REVIEWS_MD.replace('Answer Yes', 'Answer  Yes'));
    await client.change(uri, 3, REVIEWS_MD.replace('food was good', 'food was fine'));
    await client.change(uri, 4, REVIEWS_MD.replace('food was good', 'food was great'));
    const v4 = await client.waitDiagnostics(uri, since, 4);
    assert.ok(Date.now() - t0 >= 100, 'waited for the debounce');
    assert.equal(jobs.length - jobsBefore, 1, 'one job for the burst');
    assert.deepEqual(
      client.diagnostics
        .slice(since)
        .filter((d) => d.uri === uri)
        .map((d) => d.version),
      [4],
    );
    assert.equal(v4.diagnostics.length, 0, '"great" answers Yes');

    // Hold the next job at its start, edit again under it, then let it go: its result is stale.
    const since2 = client.diagnostics.length;
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    const entered = new Promise<void>((r) => (jobEntered = r));
    await client.change(uri, 5, REVIEWS_MD.replace('food was good', 'food was nice'));
    await entered;
    jobEntered = null;
    // While its job waits, the changed prompt's lens says so; the unchanged one keeps its numbers.
    const held = await client.codeLenses(uri);
    assert.deepEqual(held[0]!.command, { title: 'NASA Lens: scoring…', command: '' });
    assert.match(held[1]!.command!.title, /^P\(Yes\) /);
    await client.change(uri, 6, REVIEWS_MD.replace('food was good', 'food was awful'));
    // A request answered after the change means the server has read it (messages are in order).
    await client.codeLenses(uri);
    gate = null;
    release();
    const v6 = await client.waitDiagnostics(uri, since2, 6);
    assert.deepEqual(
      client.diagnostics
        .slice(since2)
        .filter((d) => d.uri === uri)
        .map((d) => d.version),
      [6],
      'version 5 was never published',
    );
    // "awful" is a No on the evidence: knocking out L0H1 does not turn it to Yes, so no diagnostic.
    assert.equal(v6.diagnostics.length, 0, '"awful" is a right No');
    const awful = markdown(await client.hover(uri, 2, 10));
    assert.match(awful, /P\(No\) 1\.00/);
    assert.match(awful, /Without L0H1( and L\dH\d)? looking at "No": P\(Yes\) 0\.00 → 0\.\d\d: the No does not come from these heads/);
    await client.change(uri, 7, REVIEWS_MD);
    await client.waitDiagnostics(uri, since2, 7);
  });

  test('ScanWorkspaceRequest: reads matching files from disk with work-done progress, skips node_modules', async () => {
    const since = client.diagnostics.length;
    const result = await client.conn.sendRequest(L.ScanWorkspaceRequest, {});
    // notes.md, data/set.jsonl, src/app.py (node_modules is not entered).
    assert.deepEqual(result, { files: 3, prompts: 1 + 8 + 1 });
    const kinds = client.progress.map((p) => p.value.kind);
    assert.equal(kinds[0], 'begin');
    assert.equal(kinds[kinds.length - 1], 'end');
    assert.ok(kinds.includes('report'));
    const notes = pathToFileURL(path.join(client.workspace, 'notes.md')).href;
    // Not open in the editor, yet published: "bad" is a No on the evidence, which knocking out L0H1
    // does not change, so no diagnostic.
    const published = await client.waitDiagnostics(notes, since);
    assert.equal(published.version, undefined);
    assert.deepEqual(published.diagnostics, []);
    // The labelled set: the weak positives the planted head turns to No are flagged (the knockout
    // brings their Yes back); every right answer is left alone.
    const set = pathToFileURL(path.join(client.workspace, 'data/set.jsonl')).href;
    const flagged = (await client.waitDiagnostics(set, since)).diagnostics;
    const pYes = await directPYes(
      plantedDir,
      LABELLED.split('\n').map((l) => (JSON.parse(l) as { prompt: string }).prompt),
    );
    const wrongNo = LABELLED.split('\n').flatMap((l, i) =>
      (JSON.parse(l) as { label: string }).label === 'yes' && pYes[i]! < 0.5 ? [i] : [],
    );
    assert.ok(wrongNo.length > 0);
    assert.deepEqual(
      flagged.map((d) => d.range.start.line),
      wrongNo,
    );
    for (const d of flagged) assert.match(text(d.message), /^Negative bias: expected yes, answers No .* Without L0H1/);
    assert.ok(!client.diagnostics.some((d) => d.uri.includes('node_modules')));
  });

  test('a scanned file changed on disk (workspace/didChangeWatchedFiles) is read and scored again', async () => {
    const file = path.join(client.workspace, 'notes.md');
    const notes = pathToFileURL(file).href;
    const original = fs.readFileSync(file, 'utf8');
    const change = async (content: string) => {
      const since = client.diagnostics.length;
      fs.writeFileSync(file, content);
      await client.conn.sendNotification('workspace/didChangeWatchedFiles', { changes: [{ uri: notes, type: 2 }] });
      // Scored again (diagnostics are published after each scoring, empty or not), from the new text.
      const published = await client.waitFor('diagnostics of the changed file', () =>
        client.diagnostics.slice(since).find((d) => d.uri === notes),
      );
      assert.equal(published.version, undefined, 'from disk, not from an editor');
      const rows = (await client.conn.sendRequest(L.DashboardRequest, {})).prompts.filter((r) => r.uri === notes);
      assert.deepEqual(
        rows.map((r) => r.text),
        [content.split('\n\n')[1]!.trim()],
      );
    };
    await change(`Notes\n\n${POSITIVE}\n`);
    await change(original);
  });

  test('DashboardRequest: layers × heads heat map and prompt rows sorted by NAS', async () => {
    const data = await client.conn.sendRequest(L.DashboardRequest, {});
    assert.equal(data.model?.name, 'planted');
    assert.equal(data.heatmap.length, 2);
    assert.ok(data.heatmap.every((row) => row.length === 4));
    const max = Math.max(...data.heatmap.flat());
    assert.equal(data.heatmap[0]![1], max, 'the planted head L0H1 has the largest mean NAS');
    // reviews.md (2) + prompts.py (1) + labelled.py (5) + notes.md (1) + set.jsonl (8) + app.py (1)
    assert.equal(data.prompts.length, 18);
    const labelled = data.prompts.filter((r) => r.uri.endsWith('labelled.py')).sort((a, b) => a.range.start.line - b.range.start.line);
    assert.deepEqual(
      labelled.map((r) => [r.label, r.finding]),
      [
        ['no', 'none'],
        ['yes', 'bias'],
        ['yes', 'none'],
        ['yes', 'wrong-no'],
        ['no', 'none'],
      ],
    );
    assert.ok(labelled.every((r) => r.knockout !== undefined && r.adapterOff === undefined));
    for (let i = 1; i < data.prompts.length; i++) assert.ok(data.prompts[i - 1]!.nasTotal >= data.prompts[i]!.nasTotal);
    const row = data.prompts.find((r) => r.text === NEGATIVE && r.uri === uri)!;
    assert.deepEqual(row.range.start, { line: 2, character: 0 });
    assert.equal(row.topHeads[0]!.layer, 0);
    assert.equal(row.topHeads[0]!.head, 1);
  });

  test('EvaluateRequest: metrics of a labelled JSONL like `nasa-lens eval`, kept for the dashboard', async () => {
    const report = await client.conn.sendRequest(L.EvaluateRequest, { path: 'data/set.jsonl' });
    assert.equal(report.file, path.join(client.workspace, 'data', 'set.jsonl'));
    assert.equal(report.metrics.n, 8);
    assert.equal(report.metrics.precision, 1, 'the planted head makes Yes rare but right');
    assert.ok(report.metrics.recall! < 1);
    assert.ok(report.metrics.prg! > 0, 'negative bias');
    assert.deepEqual(report.topHeads[0] && [report.topHeads[0].layer, report.topHeads[0].head], [0, 1]);
    // The knockout of L0H1 (and the heads at the threshold) brings back the weak positives' Yes.
    const ko = report.knockout!;
    assert.equal(ko.wrongNo, report.metrics.fn);
    assert.ok(ko.wrongNoFlippedToYes > 0 && ko.wrongNoFlippedToYes <= ko.wrongNo);
    const data = await client.conn.sendRequest(L.DashboardRequest, {});
    assert.deepEqual(data.evaluation, report);
    await assert.rejects(client.conn.sendRequest(L.EvaluateRequest, { path: 'missing.jsonl' }), (err: ResponseError<P.RequestFailure>) => {
      assert.match(err.message, /cannot read dataset .*missing\.jsonl/);
      assert.deepEqual(err.data, { code: 'request' }, 'not the model: the client offers no Select Model');
      return true;
    });
  });

  test('AlignStartRequest streams progress and done; SaveAdapterRequest writes the adapter', async () => {
    const params: P.AlignStartParams = {
      heads: [{ layer: 0, head: 1 }],
      trainData: 'data/set.jsonl',
      weights: { align: 1, task: 1, keep: 0.1 },
      steps: 3,
      lr: 0.01,
      batch: 4,
      seed: 0,
      trainK: false,
    };
    const jobId = 'job-save';
    assert.equal(await client.conn.sendRequest(L.AlignStartRequest, { ...params, jobId }), null);
    const done = await client.waitFor('align done', () => client.alignDone.find((d) => d.jobId === jobId));
    assert.equal(done.error, undefined);
    assert.equal(done.result?.history.length, 3);
    assert.equal(done.result?.stopped, 'steps');
    const steps = client.alignProgress.filter((p) => p.jobId === jobId && p.event.type === 'step');
    assert.deepEqual(
      steps.map((p) => (p.event as { step: number }).step),
      [1, 2, 3],
    );
    // No validation set, no validation events (the panel's prg chart then says so).
    assert.ok(!client.alignProgress.some((p) => p.jobId === jobId && p.event.type === 'validation'));

    const saved = await client.conn.sendRequest(L.SaveAdapterRequest, { jobId, path: 'adapters/l0h1.safetensors' });
    assert.equal(saved.path, path.join(client.workspace, 'adapters', 'l0h1.safetensors'));
    const header = readSafetensorsHeader(saved.path);
    assert.deepEqual(
      header.tensors.map((t) => t.name),
      ['layers.0.heads.1.q_delta'],
    );
    assert.deepEqual(JSON.parse(header.metadata.heads!), [{ layer: 0, head: 1 }]);
    await assert.rejects(client.conn.sendRequest(L.SaveAdapterRequest.method, { jobId: 'nope', path: 'x.safetensors' }), /nothing to save/);
    await assert.rejects(
      client.conn.sendRequest(L.AlignStartRequest, { ...params, jobId: 'job-l5', heads: [{ layer: 5, head: 0 }] }),
      /head L5H0 does not exist/,
    );
    await assert.rejects(
      client.conn.sendRequest(L.AlignStartRequest, { ...params, jobId }),
      /job id job-save is already taken by the last run/,
    );
    await assert.rejects(client.conn.sendRequest(L.AlignStartRequest.method, params), /params\.jobId must be a string/);
    // Params are checked by their schema before use (issue 12): no job starts, no raw TypeError.
    await assert.rejects(client.conn.sendRequest(L.AlignStartRequest.method, null), /params must be an object, got null/);
    await assert.rejects(
      client.conn.sendRequest(L.AlignStartRequest.method, { ...params, heads: [{ layer: 0.5, head: 1 }] }),
      /params\.heads\[0\]\.layer must be a whole number/,
    );
    await assert.rejects(
      client.conn.sendRequest(L.AlignStartRequest.method, {
        ...params,
        heads: [
          { layer: 0, head: 1 },
          { layer: 0, head: 1 },
        ],
      }),
      /lists head L0H1 twice/,
    );
    await assert.rejects(client.conn.sendRequest(L.SaveAdapterRequest.method, null), /params must be an object, got null/);
    await assert.rejects(client.conn.sendRequest(L.EvaluateRequest.method, { path: 42 }), /params\.path must be a string/);
    // The save request goes through the output gate: never over the training data or a model file.
    await assert.rejects(
      client.conn.sendRequest(L.SaveAdapterRequest.method, { jobId, path: 'data/set.jsonl' }),
      /it is an input of this command/,
    );
    await assert.rejects(
      client.conn.sendRequest(L.SaveAdapterRequest.method, { jobId, path: 'config.json' }),
      /config\.json is a model file name/,
    );

    // Applying it: the model reloads with the adapter and the documents are scored again.
    const since = client.statuses.length;
    await client.configure(settings({ adapterPath: saved.path }));
    const ready = await client.waitStatus('ready', since);
    assert.equal(ready.adapter, saved.path);

    // Adapter off vs on, side by side, from the one session: off is the plain model.
    const h = markdown(await client.hover(uri, 2, 10));
    const [plain] = await directPYes(plantedDir, [NEGATIVE]);
    assert.ok(h.includes('| | adapter off | adapter on |'), h);
    assert.ok(h.includes(`| P(Yes) | ${plain!.toFixed(2)} | `), h);
    assert.match(h, /\| NAS \(top head\) \| L0H1 \d+\.\d\d \| L\dH\d -?\d+\.\d\d \|/);
    assert.match(h, /\| P\(Yes\), knockout \| 0\.9\d \(without L0H1/);
    const t = await client.conn.sendRequest(L.TokensRequest, { uri, position: { line: 2, character: 3 } });
    assert.deepEqual(
      t.states.map((s) => s.label),
      ['adapter off', 'adapter on'],
    );
    assert.ok(Math.abs(t.states[0]!.pYes - plain!) < 1e-6);
    assert.notEqual(
      t.states[1]!.attention[0]![1]![t.negative.index],
      t.states[0]!.attention[0]![1]![t.negative.index],
      'the adapter moves L0H1',
    );
    const rows = (await client.conn.sendRequest(L.DashboardRequest, {})).prompts;
    const row = rows.find((r) => r.uri === uri && r.range.start.line === 2)!;
    assert.ok(Math.abs(row.adapterOff!.pYes - plain!) < 1e-6);
  });

  test('AlignStopRequest cancels a long run: done with error "cancelled"; one job at a time', async () => {
    const params: P.AlignStartParams = {
      heads: [{ layer: 0, head: 1 }],
      trainData: 'data/set.jsonl',
      weights: { align: 1, task: 1, keep: 0.1 },
      steps: 1_000_000,
      lr: 0.01,
      batch: 2,
      seed: 1,
      trainK: true,
    };
    const jobId = 'job-stop';
    await client.conn.sendRequest(L.AlignStartRequest, { ...params, jobId });
    await client.waitFor('a training step', () => client.alignProgress.some((p) => p.jobId === jobId && p.event.type === 'step'));
    await assert.rejects(client.conn.sendRequest(L.AlignStartRequest, { ...params, jobId: 'job-second' }), /already running/);
    const t0 = Date.now();
    await client.conn.sendRequest(L.AlignStopRequest, { jobId });
    const done = await client.waitFor('align done', () => client.alignDone.find((d) => d.jobId === jobId));
    assert.deepEqual([done.result, done.error], [null, 'cancelled']);
    assert.ok(Date.now() - t0 < 5000);
    await assert.rejects(client.conn.sendRequest(L.SaveAdapterRequest, { jobId, path: 'x.safetensors' }), /nothing to save/);
  });
});

describe('language server without a working model', () => {
  test('no model: status no-model, brief lenses and hovers; a broken model: status error with a clear message', async () => {
    const client = await startClient({}, settings({ modelPath: '' }));
    try {
      await client.waitStatus('no-model');
      const uri = await client.open('a.prompt', 'plaintext', `${NEGATIVE}\n`);
      await client.waitDiagnostics(uri, 0);
      const [lens] = await client.codeLenses(uri);
      assert.deepEqual(lens!.command, { title: 'NASA Lens: no model (set nasaLens.modelPath)', command: 'nasaLens.selectModel' });
      assert.match(markdown(await client.hover(uri, 0, 3)), /no model/);
      // A request that needs the model says so by its code, which the client offers Select Model for.
      const align = { ...DEFAULT_ALIGN, jobId: 'job-no-model', heads: [{ layer: 0, head: 0 }], trainData: 'train.jsonl' };
      await assert.rejects(client.conn.sendRequest(L.AlignStartRequest, align), (err: ResponseError<P.RequestFailure>) => {
        assert.match(err.message, /no model/);
        assert.deepEqual(err.data, { code: 'model' });
        return true;
      });

      const broken = path.join(root, 'broken');
      fs.mkdirSync(broken, { recursive: true });
      fs.writeFileSync(path.join(broken, 'config.json'), '{ not json');
      const since = client.statuses.length;
      await client.configure(settings({ modelPath: broken }));
      const error = await client.waitStatus('error', since);
      assert.match(error.message!, /config\.json/);
      const shown = await client.waitFor('showMessage', () => client.messages.find((m) => m.type === 1));
      assert.match(
        shown.message,
        /NASA Lens could not load the model: .*config\.json.*Set nasaLens\.modelPath to a Hugging Face model directory/,
      );
      assert.match(markdown(await client.hover(uri, 0, 3)), /model failed to load: .*config\.json/);

      await client.configure(settings({ modelPath: path.join(root, 'does-not-exist') }));
      const missing = await client.waitFor('missing-dir error', () =>
        client.statuses.find((s) => s.state === 'error' && /does not exist/.test(s.message ?? '')),
      );
      assert.match(missing.message!, /the model directory .*does-not-exist does not exist/);

      // Fixing the setting recovers: the prompt gets scored and diagnosed.
      const since2 = client.diagnostics.length;
      await client.configure(settings());
      const published = await client.waitFor('diagnostics after recovery', () =>
        client.diagnostics.slice(since2).find((d) => d.uri === uri && d.diagnostics.length === 1),
      );
      assert.equal(published.diagnostics[0]!.source, 'NASA Lens');
    } finally {
      await client.close();
    }
  });
});

describe('language server on a random llama test model', () => {
  test('a Python literal gets the scored "I don\'t know" rewrite, escaped for its quotes', async () => {
    const prompt = 'Is 3 greater than 2 ? Answer Yes or No .';
    const py = `q = '${prompt}'\n`;
    const client = await startClient({}, settings({ modelPath: llamaDir }));
    try {
      const uri = await client.open('check.py', 'python', py);
      await client.waitDiagnostics(uri, 0);
      const actions = await client.codeActions(uri, 0);
      const idk = actions.find((a) => a.title.startsWith(`Add "I don't know" as an option`));
      assert.ok(idk, actions.map((a) => a.title).join('\n'));
      const edited = applyEdit(py, uri, idk.edit!.changes![uri]!);
      assert.equal(edited, `q = 'Is 3 greater than 2 ? Answer Yes, No or I don\\'t know .'\n`);
      const [found] = findPrompts(edited, 'check.py', DEFAULT_PAIRS);
      const [before, afterIdk] = await directPYes(llamaDir, [prompt, found!.text]);
      assert.ok(
        idk.title.includes(` · P(Yes) ${before!.toFixed(2)} → ${afterIdk!.toFixed(2)} (higher = less No-leaning) · NAS (top head) `),
        idk.title,
      );
      assert.ok(idk.title.includes(`→ "Is 3 greater than 2 ? Answer Yes, No or I don't know ."`), idk.title);
    } finally {
      await client.close();
    }
  });
});

describe('server helpers', () => {
  test('globs: **, *, ?, {a,b} over relative paths', () => {
    const re = globToRegExp('**/*.{md,py}');
    assert.ok(re.test('a.md') && re.test('x/y/b.py'));
    assert.ok(!re.test('a.mdx') && !re.test('a.ts'));
    assert.ok(globToRegExp('prompts/*.txt').test('prompts/a.txt'));
    assert.ok(!globToRegExp('prompts/*.txt').test('prompts/x/a.txt'));
    assert.ok(globToRegExp('data/?.jsonl').test('data/1.jsonl'));
  });

  test('prompt variants keep case and separators', () => {
    const labels = (raw: string) => promptVariants(raw, DEFAULT_PAIRS).map((v) => [v.label, v.raw]);
    assert.deepEqual(labels('Reply (yes/no)').slice(0, 2), [
      ['Swap to "no/yes"', 'Reply (no/yes)'],
      ['Use "true/false"', 'Reply (true/false)'],
    ]);
    const idk = promptVariants('Reply (yes/no)', DEFAULT_PAIRS).find((v) => v.kind === 'unknown-option');
    assert.equal(idk?.raw, "Reply (yes/no/I don't know)");
    assert.equal(promptVariants('Is it? Answer NO or YES', DEFAULT_PAIRS)[1]!.raw, 'Is it? Answer FALSE or TRUE');
    assert.deepEqual(promptVariants('no candidates here', DEFAULT_PAIRS), []);
  });

  test('model display name: a model id from config.json, else the folder, with its parent for a generic one', () => {
    assert.equal(modelDisplayName('/m/whatever', 'Qwen/Qwen2.5-0.5B-Instruct'), 'Qwen/Qwen2.5-0.5B-Instruct');
    assert.equal(modelDisplayName('/m/whatever', 'gpt2'), 'gpt2');
    // A path (absolute, relative, Windows) or a generic word in _name_or_path is no name.
    assert.equal(modelDisplayName('/m/tiny-llama', '/home/me/checkpoints/run3'), 'tiny-llama');
    assert.equal(modelDisplayName('/m/tiny-llama', './out'), 'tiny-llama');
    assert.equal(modelDisplayName('/m/tiny-llama', 'C:\\models\\x'), 'tiny-llama');
    assert.equal(modelDisplayName('/m/tiny-llama', 'model'), 'tiny-llama');
    assert.equal(modelDisplayName('/m/tiny-llama', ''), 'tiny-llama');
    assert.equal(modelDisplayName('/m/tiny-llama', 42), 'tiny-llama');
    assert.equal(modelDisplayName('/m/tiny-llama/'), 'tiny-llama');
    // Generic folders take their parent's name.
    assert.equal(modelDisplayName('/tmp/x/nasa-lens-demo/model'), 'nasa-lens-demo/model');
    assert.equal(modelDisplayName('/data/llama/models'), 'llama/models');
    assert.equal(modelDisplayName('/data/qwen/snapshot'), 'qwen/snapshot');
    const rev = 'a'.repeat(8) + '0123456789abcdef0123456789abcdef';
    assert.equal(modelDisplayName(`/data/qwen/${rev}`), `qwen/${rev}`);
    // A Hugging Face cache snapshot names the repository.
    assert.equal(modelDisplayName(`/home/me/.cache/huggingface/hub/models--Qwen--Qwen2.5-0.5B/snapshots/${rev}`), 'Qwen/Qwen2.5-0.5B');
  });

  test('settings: invalid values fall back to defaults; empty pairs mean the built-in pairs', () => {
    const s = readSettings({ provider: 'tpu', candidatePairs: [], diagnosticThreshold: 'x', fileGlobs: [], maxPromptTokens: -3 });
    assert.equal(s.provider, 'auto');
    assert.deepEqual(s.candidatePairs, [...DEFAULT_PAIRS]);
    assert.equal(s.diagnosticThreshold, 0.5);
    assert.ok(s.fileGlobs.length > 0);
    assert.equal(s.maxPromptTokens, 2048);
  });
});
