// Runs inside a worker thread (see chat-template.ts): renders the chat template for one user
// message at a time and hands the UTF-8 result back through shared memory, so the caller can wait
// with a deadline and stop this thread when a template loops or grows without end.

import { parentPort, workerData } from 'node:worker_threads';
import { Template } from '@huggingface/jinja';
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
