// A tiny test runner for the extension host (no mocha): `test()` registers, `runAll()` runs the
// tests in order (they share one editor, so each may rely on the previous), prints one line each,
// and rejects when any failed, which makes @vscode/test-electron exit non-zero.

interface Test {
  name: string;
  fn: () => Promise<void> | void;
  timeoutMs: number;
}

const tests: Test[] = [];

export function test(name: string, fn: Test['fn'], timeoutMs = 60_000): void {
  tests.push({ name, fn, timeoutMs });
}

export async function runAll(): Promise<void> {
  const failed: string[] = [];
  for (const t of tests) {
    const started = Date.now();
    try {
      await withTimeout(Promise.resolve().then(t.fn), t.timeoutMs, t.name);
      console.log(`  ✓ ${t.name} (${Date.now() - started} ms)`);
    } catch (err) {
      failed.push(t.name);
      console.log(`  ✗ ${t.name}\n${indent(err instanceof Error ? (err.stack ?? err.message) : String(err))}`);
    }
  }
  console.log(`\n${tests.length - failed.length} passed, ${failed.length} failed`);
  if (failed.length) throw new Error(`failed: ${failed.join('; ')}`);
}

/** Polls `probe` until it returns a value (not undefined), for what the server computes in the background. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

function withTimeout<T>(p: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${name}: timed out after ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function indent(s: string): string {
  return s.replace(/^/gm, '      ');
}
