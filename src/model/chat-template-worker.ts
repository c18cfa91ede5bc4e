// Runs inside a worker thread (see chat-template.ts): renders the chat template for one user
// message at a time and hands the UTF-8 result back through shared memory, so the caller can wait
// with a deadline and stop this thread when a template loops or grows without end.

import { parentPort, workerData } from 'node:worker_threads';
import { Environment, Template } from '@huggingface/jinja';
import { CTRL, STATE, STATUS, type TemplateWorkerData } from './chat-template-protocol.ts';

const data = workerData as TemplateWorkerData;
const ctrl = new Int32Array(data.ctrl);
const out = new Uint8Array(data.out);
const template = new Template(data.text);

function reply(status: number, bytes: Uint8Array): void {
  const n = Math.min(bytes.length, out.length);
  out.set(bytes.subarray(0, n));
  Atomics.store(ctrl, CTRL.length, n);
  Atomics.store(ctrl, CTRL.status, status);
  Atomics.store(ctrl, CTRL.state, STATE.done);
  Atomics.notify(ctrl, CTRL.state);
}

/** No chat template needs more than this many items from one range(). */
const MAX_RANGE = 100_000;

/**
 * Jinja's range(), bounded. The template engine's own builds the whole list first: range(100000000)
 * is 800 MB that the worker's heap limit must stop, and a V8 out-of-memory inside a worker has
 * taken the whole process down with it (seen in about one run in three). Refusing it here is cheap.
 */
function boundedRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('range() step must not be zero');
  const length = Math.max(0, Math.ceil((stop - start) / step));
  if (!(length <= MAX_RANGE)) throw new Error(`range() of ${length} items: a chat template gets at most ${MAX_RANGE}`);
  return Array.from({ length }, (_, i) => start + i * step);
}

// The engine declares its globals through Environment.set and refuses to declare one twice, so the
// bounded range() replaces its own there. This thread renders templates and nothing else.
const declareGlobal = Environment.prototype.set;
Environment.prototype.set = function (name: string, value: unknown) {
  return declareGlobal.call(this, name, name === 'range' ? boundedRange : value);
};

parentPort!.on('message', (message: string) => {
  let rendered: string;
  try {
    rendered = template.render({ ...data.context, messages: [{ role: 'user', content: message }], add_generation_prompt: true });
  } catch (err) {
    reply(STATUS.error, new TextEncoder().encode(err instanceof Error ? err.message : String(err)));
    return;
  }
  // A string longer than the output buffer is refused, not truncated.
  if (rendered.length > out.length) return reply(STATUS.tooLong, new Uint8Array(0));
  const bytes = new TextEncoder().encode(rendered);
  reply(bytes.length > out.length ? STATUS.tooLong : STATUS.ok, bytes);
});

reply(STATUS.ok, new Uint8Array(0));
