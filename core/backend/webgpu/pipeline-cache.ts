import { bindingSignature, createSharedLayout, type SharedLayout } from "./bind-group-cache.ts";

/** A compiled pipeline and, when its WGSL follows the binding contract, the explicit layout it shares. */
export interface CachedPipeline {
  readonly pipeline: GPUComputePipeline;
  /** null: the program keeps WebGPU's "auto" layout (and gets a fresh bind group per launch). */
  readonly layout: SharedLayout | null;
}

/**
 * Compiled compute pipelines keyed by the launch key (kernel name + specialisation: op, rank, layout,
 * transposes…). Shapes and strides travel in uniforms, so a training run compiles each key once.
 * Pipelines whose bindings have the same shape share one bind group layout (see bind-group-cache.ts).
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, CachedPipeline>();
  private readonly layouts = new Map<string, SharedLayout>();

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  /** `uniformSlotBytes`: the arena slot one launch's uniforms take (fixed per key, as the struct is). */
  get(key: string, source: () => string, uniformSlotBytes: number): CachedPipeline {
    let cached = this.pipelines.get(key);
    if (!cached) {
      const code = source();
      const module = this.device.createShaderModule({ label: key, code });
      const signature = bindingSignature(code, uniformSlotBytes);
      let layout: SharedLayout | null = null;
      if (signature !== null) {
        layout = this.layouts.get(signature) ?? null;
        if (!layout) this.layouts.set(signature, (layout = createSharedLayout(this.device, signature)));
      }
      const pipeline = this.device.createComputePipeline({
        label: key,
        layout: layout?.pipelineLayout ?? "auto",
        compute: { module, entryPoint: "main" },
      });
      this.pipelines.set(key, (cached = { pipeline, layout }));
    }
    return cached;
  }
}
