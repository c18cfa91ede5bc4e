// The post-softmax attention a forward pass returns for ONE prompt, and its layout, in one place for
// the runner that fills it, NAS (src/bias/nas.ts) and the editor's attention shares that read it.
// Only the last `rows` query positions are kept (NAS needs no more), for every layer and query head:
//   data[((l * heads + h) * rows + r) * len + k] = attention of query position (len − rows + r) to key k,
// in unpadded token coordinates.

export interface AttentionRows<Data extends Float32Array | Float64Array = Float32Array | Float64Array> {
  layers: number;
  heads: number;
  rows: number;
  len: number;
  data: Data;
}

/** Offset in `data` of kept row r (0 = the first kept query position) of head h in layer l. */
export function rowStart(attn: Pick<AttentionRows, 'heads' | 'rows' | 'len'>, l: number, h: number, r: number): number {
  return ((l * attn.heads + h) * attn.rows + r) * attn.len;
}

/** Offset in `data` of query position i's row, or an error if the forward pass did not keep that row. */
export function queryRowStart(attn: AttentionRows, l: number, h: number, i: number): number {
  const firstRow = attn.len - attn.rows;
  if (!Number.isInteger(i) || i < firstRow || i >= attn.len) {
    throw new RangeError(`query position ${i} is not among the attention rows present (${firstRow}..${attn.len - 1})`);
  }
  return rowStart(attn, l, h, i - firstRow);
}
