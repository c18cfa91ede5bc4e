// The schemas of src/protocol.ts's messages that come from the less trusted side: request params
// the language server receives and messages the webviews post to the extension host.

import { array, boolean, integer, literal, number, object, optional, SchemaError, string, tagged, type Schema } from './schema.ts';
import type {
  AlignStartParams,
  AlignStartRequestParams,
  AlignStopParams,
  EvaluateParams,
  FromAlignPanel,
  FromDashboard,
  FromTokenView,
  HeadRef,
  SaveAdapterParams,
  TemplateDataParams,
  TokensParams,
} from './protocol.ts';
import { ALIGN_RULES, type AlignNumber } from './align/rules.ts';

/** A NASA setting, within the bounds that the CLI and the align panel also apply. */
const alignNumber = (name: AlignNumber): Schema<number> => {
  const r = ALIGN_RULES[name];
  if (r.integer) return integer(r.min, r.max);
  return number(r.exclusiveMin ? { exclusiveMin: r.min, max: r.max } : { min: r.min, max: r.max });
};

const head = object({ layer: integer(0, 1_000_000), head: integer(0, 1_000_000) });

/** Heads: whole numbers ≥ 0, each at most once. */
const heads =
  (min: number): Schema<HeadRef[]> =>
  (v, at) => {
    const list = array(head, { min, max: 65_536 })(v, at);
    const seen = new Set<string>();
    for (const h of list) {
      const key = `${h.layer}:${h.head}`;
      if (seen.has(key)) throw new SchemaError(`${at} lists head L${h.layer}H${h.head} twice`);
      seen.add(key);
    }
    return list;
  };

const path = string({ nonEmpty: true, maxLength: 4096 });

export const evaluateParams: Schema<EvaluateParams> = object({ path });

const jobId = string({ nonEmpty: true, maxLength: 100 });

const alignRun = {
  heads: heads(1),
  trainData: path,
  valData: optional(path),
  weights: object({ align: alignNumber('align'), task: alignNumber('task'), keep: alignNumber('keep') }),
  steps: alignNumber('steps'),
  lr: alignNumber('lr'),
  batch: alignNumber('batch'),
  seed: alignNumber('seed'),
  trainK: boolean,
  accuracyTolerance: optional(alignNumber('accuracyTolerance')),
  evalEvery: optional(alignNumber('evalEvery')),
  patience: optional(alignNumber('patience')),
};

export const alignStartParams: Schema<AlignStartParams> = object(alignRun);

export const alignStartRequestParams: Schema<AlignStartRequestParams> = object({ ...alignRun, jobId });

export const templateDataParams: Schema<TemplateDataParams> = object({ uri: string({ nonEmpty: true, maxLength: 8192 }), path });

export const alignStopParams: Schema<AlignStopParams> = object({ jobId });

const uri = string({ nonEmpty: true, maxLength: 8192 });

export const tokensParams: Schema<TokensParams> = object({ uri, position: object({ line: integer(0), character: integer(0) }) });

export const saveAdapterParams: Schema<SaveAdapterParams> = object({ jobId, path });

export const fromAlignPanel: Schema<FromAlignPanel> = tagged({
  ready: object({}),
  pickData: object({ which: literal('train', 'val') }),
  checkData: object({ train: string({ maxLength: 4096 }), val: string({ maxLength: 4096 }) }),
  start: object({ params: alignStartParams }),
  stop: object({}),
  save: object({ apply: boolean }),
  export: object({}),
});

export const fromDashboard: Schema<FromDashboard> = tagged({
  ready: object({}),
  refresh: object({}),
  selectHead: object({ head }),
  revealPrompt: object({ uri: string({ nonEmpty: true, maxLength: 8192 }), line: integer(0) }),
  alignHeads: object({ heads: heads(1) }),
  showTokens: object({ uri, line: integer(0), character: integer(0), head }),
  evaluate: object({}),
  exportEvaluation: object({}),
});

export const fromTokenView: Schema<FromTokenView> = tagged({ ready: object({}) });
