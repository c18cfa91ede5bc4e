// The one handle on the webview host: acquireVsCodeApi() may be called only once per page, so every
// module goes through here. Typed by the view's state and outgoing message types.

export interface VsCodeApi<State, Out> {
  postMessage(message: Out): void;
  getState(): State | undefined;
  setState(state: State): void;
}

declare function acquireVsCodeApi(): VsCodeApi<unknown, unknown>;

let api: VsCodeApi<unknown, unknown> | undefined;

export function vscodeApi<State, Out>(): VsCodeApi<State, Out> {
  api ??= acquireVsCodeApi();
  return api as VsCodeApi<State, Out>;
}

/** Calls `handler` with each message the extension posts; anything without a string `type` is ignored. */
export function onHostMessage<In extends { type: string }>(handler: (message: In) => void): void {
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    const data = event.data;
    if (typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string') handler(data as In);
  });
}

/**
 * setState at most every `ms`: a training run posts an event per step and the state holds every
 * chart point, so serializing it on each event would be quadratic in the run length.
 */
export function throttledSaver<State>(api: VsCodeApi<State, unknown>, get: () => State, ms = 150): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    if (timer === undefined) return;
    clearTimeout(timer);
    timer = undefined;
    api.setState(get());
  };
  // VS Code drops a hidden webview's page: save what is pending before it goes.
  window.addEventListener('pagehide', flush);
  return () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      api.setState(get());
    }, ms);
  };
}
