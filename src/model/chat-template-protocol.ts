// The shared-memory handshake between chat-template.ts and its worker.

/** Int32 slots of the control buffer. */
export const CTRL = { state: 0, status: 1, length: 2, size: 3 } as const;
export const STATE = { waiting: 0, done: 1 } as const;
export const STATUS = { ok: 0, error: 1, tooLong: 2 } as const;

export interface TemplateWorkerData {
  text: string;
  /** Variables every render gets (special tokens). */
  context: Record<string, unknown>;
  ctrl: SharedArrayBuffer;
  out: SharedArrayBuffer;
}
