// Mean ablation of attention heads and attention knockout of the negative-candidate edge, as one
// graph variant of the ordinary forward graph.
//
// In each layer, the heads' outputs are concatenated into `merged` [B,T,heads·head_dim] right
// before o_proj. The variant rewires o_proj's MatMul to read
//     merged' = merged ⊙ keep_l + mean_l
// where keep_l [heads·head_dim] is 0 on the ablated heads' slices and 1 elsewhere, and mean_l holds
// each ablated head's output averaged over every real token of a reference set (0 elsewhere). Both
// are graph inputs, so one session serves every choice of heads. With keep = 1 and mean = 0 the
// variant is the unablated model exactly. A second variant outputs `merged_l` so the means can be
// measured with the same graph code.
//
// Knockout: the forward graph's own knockout option (input knockout_keys [B,L,H,T]): for the heads
// in S, key n (the negative candidate) is hidden from every query position i > n — its attention
// logit is masked before the softmax — so those heads can no longer read the negative candidate from
// any later position. With no key hidden the variant is the model exactly.

import { createSession, ort, type Session } from '../../src/engine/session.ts';
import type { Graph, Tensor } from '../../src/engine/graph.ts';
import { buildForwardGraph } from '../../src/model/llama.ts';
import type { LoadedModel } from '../../src/model/load.ts';
import { paddedBatchFeeds } from '../../src/model/runner.ts';
import type { HeadRef } from '../../src/bias/nas.ts';
import { decision, type PreparedPrompt } from '../../src/bias/scan.ts';

/** The o_proj MatMul of each layer and the name of its input (`merged`). */
function oProjInputs(g: Graph, layers: number): { nodeIndex: number; merged: Tensor }[] {
  return Array.from({ length: layers }, (_, l) => {
    const weight = `model.layers.${l}.self_attn.o_proj.weight`;
    const transpose = g.nodes.find((n) => n.op === 'Transpose' && n.inputs[0] === weight);
    if (!transpose) throw new Error(`no o_proj transpose in layer ${l}`);
    const nodeIndex = g.nodes.findIndex((n) => n.op === 'MatMul' && n.inputs[1] === transpose.outputs[0]);
    if (nodeIndex < 0) throw new Error(`no o_proj MatMul in layer ${l}`);
    return { nodeIndex, merged: g.tensors.get(g.nodes[nodeIndex]!.inputs[0]!)! };
  });
}

export interface Intervention {
  /** Heads whose output is replaced by its mean (`means`, from headMeans). */
  ablate?: HeadRef[];
  means?: Float32Array[];
  /** Heads that can no longer attend from later positions to the negative candidate. */
  knockout?: HeadRef[];
}

export class AblationRunner {
  private constructor(
    private readonly model: LoadedModel,
    private readonly ablated: Session,
    private readonly probe: Session,
  ) {}

  static async open(model: LoadedModel, threads = 2): Promise<AblationRunner> {
    const cfg = model.config;
    const width = cfg.numHeads * cfg.headDim;

    // Probe: the merged head outputs of every layer as outputs.
    const pg = buildForwardGraph(cfg, model.checkpoint, { attention: false });
    oProjInputs(pg.graph, cfg.numLayers).forEach(({ merged }, l) => pg.graph.output(merged, `merged_${l}`));

    // Ablated: merged' = merged ⊙ keep + mean before each o_proj.
    const ag = buildForwardGraph(cfg, model.checkpoint, { attention: false, knockout: true });
    const g = ag.graph;
    const sites = oProjInputs(g, cfg.numLayers);
    // Insert from the last layer backwards so earlier node indices stay valid.
    for (let l = cfg.numLayers - 1; l >= 0; l--) {
      const { nodeIndex, merged } = sites[l]!;
      const keep = g.input(`keep_${l}`, 'float32', [width]);
      const mean = g.input(`mean_${l}`, 'float32', [width]);
      const before = g.nodes.length;
      const replaced = g.add(g.mul(merged, keep), mean);
      const added = g.nodes.splice(before);
      g.nodes[nodeIndex]!.inputs[0] = replaced.name;
      g.nodes.splice(nodeIndex, 0, ...added);
    }
    const opts = { provider: 'cpu' as const, externalDataDir: pg.weightsDir, threads };
    const [ablated, probe] = await Promise.all([createSession(g.encode(), opts), createSession(pg.graph.encode(), opts)]);
    return new AblationRunner(model, ablated, probe);
  }

  /**
   * Mean output of every head over the prompts: [layer][head·head_dim + d]. `positions`: 'all' =
   * every real token, 'last' = the decision position (the last token) only.
   */
  async headMeans(prompts: PreparedPrompt[], positions: 'all' | 'last' = 'all', batchSize = 64): Promise<Float32Array[]> {
    const cfg = this.model.config;
    const width = cfg.numHeads * cfg.headDim;
    const sums = Array.from({ length: cfg.numLayers }, () => new Float64Array(width));
    let count = 0;
    for (let i = 0; i < prompts.length; i += batchSize) {
      const batch = prompts.slice(i, i + batchSize).map((p) => p.ids);
      const T = Math.max(...batch.map((b) => b.length));
      const out = await this.probe.run(
        paddedBatchFeeds(batch),
        Array.from({ length: cfg.numLayers }, (_, l) => `merged_${l}`),
      );
      for (let l = 0; l < cfg.numLayers; l++) {
        const data = out[`merged_${l}`]!.data as Float32Array;
        batch.forEach((seq, b) => {
          for (let t = positions === 'last' ? T - 1 : T - seq.length; t < T; t++) {
            const row = (b * T + t) * width;
            for (let k = 0; k < width; k++) sums[l]![k]! += data[row + k]!;
          }
        });
      }
      count += positions === 'last' ? batch.length : batch.reduce((a, s) => a + s.length, 0);
    }
    return sums.map((s) => Float32Array.from(s, (v) => v / count));
  }

  /** pYes of every prompt with the given heads mean-ablated (none: the unablated model). */
  async pYes(prompts: PreparedPrompt[], heads: HeadRef[], means: Float32Array[], batchSize = 64): Promise<number[]> {
    const rows = await this.logits(prompts, { ablate: heads, means }, batchSize);
    return rows.map((logits, i) => decision(logits, prompts[i]!.yesId, prompts[i]!.noId)[0]);
  }

  /** pYes of every prompt with the negative-candidate edge knocked out in the given heads. */
  async pYesKnockout(prompts: PreparedPrompt[], heads: HeadRef[], batchSize = 64): Promise<number[]> {
    const rows = await this.logits(prompts, { knockout: heads }, batchSize);
    return rows.map((logits, i) => decision(logits, prompts[i]!.yesId, prompts[i]!.noId)[0]);
  }

  /** The last position's logits [V] of every prompt under the given interventions (none: the model itself). */
  async logits(prompts: PreparedPrompt[], iv: Intervention = {}, batchSize = 64): Promise<Float32Array[]> {
    const cfg = this.model.config;
    const ablationFeeds = this.ablationFeeds(iv.ablate ?? [], iv.means);
    const result: Float32Array[] = [];
    for (let i = 0; i < prompts.length; i += batchSize) {
      const batch = prompts.slice(i, i + batchSize);
      const feeds = { ...ablationFeeds, ...this.knockoutFeeds(batch, iv.knockout ?? []), ...paddedBatchFeeds(batch.map((p) => p.ids)) };
      const out = await this.ablated.run(feeds, ['logits']);
      const logits = out.logits!.data as Float32Array;
      const V = cfg.vocabSize;
      batch.forEach((_, b) => result.push(logits.slice(b * V, (b + 1) * V)));
    }
    return result;
  }

  private ablationFeeds(heads: HeadRef[], means: Float32Array[] | undefined): Record<string, ort.Tensor> {
    const cfg = this.model.config;
    const D = cfg.headDim;
    const width = cfg.numHeads * D;
    if (heads.length && !means) throw new Error("mean ablation needs the heads' means");
    const feeds: Record<string, ort.Tensor> = {};
    for (let l = 0; l < cfg.numLayers; l++) {
      const keep = new Float32Array(width).fill(1);
      const mean = new Float32Array(width);
      for (const h of heads.filter((x) => x.layer === l)) {
        keep.fill(0, h.head * D, (h.head + 1) * D);
        mean.set(means![l]!.subarray(h.head * D, (h.head + 1) * D), h.head * D);
      }
      feeds[`keep_${l}`] = new ort.Tensor('float32', keep, [width]);
      feeds[`mean_${l}`] = new ort.Tensor('float32', mean, [width]);
    }
    return feeds;
  }

  /** knockout_keys: key n (the negative candidate, in padded coordinates) hidden from the heads in S. */
  private knockoutFeeds(batch: PreparedPrompt[], heads: HeadRef[]): Record<string, ort.Tensor> {
    const { numLayers: L, numHeads: H } = this.model.config;
    const B = batch.length;
    const T = Math.max(...batch.map((p) => p.ids.length));
    const keys = new Uint8Array(B * L * H * T);
    for (const { layer, head } of heads) {
      batch.forEach((p, b) => (keys[((b * L + layer) * H + head) * T + T - p.ids.length + p.negative.index] = 1));
    }
    return { knockout_keys: new ort.Tensor('bool', keys, [B, L, H, T]) };
  }

  async close(): Promise<void> {
    await Promise.all([this.ablated.release(), this.probe.release()]);
  }
}
