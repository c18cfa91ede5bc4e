// One small schema per message that crosses a trust boundary (server request params, webview
// messages): a value is checked against it before any field is used, and a mismatch is an error that
// names the field. Plain functions, no dependency, usable on both sides of the protocol.

export class SchemaError extends Error {
  override readonly name = 'SchemaError';
}

/** Checks a value and returns it typed; throws SchemaError naming the path of the first bad field. */
export type Schema<T> = (value: unknown, at: string) => T;

function fail(at: string, expected: string, value: unknown): never {
  const got =
    value === null
      ? 'null'
      : Array.isArray(value)
        ? 'an array'
        : typeof value === 'string'
          ? 'a string'
          : typeof value === 'number'
            ? String(value)
            : typeof value;
  throw new SchemaError(`${at} must be ${expected}, got ${got}`);
}

export const string =
  (opts: { nonEmpty?: boolean; maxLength?: number } = {}): Schema<string> =>
  (v, at) => {
    if (typeof v !== 'string') fail(at, 'a string', v);
    if (opts.nonEmpty && v.trim() === '') fail(at, 'a non-empty string', v);
    if (v.length > (opts.maxLength ?? 4096)) fail(at, `at most ${opts.maxLength ?? 4096} characters`, `${v.length} characters`);
    return v;
  };

export const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Schema<number> =>
  (v, at) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(at, `a whole number in [${min}, ${max}]`, v);
    return v;
  };

export const number =
  (opts: { min?: number; exclusiveMin?: number; max?: number } = {}): Schema<number> =>
  (v, at) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(at, 'a finite number', v);
    if (opts.min !== undefined && v < opts.min) fail(at, `a number ≥ ${opts.min}`, v);
    if (opts.exclusiveMin !== undefined && v <= opts.exclusiveMin) fail(at, `a number > ${opts.exclusiveMin}`, v);
    if (opts.max !== undefined && v > opts.max) fail(at, `a number ≤ ${opts.max}`, v);
    return v;
  };

export const boolean: Schema<boolean> = (v, at) => {
  if (typeof v !== 'boolean') fail(at, 'true or false', v);
  return v;
};

export const literal =
  <L extends string>(...values: L[]): Schema<L> =>
  (v, at) => {
    if (typeof v !== 'string' || !(values as string[]).includes(v)) fail(at, values.map((x) => JSON.stringify(x)).join(' or '), v);
    return v as L;
  };

export const optional =
  <T>(schema: Schema<T>): Schema<T | undefined> =>
  (v, at) =>
    v === undefined || v === null ? undefined : schema(v, at);

export const array =
  <T>(item: Schema<T>, opts: { min?: number; max?: number } = {}): Schema<T[]> =>
  (v, at) => {
    if (!Array.isArray(v)) fail(at, 'an array', v);
    if (v.length < (opts.min ?? 0)) fail(at, `a list of at least ${opts.min}`, `${v.length} items`);
    if (v.length > (opts.max ?? 100_000)) fail(at, `a list of at most ${opts.max ?? 100_000}`, `${v.length} items`);
    return v.map((x, i) => item(x, `${at}[${i}]`));
  };

type Shape = Record<string, Schema<unknown>>;
type Out<S extends Shape> = { [K in keyof S as undefined extends ReturnType<S[K]> ? never : K]: ReturnType<S[K]> } & {
  [K in keyof S as undefined extends ReturnType<S[K]> ? K : never]?: ReturnType<S[K]>;
};

/** An object with exactly these fields checked (others are dropped, never passed on). */
export const object =
  <S extends Shape>(shape: S): Schema<Out<S>> =>
  (v, at) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(at, 'an object', v);
    const out: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(shape)) {
      const value = schema((v as Record<string, unknown>)[key], `${at}.${key}`);
      if (value !== undefined) out[key] = value;
    }
    return out as Out<S>;
  };

/** A message with a `type` tag: the schema of that type checks the rest. */
export const tagged =
  <M extends Record<string, Schema<object>>>(variants: M): Schema<{ [K in keyof M]: { type: K } & ReturnType<M[K]> }[keyof M]> =>
  (v, at) => {
    const type = (v as { type?: unknown } | null)?.type;
    if (typeof type !== 'string' || !Object.hasOwn(variants, type))
      fail(
        `${at}.type`,
        Object.keys(variants)
          .map((k) => JSON.stringify(k))
          .join(' or '),
        type,
      );
    return { type, ...variants[type]!(v, at) } as never;
  };

/** `check(schema, value, 'params')` with a message a client can show as is. */
export function check<T>(schema: Schema<T>, value: unknown, at: string): T {
  return schema(value, at);
}
