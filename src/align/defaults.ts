// NASA's default hyper-parameters (docs/design.md §5.2), in a module with no engine imports so the
// extension host, the CLI and the trainer share one source without bundling the graph code.

export interface LossWeights {
  align: number;
  task: number;
  keep: number;
}

export const DEFAULT_LOSS_WEIGHTS: LossWeights = { align: 1, task: 1, keep: 0.1 };

/** Defaults of a run besides the heads and the data. */
export const DEFAULT_ALIGN = { weights: DEFAULT_LOSS_WEIGHTS, steps: 100, lr: 5e-3, batch: 8, seed: 0, trainK: false };
