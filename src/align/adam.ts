// Adam (Kingma & Ba) on the few small delta tensors NASA trains; they live in TypeScript memory.

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export class Adam {
  private readonly m = new Map<string, Float64Array>();
  private readonly v = new Map<string, Float64Array>();
  private t = 0;

  constructor(private readonly opts: AdamOptions) {}

  /** One update of every parameter in place. */
  step(params: Map<string, Float32Array>, grads: ReadonlyMap<string, ArrayLike<number>>): void {
    const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = this.opts;
    this.t++;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) throw new Error(`no gradient for ${name}`);
      const m = this.moment(this.m, name, p.length);
      const v = this.moment(this.v, name, p.length);
      for (let i = 0; i < p.length; i++) {
        m[i] = beta1 * m[i] + (1 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
        p[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
      }
    }
  }

  private moment(store: Map<string, Float64Array>, name: string, n: number): Float64Array {
    let x = store.get(name);
    if (!x) store.set(name, (x = new Float64Array(n)));
    return x;
  }
}
