// The weight precisions a user may ask for, as data with no engine import, so that settings and the
// protocol (which the webviews import) can name them.

/** What the user asks for: `auto` keeps a BF16/F16 checkpoint in its precision and reads F32 as float32. */
export type WeightMode = 'auto' | 'float32' | 'int8' | 'int4';
export const WEIGHT_MODES: readonly WeightMode[] = ['auto', 'float32', 'int8', 'int4'];
