// Chat-template rendering with a time, memory and output-size budget, off the calling thread. A
// template comes from the model folder (any hub repository): `{% for i in range(100000000) %}` must
// not hang the CLI or take the language server down. The template runs in a worker thread with a
// small heap; the caller waits on shared memory with a deadline and stops the worker when it passes.
// Rendering stays synchronous for callers (a normal render takes well under a millisecond), and a
// template that once blew its budget is refused at once afterwards instead of costing the budget
// again for every prompt.

import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CTRL, STATE, STATUS, type TemplateWorkerData } from './chat-template-protocol.ts';

export const TEMPLATE_BUDGET = {
  /** Per render. */
  timeMs: 2_000,
  /** Starting the worker (loading the template engine) the first time. */
  startupMs: 20_000,
  /** Rendered prompt, in bytes. */
  outputBytes: 4 * 1024 * 1024,
  heapMb: 256,
} as const;

export class TemplateBudgetError extends Error {
  override readonly name = 'TemplateBudgetError';
}

export class ChatTemplateRenderer {
  private worker: Worker | null = null;
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(CTRL.size * 4));
  private readonly out: SharedArrayBuffer;
  private broken: string | null = null;

  constructor(
    private readonly text: string,
    private readonly context: Record<string, unknown>,
    private readonly budget: { timeMs: number; startupMs: number; outputBytes: number; heapMb: number } = TEMPLATE_BUDGET,
  ) {
    this.out = new SharedArrayBuffer(budget.outputBytes);
  }

  /** The template rendered for one user message; throws TemplateBudgetError or the template's own error. */
  render(userMessage: string): string {
    if (this.broken) throw new TemplateBudgetError(this.broken);
    const worker = this.worker ?? this.start();
    Atomics.store(this.ctrl, CTRL.state, STATE.waiting);
    worker.postMessage(userMessage);
    if (Atomics.wait(this.ctrl, CTRL.state, STATE.waiting, this.budget.timeMs) === 'timed-out') {
      this.fail(`rendering took longer than ${this.budget.timeMs} ms (or needed more than ${this.budget.heapMb} MB)`);
    }
    const status = Atomics.load(this.ctrl, CTRL.status);
    const bytes = new Uint8Array(this.out, 0, Atomics.load(this.ctrl, CTRL.length)).slice();
    const text = new TextDecoder().decode(bytes);
    if (status === STATUS.tooLong) throw new TemplateBudgetError(`the rendered prompt is longer than ${this.budget.outputBytes} bytes`);
    if (status === STATUS.error) throw new Error(text);
    return text;
  }

  close(): void {
    void this.worker?.terminate();
    this.worker = null;
  }

  private start(): Worker {
    const data: TemplateWorkerData = { text: this.text, context: this.context, ctrl: this.ctrl.buffer as SharedArrayBuffer, out: this.out };
    Atomics.store(this.ctrl, CTRL.state, STATE.waiting);
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { ...data, file: workerFile() },
      resourceLimits: { maxOldGenerationSizeMb: this.budget.heapMb, maxYoungGenerationSizeMb: 16 },
      stdout: true,
      stderr: true,
    });
    worker.unref();
    worker.on('error', () => undefined); // reported through the handshake (a timeout) instead
    this.worker = worker;
    if (Atomics.wait(this.ctrl, CTRL.state, STATE.waiting, this.budget.startupMs) === 'timed-out') {
      this.fail(`the template engine did not start within ${this.budget.startupMs} ms`);
    }
    if (Atomics.load(this.ctrl, CTRL.status) !== STATUS.ok) this.fail('the template engine failed to start');
    return worker;
  }

  private fail(reason: string): never {
    this.close();
    this.broken = `the chat template exceeded its budget: ${reason}; fix the template or turn the chat template off`;
    throw new TemplateBudgetError(this.broken);
  }
}

/** From sources (tsx) the worker needs the TypeScript loader; from the bundle it is plain JS next to it. */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
try {
  if (workerData.file.endsWith('.ts')) require('tsx/cjs');
  require(workerData.file);
} catch (err) {
  const ctrl = new Int32Array(workerData.ctrl);
  Atomics.store(ctrl, ${CTRL.status}, ${STATUS.error});
  Atomics.store(ctrl, ${CTRL.length}, 0);
  Atomics.store(ctrl, ${CTRL.state}, ${STATE.done});
  Atomics.notify(ctrl, ${CTRL.state});
}`;

function workerFile(): string {
  const ext = path.extname(__filename) === '.ts' ? '.ts' : '.js';
  return path.join(__dirname, `chat-template-worker${ext}`);
}
