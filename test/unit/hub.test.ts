// Hub download (src/model/hub.ts) against a local HTTP server on 127.0.0.1 that serves a test model
// the way huggingface.co does: /{id}/resolve/{revision}/{file}, 404 for missing files, a 302 for the
// weights (LFS). No internet is used.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { STANDARD_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';
import { main } from '../../src/cli/main.ts';
import { isHubId, resolveModel, type HubProgress } from '../../src/model/hub.ts';
import { loadModel } from '../../src/model/load.ts';
import { ModelSession } from '../../src/server/model-session.ts';
import { DEFAULT_SETTINGS } from '../../src/server/settings.ts';
import type { StatusParams } from '../../src/protocol.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-hub-'));
const modelDir = path.join(root, 'served');
writeTestModel(modelDir, STANDARD_TEST_MODELS['llama-sharded-f32']);
const shards = fs.readdirSync(modelDir).filter((f) => /^model-.*\.safetensors$/.test(f));

let server: http.Server;
let endpoint = '';
const requests: string[] = [];

function serveFile(res: http.ServerResponse, file: string, method: string): void {
  const size = fs.statSync(file).size;
  res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
  if (method === 'HEAD') res.end();
  else fs.createReadStream(file).pipe(res);
}

before(async () => {
  server = http.createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(`${req.method} ${url}`);
    const lfs = /^\/lfs\/([\w.-]+)$/.exec(url);
    if (lfs) return serveFile(res, path.join(modelDir, lfs[1]!), req.method!);
    const m = /^\/org\/([\w-]+)\/resolve\/main\/([\w.-]+)$/.exec(url);
    if (!m) return void res.writeHead(404).end('not found');
    const [, repo, file] = m as unknown as [string, string, string];
    const local = path.join(modelDir, file);
    if (repo === 'tiny') {
      if (!fs.existsSync(local)) return void res.writeHead(404).end('Entry not found');
      // The hub answers LFS files with a redirect to a CDN.
      if (file.endsWith('.safetensors')) return void res.writeHead(302, { location: `/lfs/${file}` }).end();
      return serveFile(res, local, req.method!);
    }
    if (repo === 'pickle') {
      if (file === 'config.json' || file === 'pytorch_model.bin') return serveFile(res, path.join(modelDir, 'config.json'), req.method!);
      return void res.writeHead(404).end();
    }
    if (repo === 'drop' || repo === 'hang') {
      if (!fs.existsSync(local)) return void res.writeHead(404).end();
      if (!file.endsWith('.safetensors')) return serveFile(res, local, req.method!);
      const data = fs.readFileSync(local);
      res.writeHead(200, { 'content-length': data.length });
      if (req.method === 'HEAD') return void res.end();
      res.write(data.subarray(0, data.length >> 1));
      // drop: the connection dies mid-file; hang: nothing more comes until the client gives up.
      if (repo === 'drop') setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    res.writeHead(404).end('Repository not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Files in a directory tree, relative, excluding nothing. */
function listAll(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

test('isHubId tells ids from paths', () => {
  assert.equal(isHubId('Qwen/Qwen2.5-0.5B-Instruct'), true);
  assert.equal(isHubId('org/name@v1.0'), true);
  assert.equal(isHubId('gpt2'), false);
  assert.equal(isHubId('../x/y'), false);
  assert.equal(isHubId('org/..'), false);
  assert.equal(isHubId('/abs/path'), false);
  assert.equal(isHubId('a/b/c'), false);
  assert.equal(isHubId(modelDir), false);
});

test('downloads a sharded model (through a redirect), loads it, and a second call is offline', async () => {
  const cacheDir = path.join(root, 'cache1');
  const events: HubProgress[] = [];
  requests.length = 0;
  const dir = await resolveModel('org/tiny', { cacheDir, endpoint, onProgress: (p) => events.push(p) });
  assert.equal(dir, path.join(cacheDir, 'models--org--tiny', 'main'));
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors.index.json', ...shards]) {
    assert.deepEqual(fs.readFileSync(path.join(dir, f)), fs.readFileSync(path.join(modelDir, f)), f);
  }
  assert.ok(shards.length >= 2);
  assert.ok(requests.some((r) => r.startsWith('GET /lfs/')), 'the redirect was followed');
  assert.ok(fs.existsSync(path.join(dir, '.complete')));
  assert.deepEqual(listAll(dir).filter((f) => f.endsWith('.part')), []);
  const model = loadModel(dir);
  assert.equal(model.config.numLayers, 3);

  const shardDone = events.find((e) => e.file === shards[0] && e.done)!;
  assert.equal(shardDone.bytes, fs.statSync(path.join(modelDir, shards[0]!)).size);
  assert.equal(shardDone.total, shardDone.bytes);
  assert.ok(shardDone.fileIndex >= 1 && shardDone.fileIndex <= shardDone.files);
  assert.ok(events.some((e) => e.file === 'config.json' && !e.done && e.bytes === 0));

  requests.length = 0;
  assert.equal(await resolveModel('org/tiny', { cacheDir, endpoint: 'http://127.0.0.1:9' }), dir);
  assert.deepEqual(requests, []);
  // A local directory is returned as is, with no request either.
  assert.equal(await resolveModel(modelDir, { cacheDir, endpoint }), modelDir);
  assert.deepEqual(requests, []);
});

test('files already complete are not downloaded again', async () => {
  const cacheDir = path.join(root, 'cache-resume');
  const dir = await resolveModel('org/tiny', { cacheDir, endpoint });
  fs.rmSync(path.join(dir, '.complete'));
  fs.rmSync(path.join(dir, shards[1]!));
  requests.length = 0;
  await resolveModel('org/tiny', { cacheDir, endpoint });
  assert.deepEqual(requests.filter((r) => r.startsWith('GET /lfs/')), [`GET /lfs/${shards[1]}`]);
});

/** Runs `body` with HF_ENDPOINT and NASA_LENS_CACHE pointing at the test server and `cache`. */
async function withHubEnv<T>(cache: string, body: () => Promise<T>): Promise<T> {
  const saved = { HF_ENDPOINT: process.env.HF_ENDPOINT, NASA_LENS_CACHE: process.env.NASA_LENS_CACHE };
  process.env.HF_ENDPOINT = endpoint;
  process.env.NASA_LENS_CACHE = cache;
  try {
    return await body();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('the server session downloads a hub id with work-done progress, then loads it', async () => {
  await withHubEnv(path.join(root, 'cache-server'), async () => {
    const statuses: StatusParams[] = [];
    const progress: string[] = [];
    const failures: string[] = [];
    const session = new ModelSession({
      status: (s) => statuses.push(s),
      loadFailed: (m) => failures.push(m),
      willReload: () => undefined,
      changed: () => undefined,
      log: () => undefined,
      downloadStarted: async (title) => {
        progress.push(`begin ${title}`);
        return { report: (m, pct) => progress.push(`${m} ${pct ?? ''}`), done: () => progress.push('done') };
      },
    });
    try {
      await session.configure({ ...DEFAULT_SETTINGS, modelPath: 'org/tiny' }, [root]);
      assert.deepEqual(failures, []);
      assert.equal(session.status.state, 'ready');
      assert.equal(session.model!.info.name, 'org/tiny');
      assert.equal(session.model!.info.path, path.join(root, 'cache-server', 'models--org--tiny', 'main'));
      assert.equal(progress[0], 'begin NASA Lens: downloading org/tiny');
      assert.equal(progress.at(-1), 'done');
      assert.ok(!progress.some((p) => p.includes('chat_template.jinja')), 'files the hub does not have are not shown');
      assert.ok(progress.some((p) => /^file \d+\/\d+ model-.*\.safetensors 100% 100$/.test(p)), progress.join('\n'));
      assert.ok(statuses.some((s) => s.state === 'loading' && /^Downloading org\/tiny: file \d+\/\d+ /.test(s.message ?? '')));

      await session.configure({ ...DEFAULT_SETTINGS, modelPath: 'org/missing' }, [root]);
      assert.equal(session.status.state, 'error');
      assert.match(session.status.message ?? '', /no model "org\/missing" on the hub/);
      assert.match(failures[0] ?? '', /no model "org\/missing" on the hub.*local model directory/);
    } finally {
      await session.close();
    }
  });
});

test('the CLI scans a hub id, with download lines on stderr', async () => {
  const saved = { HF_ENDPOINT: process.env.HF_ENDPOINT, NASA_LENS_CACHE: process.env.NASA_LENS_CACHE };
  process.env.HF_ENDPOINT = endpoint;
  process.env.NASA_LENS_CACHE = path.join(root, 'cache-cli');
  try {
    let out = '';
    let err = '';
    const code = await main(['scan', '--model', 'org/tiny', '--prompt', 'Is 3 greater than 2 ? Answer Yes or No .', '--json'], {
      out: (s) => (out += s + '\n'),
      log: (s) => (err += s + '\n'),
    });
    assert.equal(code, 0, err);
    const result = JSON.parse(out);
    assert.equal(result.model.layers, 3);
    assert.equal(result.prompts.length, 1);
    assert.match(err, /Downloading org\/tiny: file 1\/\d+ config\.json 100%/);
    assert.match(err, new RegExp(`Downloading org/tiny: file \\d+/\\d+ ${shards[0]!.replace(/\./g, '\\.')} 100%`));
    assert.doesNotMatch(err, /chat_template\.jinja/, 'files the hub does not have are not listed');
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('an aborted download leaves no final file and no temp file', async () => {
  const cacheDir = path.join(root, 'cache-abort');
  const controller = new AbortController();
  const promise = resolveModel('org/hang', {
    cacheDir,
    endpoint,
    signal: controller.signal,
    onProgress: (p) => {
      if (p.file.endsWith('.safetensors') && !p.done) setTimeout(() => controller.abort(), 50);
    },
  });
  await assert.rejects(promise, /cancelled/);
  const files = listAll(path.join(cacheDir, 'models--org--hang', 'main'));
  assert.deepEqual(files.filter((f) => f.endsWith('.safetensors') || f.endsWith('.part') || f === '.complete'), []);
});

test('a connection dropped mid-file is a clear error and leaves no partial file', async () => {
  const cacheDir = path.join(root, 'cache-drop');
  await assert.rejects(resolveModel('org/drop', { cacheDir, endpoint }), (err: Error) => {
    assert.match(err.message, /download of "org\/drop" \(model-.*\.safetensors\) broke off after .*nothing partial was kept/);
    return true;
  });
  const files = listAll(path.join(cacheDir, 'models--org--drop', 'main'));
  assert.deepEqual(files.filter((f) => f.endsWith('.safetensors') || f.endsWith('.part') || f === '.complete'), []);
});

test('an unknown id, a pickle-only repo and an unreachable hub are refused clearly', async () => {
  const cacheDir = path.join(root, 'cache-errors');
  await assert.rejects(resolveModel('org/missing', { cacheDir, endpoint }), /no model "org\/missing" on the hub \(or it is private: set HF_TOKEN\)/);
  await assert.rejects(resolveModel('org/pickle', { cacheDir, endpoint }), /"org\/pickle" has only PyTorch pickle weights \(pytorch_model\.bin\); NASA Lens never unpickles/);
  assert.equal(fs.existsSync(path.join(cacheDir, 'models--org--pickle', 'main', 'pytorch_model.bin')), false);
  // Port 9 (discard) on loopback: connection refused, as when offline.
  await assert.rejects(resolveModel('org/tiny', { cacheDir, endpoint: 'http://127.0.0.1:9' }), (err: Error) => {
    assert.match(err.message, /cannot download "org\/tiny" \(config\.json\) from http:\/\/127\.0\.0\.1:9: .*Offline\? .*local directory/);
    return true;
  });
});
