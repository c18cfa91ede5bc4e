// The one way the webviews build DOM: elements and text nodes, never innerHTML, so prompt texts and
// file paths from the workspace can't inject markup. Style attributes are refused because the CSP
// (src/client/webview-html.ts) blocks them; colours go through element.style (CSSOM) instead.

type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined | ((event: never) => void);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, AttrValue> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) setAttr(el, name, value);
  append(el, children);
  return el;
}

export function append(el: Element, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

/** Replaces all children of `el`. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

function setAttr(el: HTMLElement, name: string, value: AttrValue): void {
  if (name === 'style') throw new Error('dom.h: style attributes are blocked by the CSP; use element.style or a class');
  if (typeof value === 'function') el.addEventListener(name.replace(/^on/, '').toLowerCase(), value as EventListener);
  else if (value === true) el.setAttribute(name, '');
  else if (value !== false && value !== null && value !== undefined) el.setAttribute(name, String(value));
}

/** Sets or removes a boolean attribute such as disabled/hidden. */
export function toggleAttr(el: Element, name: string, on: boolean): void {
  if (on) el.setAttribute(name, '');
  else el.removeAttribute(name);
}
