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

/** The failures of issue 12, one repository each; true when the request was answered. */
function hostile(repo: string, file: string, local: string, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const weights = file.endsWith('.safetensors');
  const exists = fs.existsSync(local);
  const size = exists ? fs.statSync(local).size : 0;
  switch (repo) {
    case 'nolength': // the weights come chunked, without Content-Length, and stop short
      if (!exists) return (void res.writeHead(404).end(), true);
      if (!weights) return (serveFile(res, local, req.method!), true);
      if (req.method === 'HEAD') return (void res.writeHead(200, { 'content-length': size }).end(), true);
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.end(fs.readFileSync(local).subarray(0, size >> 1));
      return true;
    case 'html': // an error page served with status 200 as config.json
      if (file !== 'config.json') return (void res.writeHead(404).end(), true);
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': 27 });
      return (void res.end(req.method === 'HEAD' ? undefined : '<html>rate limited</html>\n\n'), true);
    case 'badsha': // LFS metadata announces another sha256 than the bytes have
      if (!exists) return (void res.writeHead(404).end(), true);
      if (!weights) return (serveFile(res, local, req.method!), true);
      res.writeHead(302, { location: `/lfs/${file}`, 'x-linked-size': size, 'x-linked-etag': `"${'ab'.repeat(32)}"` });
      return (void res.end(), true);
    case 'short': // the CDN's Content-Length (and body) is shorter than the size the hub announced
      if (!exists) return (void res.writeHead(404).end(), true);
      if (!weights) return (serveFile(res, local, req.method!), true);
      res.writeHead(302, { location: `/short-lfs/${file}`, 'x-linked-size': size });
      return (void res.end(), true);
    case 'silent': // accepts the connection and never answers
      return true;
    case 'stall': // sends half of each weights file, then nothing
      if (!exists) return (void res.writeHead(404).end(), true);
      if (!weights) return (serveFile(res, local, req.method!), true);
      res.writeHead(200, { 'content-length': size });
      if (req.method === 'HEAD') return (void res.end(), true);
      res.write(fs.readFileSync(local).subarray(0, size >> 1));
      return true;
    default:
      return false;
  }
}

before(async () => {
  server = http.createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(`${req.method} ${url}`);
    const short = /^\/short-lfs\/([\w.-]+)$/.exec(url);
    if (short) {
      const data = fs.readFileSync(path.join(modelDir, short[1]!)).subarray(0, 100);
      res.writeHead(200, { 'content-length': data.length });
      return void res.end(req.method === 'HEAD' ? undefined : data);
    }
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
    if (hostile(repo, file, local, req, res)) return;
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
  assert.ok(
    requests.some((r) => r.startsWith('GET /lfs/')),
    'the redirect was followed',
  );
  assert.ok(fs.existsSync(path.join(dir, '.complete')));
  assert.deepEqual(
    listAll(dir).filter((f) => f.endsWith('.part')),
    [],
  );
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
  assert.deepEqual(
    requests.filter((r) => r.startsWith('GET /lfs/')),
    [`GET /lfs/${shards[1]}`],
  );
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
      assert.ok(
        progress.some((p) => /^file \d+\/\d+ model-.*\.safetensors 100% 100$/.test(p)),
        progress.join('\n'),
      );
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
  assert.deepEqual(
    files.filter((f) => f.endsWith('.safetensors') || f.endsWith('.part') || f === '.complete'),
    [],
  );
});

test('a connection dropped mid-file is a clear error and leaves no partial file', async () => {
  const cacheDir = path.join(root, 'cache-drop');
  await assert.rejects(resolveModel('org/drop', { cacheDir, endpoint }), (err: Error) => {
    assert.match(err.message, /download of "org\/drop" \(model-.*\.safetensors\) broke off after .*nothing partial was kept/);
    return true;
  });
  const files = listAll(path.join(cacheDir, 'models--org--drop', 'main'));
  assert.deepEqual(
    files.filter((f) => f.endsWith('.safetensors') || f.endsWith('.part') || f === '.complete'),
    [],
  );
});

test('an unknown id, a pickle-only repo and an unreachable hub are refused clearly', async () => {
  const cacheDir = path.join(root, 'cache-errors');
  await assert.rejects(
    resolveModel('org/missing', { cacheDir, endpoint }),
    /no model "org\/missing" on the hub \(or it is private: set HF_TOKEN\)/,
  );
  await assert.rejects(
    resolveModel('org/pickle', { cacheDir, endpoint }),
    /"org\/pickle" has only PyTorch pickle weights \(pytorch_model\.bin\); NASA Lens never unpickles/,
  );
  assert.equal(fs.existsSync(path.join(cacheDir, 'models--org--pickle', 'main', 'pytorch_model.bin')), false);
  // Port 9 (discard) on loopback: connection refused, as when offline.
  await assert.rejects(resolveModel('org/tiny', { cacheDir, endpoint: 'http://127.0.0.1:9' }), (err: Error) => {
    assert.match(err.message, /cannot download "org\/tiny" \(config\.json\) from http:\/\/127\.0\.0\.1:9: .*Offline\? .*local directory/);
    return true;
  });
});

// ---------------------------------------------------------------------------------------------
// Cache poisoning (issue 12): a download is kept only when it is what the hub announced.

function cacheFiles(cacheDir: string, repo: string): string[] {
  return listAll(path.join(cacheDir, `models--org--${repo}`, 'main'));
}

test('a download cut short without Content-Length is not kept; the next call asks the server again', async () => {
  const cacheDir = path.join(root, 'cache-nolength');
  await assert.rejects(
    resolveModel('org/nolength', { cacheDir, endpoint }),
    /download of "org\/nolength" \(model-.*\.safetensors\) is incomplete: \d+ of the \d+ bytes the hub announced; nothing was kept/,
  );
  assert.deepEqual(
    cacheFiles(cacheDir, 'nolength').filter((f) => f.endsWith('.safetensors') || f.endsWith('.part') || f === '.complete'),
    [],
  );
  requests.length = 0;
  await assert.rejects(resolveModel('org/nolength', { cacheDir, endpoint }), /is incomplete/);
  assert.ok(
    requests.some((r) => r.startsWith('GET /org/nolength/resolve/main/model-')),
    'asked the server again',
  );
});

test('a Content-Length shorter than the size the hub announced is not kept', async () => {
  const cacheDir = path.join(root, 'cache-short');
  await assert.rejects(
    resolveModel('org/short', { cacheDir, endpoint }),
    /download of "org\/short" \(model-.*\.safetensors\) is incomplete: 100 of the \d+ bytes the hub announced/,
  );
  assert.deepEqual(
    cacheFiles(cacheDir, 'short').filter((f) => f.endsWith('.safetensors') || f.endsWith('.part') || f === '.complete'),
    [],
  );
});

test('an HTML page served as config.json is refused and not cached, and leaves no empty folder', async () => {
  const cacheDir = path.join(root, 'cache-html');
  await assert.rejects(
    resolveModel('org/html', { cacheDir, endpoint }),
    /download of "org\/html" \(config\.json\) is not valid JSON \(.*\): the server sent something else/,
  );
  assert.equal(fs.existsSync(path.join(cacheDir, 'models--org--html')), false);
});

test("an LFS file whose sha256 differs from the hub's x-linked-etag is refused", async () => {
  const cacheDir = path.join(root, 'cache-badsha');
  await assert.rejects(
    resolveModel('org/badsha', { cacheDir, endpoint }),
    /download of "org\/badsha" \(model-.*\.safetensors\) is corrupt: its sha256 [0-9a-f]{12}… differs from the hub's abababababab…/,
  );
  assert.deepEqual(
    cacheFiles(cacheDir, 'badsha').filter((f) => f.endsWith('.safetensors') || f.endsWith('.part') || f === '.complete'),
    [],
  );
});

test('a verified download records the LFS sha256 the hub announced', async () => {
  const cacheDir = path.join(root, 'cache-sha-ok');
  const { createHash } = await import('node:crypto');
  const sha = (f: string) =>
    createHash('sha256')
      .update(fs.readFileSync(path.join(modelDir, f)))
      .digest('hex');
  const withSha: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const m = /\/org\/tiny\/resolve\/main\/(model-[\w.-]+\.safetensors)$/.exec(String(input));
    if (!m || res.status !== 302) return res;
    const headers = new Headers(res.headers);
    headers.set('x-linked-etag', `"${sha(m[1]!)}"`);
    headers.set('x-linked-size', String(fs.statSync(path.join(modelDir, m[1]!)).size));
    return new Response(null, { status: 302, headers });
  };
  const dir = await resolveModel('org/tiny', { cacheDir, endpoint, fetchImpl: withSha });
  const marker = JSON.parse(fs.readFileSync(path.join(dir, '.complete'), 'utf8'));
  assert.equal(marker.sha256[shards[0]!], sha(shards[0]!));
});

test('a server that never answers, or stalls mid-file, times out with a clear message', async () => {
  const cacheDir = path.join(root, 'cache-timeouts');
  const t0 = performance.now();
  await assert.rejects(
    resolveModel('org/silent', { cacheDir, endpoint, connectTimeoutMs: 300 }),
    /no answer from http:\/\/127\.0\.0\.1:\d+ within 300 ms for "org\/silent" \(config\.json\); check the connection or HF_ENDPOINT/,
  );
  await assert.rejects(
    resolveModel('org/stall', { cacheDir, endpoint, idleTimeoutMs: 300 }),
    /the download of "org\/stall" \(model-.*\.safetensors\) stalled: no data for 300 ms; nothing partial was kept/,
  );
  assert.ok(performance.now() - t0 < 10_000);
  assert.deepEqual(
    cacheFiles(cacheDir, 'stall').filter((f) => f.endsWith('.part')),
    [],
  );
  assert.equal(fs.existsSync(path.join(cacheDir, 'models--org--silent')), false, 'a failed id leaves no empty folder');
});

test('an unknown id leaves no empty cache folder', async () => {
  const cacheDir = path.join(root, 'cache-unknown');
  await assert.rejects(
    resolveModel('org/missing', { cacheDir, endpoint }),
    /no model "org\/missing" on the hub.*taken for a Hugging Face id/,
  );
  assert.equal(fs.existsSync(path.join(cacheDir, 'models--org--missing')), false);
});

test('Ctrl-C during scan removes the .part file (a signal in any subcommand)', async () => {
  const { spawn } = await import('node:child_process');
  const cacheDir = path.join(root, 'cache-sigint');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(import.meta.dirname, '../../src/cli/main.ts'),
      'scan',
      '--model',
      'org/hang',
      '--prompt',
      'Is it ? Yes or No',
      '--provider',
      'cpu',
    ],
    {
      env: { ...process.env, HF_ENDPOINT: endpoint, NASA_LENS_CACHE: cacheDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const dir = path.join(cacheDir, 'models--org--hang', 'main');
  const deadline = Date.now() + 30_000;
  while (!listAll(dir).some((f) => f.endsWith('.part')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(
    listAll(dir).some((f) => f.endsWith('.part')),
    'the download started',
  );
  child.kill('SIGINT');
  assert.equal(await exited, 130);
  assert.deepEqual(
    listAll(dir).filter((f) => f.endsWith('.part')),
    [],
  );
});

test('.part files of a killed process are swept before the next download', async () => {
  const cacheDir = path.join(root, 'cache-stale');
  const dir = path.join(cacheDir, 'models--org--tiny', 'main');
  fs.mkdirSync(dir, { recursive: true });
  const stale = path.join(dir, '.model-00001-of-00003.safetensors.999999999.deadbeef.part');
  fs.writeFileSync(stale, 'left by SIGKILL');
  await resolveModel('org/tiny', { cacheDir, endpoint });
  assert.equal(fs.existsSync(stale), false);
});
