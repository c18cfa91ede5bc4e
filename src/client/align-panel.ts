// Host of the Align Negative Heads panel (webview-ui/align.ts). The webview picks heads, data and
// hyperparameters; this host opens the file dialogs, runs the job on the server (AlignStartRequest,
// progress and done notifications), shows a cancellable notification while it runs and one whose
// primary button saves and applies the adapter when it ends, warns when the training data overlaps
// the validation or evaluation data, and saves the adapter. Its webview is not retained: hidden, it
// restores its own state (setState) and misses the messages posted meanwhile, closed, it starts
// empty; so the job (src/client/align-job.ts) counts what the current webview has seen, and the host
// sends the rest when it says `ready` again (after an init that names the job, so that a new webview
// shows it running).

import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { ALIGN_FORM_DEFAULTS } from '../align/defaults.ts';
import { dataOverlap, overlapWarning } from '../align/data-overlap.ts';
import { readDataset, type DatasetItem } from '../bias/dataset.ts';
import { formatHead } from '../bias/nas.ts';
import type {
  AlignDoneParams,
  AlignOutcome,
  AlignProgressParams,
  AlignStartParams,
  FromAlignPanel,
  HeadRef,
  ToAlignPanel,
} from '../protocol.ts';
import { AlignDoneNotification, AlignProgressNotification, AlignStartRequest, AlignStopRequest, SaveAdapterRequest } from '../lsp-ext.ts';
import { fromAlignPanel } from '../protocol-schemas.ts';
import { check } from '../schema.ts';
import type { DashboardStore } from './dashboard-data.ts';
import { errorMessage, reportError } from './errors.ts';
import type { LensClient } from './language-client.ts';
import { updateSetting } from './settings.ts';
import { exportResults } from './export.ts';
import { webviewOptions, webviewPage } from './webview-host.ts';
import { AlignJob, finishedNotice, headsInFileName, headsKey, stepProgress } from './align-job.ts';

export class AlignPanel implements vscode.Disposable {
  static readonly viewType = 'nasaLens.align';
  private panel: vscode.WebviewPanel | undefined;
  /** The panel's webview has said `ready` and is not hidden (hiding destroys it; it says `ready` again). */
  private live = false;
  private heads: HeadRef[] = [];
  private data: { train?: string; val?: string } = {};
  private job: AlignJob | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly lens: LensClient,
    private readonly store: DashboardStore,
  ) {
    this.subscriptions.push(
      lens.onNotification(AlignProgressNotification, (p) => this.onProgress(p)),
      lens.onNotification(AlignDoneNotification, (p) => this.onDone(p)),
      // A new heat map or model (after a scan, an evaluation, an adapter): the same heads keep the
      // webview's form as it is, so this only refreshes what it shows.
      store.onDidChange(() => this.live && void this.init()),
    );
  }

  get running(): boolean {
    return this.job?.running === true;
  }

  /** Opens or reveals the panel with `heads` preselected (kept as they are while a job runs). */
  async show(heads: HeadRef[]): Promise<void> {
    if (!this.running) {
      // A finished job of other heads no longer belongs in the panel.
      if (this.job && headsKey(this.job.params.heads) !== headsKey(heads)) this.dropJob();
      this.heads = heads;
    }
    this.data.train ??= await findTrainingData();
    if (this.panel) {
      this.panel.reveal();
      if (!this.running) await this.init();
      return;
    }
    const panel = vscode.window.createWebviewPanel(AlignPanel.viewType, 'Align Negative Heads', vscode.ViewColumn.Active, {
      ...webviewOptions(this.extensionUri),
      retainContextWhenHidden: false,
    });
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'nasa-lens.svg');
    panel.webview.html = webviewPage(panel.webview, this.extensionUri, 'align', 'Align Negative Heads');
    panel.webview.onDidReceiveMessage((m: unknown) => this.receiveUnchecked(m), undefined, this.subscriptions);
    panel.onDidDispose(
      () => {
        this.panel = undefined;
        this.live = false;
      },
      undefined,
      this.subscriptions,
    );
    panel.onDidChangeViewState((e) => e.webviewPanel.visible || (this.live = false), undefined, this.subscriptions);
    this.panel = panel;
    this.live = false;
    // A new webview starts empty: it has seen nothing of the current job.
    this.job?.redeliver();
  }

  /** Saves (and applies) the finished job's adapter: the command behind the "alignment finished" notification. */
  async saveAdapter(apply = true): Promise<void> {
    if (!this.job?.done?.result) {
      void vscode.window.showInformationMessage('NASA Lens: there is no finished alignment to save.');
      return;
    }
    await this.save(apply);
  }

  async stop(): Promise<void> {
    const job = this.job;
    if (!job || job.done) {
      void vscode.window.showInformationMessage('NASA Lens: no alignment is running.');
      return;
    }
    job.stopRequested = true;
    try {
      await this.lens.request(AlignStopRequest, { jobId: job.id });
    } catch (err) {
      await reportError(this.lens, 'stop the alignment', err);
    }
  }

  /** A webview message is checked against its schema (src/protocol-schemas.ts) before any field is used. */
  private async receiveUnchecked(raw: unknown): Promise<void> {
    let m: FromAlignPanel;
    try {
      m = check(fromAlignPanel, raw, 'message');
    } catch (err) {
      this.post({ type: 'error', message: `ignored a malformed message from the panel: ${errorMessage(err)}` });
      return;
    }
    return this.receive(m);
  }

  private async receive(m: FromAlignPanel): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.live = true;
        return this.init();
      case 'pickData':
        return this.pickData(m.which);
      case 'checkData':
        return this.checkData(m.train, m.val);
      case 'start':
        return this.start(m.params);
      case 'stop':
        return this.stop();
      case 'save':
        return this.save(m.apply);
      case 'export':
        return this.exportBeforeAfter();
    }
  }

  /** Sends the panel its starting state, then what it missed of the current job. */
  private async init(): Promise<void> {
    const data = await this.store.get();
    this.post({
      type: 'init',
      model: data?.model ?? null,
      heads: this.job?.params.heads ?? this.heads,
      heatmap: data?.heatmap ?? [],
      defaults: ALIGN_FORM_DEFAULTS,
      trainData: this.data.train,
      valData: this.data.val,
      // A re-created webview adopts the job (its form, its steps, running or not) before the replay.
      ...(this.job ? { job: { params: this.job.params, running: this.running } } : {}),
    });
    this.deliver();
  }

  /** Posts the current job's events and end that the webview has not received yet. */
  private deliver(): void {
    if (!this.job || !this.live) return;
    for (const message of this.job.undelivered()) this.post(message);
  }

  /**
   * Warns before Start when the training data is the validation data or the last evaluated set, or
   * shares prompts with them. A file that cannot be read gets no warning here: Start reports it.
   */
  private async checkData(train: string, val: string): Promise<void> {
    const warnings: string[] = [];
    if (train !== '') {
      const evaluated = (await this.store.get())?.evaluation?.file;
      const others: [string, string][] = [
        ...(val ? [[val, 'validation'] as [string, string]] : []),
        ...(evaluated && evaluated !== val ? [[evaluated, 'evaluation'] as [string, string]] : []),
      ];
      const trainItems = others.length ? await readQuietly(train) : null;
      for (const [file, role] of others) {
        const items = trainItems && (await readQuietly(file));
        const w = overlapWarning(train, file, role, trainItems && items ? dataOverlap(trainItems, items) : null);
        if (w) warnings.push(w);
      }
    }
    this.post({ type: 'dataCheck', train, val, warnings });
  }

  /**
   * The workspace's JSONL files in a quick pick (the set evaluated last first, marked so), then
   * Browse… for a file elsewhere.
   */
  private async pickData(which: 'train' | 'val'): Promise<void> {
    const title = which === 'train' ? 'Training data (JSONL)' : 'Validation data (JSONL)';
    const evaluated = (await this.store.get())?.evaluation?.file;
    const found = (await vscode.workspace.findFiles('**/*.{jsonl,ndjson}', '**/node_modules/**', 200)).map((u) => u.fsPath);
    const files = [...(evaluated ? [evaluated] : []), ...found.filter((f) => f !== evaluated)];
    const browse = { label: '$(folder-opened) Browse…', file: '' };
    const items = [
      ...files.map((f) => ({
        label: vscode.workspace.asRelativePath(f),
        file: f,
        description: f === evaluated ? 'evaluated last' : undefined,
      })),
      browse,
    ];
    const choice = files.length > 0 ? await vscode.window.showQuickPick(items, { title }) : browse;
    if (!choice) return;
    let file = choice.file;
    if (choice === browse) {
      const picked = await vscode.window.showOpenDialog({
        title,
        canSelectMany: false,
        filters: { 'JSON Lines': ['jsonl', 'ndjson'] },
        defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
      });
      if (!picked?.[0]) return;
      file = picked[0].fsPath;
    }
    this.data[which] = file;
    this.post({ type: 'dataPicked', which, path: file });
  }

  private async start(params: AlignStartParams): Promise<void> {
    if (this.running) {
      this.post({ type: 'error', message: 'An alignment is already running: stop it first.' });
      return;
    }
    // The id is ours: the job exists before the request leaves, so its first notifications,
    // which may come before the answer, already have a job to go to (and a second Start is refused).
    this.dropJob();
    const job = this.newJob(randomUUID(), params);
    this.job = job;
    try {
      await this.lens.request(AlignStartRequest, { ...params, jobId: job.id });
    } catch (err) {
      job.progress.finish();
      if (this.job === job) this.job = undefined;
      void vscode.commands.executeCommand('setContext', 'nasaLens.aligning', false);
      this.post({ type: 'error', message: errorMessage(err) });
      await reportError(this.lens, 'start the alignment', err);
    }
  }

  private newJob(id: string, params: AlignStartParams): AlignJob {
    const job = new AlignJob(id, params);
    void vscode.commands.executeCommand('setContext', 'nasaLens.aligning', true);
    void vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `NASA Lens: aligning ${params.heads.map(formatHead).join(', ')}`,
        cancellable: true,
      },
      (progress, token) => {
        token.onCancellationRequested(() => void this.stop());
        return new Promise<void>((resolve) => {
          job.progress = {
            report: (e) => {
              const step = stepProgress(e, params.steps);
              if (step) progress.report(step);
            },
            finish: resolve,
          };
        });
      },
    );
    return job;
  }

  private onProgress(p: AlignProgressParams): void {
    if (p.jobId !== this.job?.id) return;
    this.job.record(p.event);
    this.deliver();
  }

  private onDone(p: AlignDoneParams): void {
    const job = this.job;
    if (p.jobId !== job?.id) return;
    job.end(p);
    void vscode.commands.executeCommand('setContext', 'nasaLens.aligning', false);
    void vscode.commands.executeCommand('setContext', 'nasaLens.alignmentFinished', p.result !== null);
    this.deliver();
    if (p.result) this.announce(job, p.result);
    else if (!job.stopRequested) void vscode.window.showErrorMessage(`NASA Lens: the alignment failed: ${p.error ?? 'no reason given'}`);
  }

  /**
   * "Alignment finished": the numbers, a warning when accuracy fell beyond the tolerance, and
   * "Save & Apply…" as the primary button. A button clicked after the adapter was saved (from the
   * panel) or after another job started only says so.
   */
  private announce(job: AlignJob, result: AlignOutcome): void {
    const { text, warning } = finishedNotice(result, job.params);
    const show = warning ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    void show(text, 'Save & Apply…', 'Save…').then(async (choice) => {
      if (!choice) return;
      if (this.job !== job)
        return void vscode.window.showInformationMessage('NASA Lens: a newer alignment replaced this one; save it from the panel.');
      if (job.saved !== undefined)
        return void vscode.window.showInformationMessage(`NASA Lens: this adapter is already saved to ${job.saved}.`);
      await this.save(choice === 'Save & Apply…');
    });
  }

  /** Forgets the current job (another starts, or the panel is asked for other heads). */
  private dropJob(): void {
    this.job = undefined;
    void vscode.commands.executeCommand('setContext', 'nasaLens.alignmentFinished', false);
  }

  private async save(apply: boolean): Promise<void> {
    const job = this.job;
    if (!job?.done?.result) {
      this.post({ type: 'error', message: 'There is no finished alignment to save.' });
      return;
    }
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const name = `adapter-${headsInFileName(job.params.heads)}.safetensors`;
    const target = await vscode.window.showSaveDialog({
      title: 'Save the NASA adapter',
      filters: { Safetensors: ['safetensors'] },
      defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined,
    });
    if (!target) return;
    try {
      const saved = await this.lens.request(SaveAdapterRequest, { jobId: job.id, path: target.fsPath });
      if (apply) await updateSetting('adapterPath', saved.path);
      job.saved = saved.path;
      this.post({ type: 'saved', path: saved.path, applied: apply });
      // The panel says so next to its Save buttons; a save from the notification while the panel
      // is out of sight gets its own message.
      if (!this.live)
        void vscode.window.showInformationMessage(
          `NASA Lens: adapter saved to ${path.basename(saved.path)}${apply ? ' and applied to every score' : ''}.`,
        );
    } catch (err) {
      this.post({ type: 'error', message: errorMessage(err) });
      await reportError(this.lens, 'save the adapter', err);
    }
  }

  /** The finished job's per-item before/after, on the data it was measured on. */
  private async exportBeforeAfter(): Promise<void> {
    const r = this.job?.done?.result;
    if (!r) return this.post({ type: 'error', message: 'There is no finished alignment to export.' });
    const items = await readQuietly(r.measured.data);
    if (!items || items.length !== (r.before.items?.length ?? -1)) {
      return this.post({
        type: 'error',
        message: `${path.basename(r.measured.data)} changed since the run: its items no longer match the results.`,
      });
    }
    const name = `before-after-${headsInFileName(this.job!.params.heads)}.csv`;
    await exportResults(
      {
        kind: 'alignment',
        data: r.measured.data,
        model: r.measured.model,
        adapter: null,
        metrics: { before: r.before.metrics, after: r.after.metrics },
        items: items.map((it, i) => ({
          prompt: it.prompt,
          label: it.label,
          pYes: r.before.items![i]!.pYes,
          topHead: '',
          topHeadNas: NaN,
          pYesAfter: r.after.items?.[i]?.pYes,
          headsNasBefore: r.before.items![i]!.headsNas,
          headsNasAfter: r.after.items?.[i]?.headsNas,
        })),
      },
      name,
    );
  }

  private post(m: ToAlignPanel): void {
    void this.panel?.webview.postMessage(m);
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.subscriptions) d.dispose();
  }
}

async function readQuietly(file: string): Promise<DatasetItem[] | null> {
  try {
    return await readDataset(file);
  } catch {
    return null;
  }
}

/** A workspace with exactly one train.jsonl (the demo has one) gets it preselected. */
async function findTrainingData(): Promise<string | undefined> {
  const found = await vscode.workspace.findFiles('**/train.jsonl', '**/node_modules/**', 2);
  return found.length === 1 ? found[0]!.fsPath : undefined;
}
