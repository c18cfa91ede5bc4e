// A set of heads in the order they were added, shared by the heat map, the chips and the state.

import type { HeadRef } from '../src/protocol.ts';

export function headKey(ref: HeadRef): string {
  return `${ref.layer}:${ref.head}`;
}

export class HeadSelection {
  private readonly heads = new Map<string, HeadRef>();

  constructor(initial: readonly HeadRef[] = []) {
    this.replace(initial);
  }

  has(ref: HeadRef): boolean {
    return this.heads.has(headKey(ref));
  }

  /** Adds or removes; returns whether the head is now selected. */
  toggle(ref: HeadRef): boolean {
    const key = headKey(ref);
    if (this.heads.delete(key)) return false;
    this.heads.set(key, { layer: ref.layer, head: ref.head });
    return true;
  }

  replace(refs: readonly HeadRef[]): void {
    this.heads.clear();
    for (const r of refs) this.heads.set(headKey(r), { layer: r.layer, head: r.head });
  }

  get size(): number {
    return this.heads.size;
  }

  list(): HeadRef[] {
    return [...this.heads.values()];
  }
}
