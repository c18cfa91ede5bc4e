// One task at a time, in call order. An onnxruntime session may run concurrently, but a scoring
// job and a model reload must not interleave (closing a session under a running forward pass
// crashes), and "one job at a time" keeps the CPU for the job the user waits on.

export class SerialLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    // The next task waits for this one to settle, whatever its outcome.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
