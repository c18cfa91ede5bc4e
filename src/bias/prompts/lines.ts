// Offsets ↔ lines for the prompt scanners.

/** Offset → 1-based line number. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  lineOf(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

/** Each line's content (without "\n"/"\r\n") and its start offset. */
export function linesWithOffsets(text: string): { start: number; content: string }[] {
  const out: { start: number; content: string }[] = [];
  let start = 0;
  for (const raw of text.split('\n')) {
    out.push({ start, content: raw.endsWith('\r') ? raw.slice(0, -1) : raw });
    start += raw.length + 1;
  }
  return out;
}
