// The custom requests of src/lsp-ext.ts: dashboard data, workspace scan, evaluation of a labelled
// set, and NASA runs (start, stop, progress, done, save). Each answers RequestFailed with a
// message the client can show as is, and RequestCancelled when the client cancels.

import type { CancellationToken, WorkDoneProgressReporter } from 'vscode-languageserver/node';
import type {
  DashboardData,
  EvalReport,
  ScanWorkspaceParams,
  ScanWorkspaceResult,
  TemplateDataParams,
  TemplateDataResult,
} from '../protocol.ts';
import {
  AlignStartRequest,
  AlignStopRequest,
  DashboardRequest,
  EvaluateRequest,
  SaveAdapterRequest,
  ScanWorkspaceRequest,
  TemplateDataRequest,
  TokensRequest,
} from '../lsp-ext.ts';
import {
  alignStartRequestParams,
  alignStopParams,
  evaluateParams,
  saveAdapterParams,
  templateDataParams,
  tokensParams,
} from '../protocol-schemas.ts';
import { check } from '../schema.ts';
import { tokenAttention } from './tokens.ts';
import * as path from 'node:path';
import { fillsFromJsonl } from '../bias/prompts.ts';
import { READ_LIMITS, readBoundedText } from '../fs/bounded-read.ts';
import type { AlignEnvironment } from './align-jobs.ts';
import { answer, signalOf } from './cancellation.ts';
import { buildDashboard } from './dashboard.ts';
import { evaluateDataset } from './evaluate.ts';
import type { ServerContext } from './context.ts';
import { SerialLock } from './serial.ts';
import { modelSpecOf, resolvePath, scanOptionsOf } from './settings.ts';
import { scanWorkspace } from './workspace-scan.ts';

/** The dashboard waits this long for pending scores, then shows what it has. */
const DASHBOARD_WAIT_MS = 5_000;

export function registerCustomRequests(server: ServerContext): void {
  const c = server.connection;
  const log = (m: string) => server.log(m);
  const align = server.align;
  let evaluation: EvalReport | null = null;
  // Two scans at once would race on the index of scanned files; the second waits for the first.
  const scans = new SerialLock();

  c.onRequest(DashboardRequest, (_params, token) => {
    const signal = signalOf(token);
    return answer(signal, log, () => dashboard(server, evaluation, signal));
  });

  c.onRequest(ScanWorkspaceRequest, async (params, token) => {
    const progress = await progressFor(server, params);
    const signal = signalOf(token, progress.token);
    return answer(signal, log, () => scans.run(() => scan(server, progress.reporter, signal)));
  });

  // Params are checked against their schema (src/protocol-schemas.ts) before any field is used.
  c.onRequest(EvaluateRequest, (raw, token) => {
    const signal = signalOf(token);
    return answer(signal, log, async () => {
      const params = check(evaluateParams, raw, 'params');
      const file = resolvePath(params.path, server.roots);
      evaluation = await evaluateDataset(file, (inputs) => server.queue.score(inputs, signal, false));
      return evaluation;
    });
  });

  c.onRequest(TokensRequest, (raw, token) =>
    answer(signalOf(token), log, async () => {
      const params = check(tokensParams, raw, 'params');
      const prompt = server.index.promptAt(params.uri, params.position);
      if (!prompt) throw new Error('there is no yes/no prompt at that position');
      return server.session.use((model) => tokenAttention(model.runner, prompt.input, scanOptionsOf(server.settings)));
    }),
  );

  c.onRequest(TemplateDataRequest, (raw, token) =>
    answer(signalOf(token), log, () => templateData(server, check(templateDataParams, raw, 'params'))),
  );

  c.onRequest(AlignStartRequest, (raw, token) =>
    answer(signalOf(token), log, async () => {
      await align.start(check(alignStartRequestParams, raw, 'params'), alignEnvironment(server));
      return null;
    }),
  );

  c.onRequest(AlignStopRequest, (raw, token) =>
    answer(signalOf(token), log, async () => {
      align.stop(check(alignStopParams, raw, 'params').jobId);
      return null;
    }),
  );

  c.onRequest(SaveAdapterRequest, (raw, token) =>
    answer(signalOf(token), log, async () => {
      const params = check(saveAdapterParams, raw, 'params');
      const file = align.save(params.jobId, resolvePath(params.path, server.roots));
      // Saved over the adapter in use: the session sees the new mtime and reloads it.
      void server.session.configure(server.settings, server.roots);
      return { path: file };
    }),
  );
}

async function templateData(server: ServerContext, params: TemplateDataParams): Promise<TemplateDataResult> {
  const file = resolvePath(params.path, server.roots);
  let text: string;
  try {
    text = readBoundedText(file, READ_LIMITS.dataset);
  } catch (err) {
    throw new Error(`cannot read ${(err as Error).message}`);
  }
  const fills = fillsFromJsonl(text);
  const indexed = server.index.setTemplateFills(params.uri, fills, path.basename(file));
  if (!indexed) throw new Error('that file is not open or scanned: open it first');
  server.queue.scheduleNow([indexed.uri]);
  const templates = indexed.prompts.filter((p) => p.found.template);
  return { rows: fills.length, filled: templates.reduce((a, p) => a + p.found.template!.fills.length, 0), templates: templates.length };
}

async function dashboard(server: ServerContext, evaluation: EvalReport | null, signal: AbortSignal): Promise<DashboardData> {
  await server.queue.idle(DASHBOARD_WAIT_MS, signal);
  const status = server.session.status;
  return buildDashboard({
    files: server.index.all(),
    knockoutMinShift: server.settings.knockoutMinShift,
    entryOf: server.entryOf,
    fillEntriesOf: (p) => server.queue.fillEntries(p),
    model: server.session.model?.info ?? null,
    adapter: server.session.model?.adapter ?? status.adapter,
    evaluation,
  });
}

function scan(server: ServerContext, reporter: WorkDoneProgressReporter, signal: AbortSignal): Promise<ScanWorkspaceResult> {
  return scanWorkspace(
    {
      roots: server.roots,
      settings: server.settings,
      index: server.index,
      queue: server.queue,
      scanned: server.scanned,
      dropped: (uri) => void server.connection.sendDiagnostics({ uri, diagnostics: [] }),
    },
    reporter,
    signal,
  );
}

/** The client's own progress token when it sent one; else a server-created progress if supported. */
async function progressFor(
  server: ServerContext,
  params: ScanWorkspaceParams | undefined,
): Promise<{ reporter: WorkDoneProgressReporter; token?: CancellationToken }> {
  const window = server.connection.window;
  if (params?.workDoneToken !== undefined) return { reporter: window.attachWorkDoneProgress(params.workDoneToken) };
  if (!server.client.workDoneProgress) return { reporter: window.attachWorkDoneProgress(undefined) };
  try {
    const reporter = await window.createWorkDoneProgress();
    return { reporter, token: reporter.token };
  } catch {
    return { reporter: window.attachWorkDoneProgress(undefined) };
  }
}

function alignEnvironment(server: ServerContext): AlignEnvironment {
  const s = server.settings;
  const info = server.session.model?.info;
  const { query: _query, ...scan } = scanOptionsOf(s);
  return {
    modelPath: s.modelPath ? modelSpecOf(s.modelPath, server.roots) : null,
    provider: s.provider,
    weights: s.weights,
    scan,
    limits: info ? { layers: info.layers, heads: info.heads } : null,
    appliedAdapter: s.adapterPath ? resolvePath(s.adapterPath, server.roots) : null,
    resolve: (p) => resolvePath(p, server.roots),
  };
}
