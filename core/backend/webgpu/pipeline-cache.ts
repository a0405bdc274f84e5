/**
 * Compiled compute pipelines keyed by the launch key (kernel name + specialisation: op, rank, layout,
 * transposes…). Shapes and strides travel in uniforms, so a training run compiles each key once.
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  get(key: string, source: () => string): GPUComputePipeline {
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      const module = this.device.createShaderModule({ label: key, code: source() });
      pipeline = this.device.createComputePipeline({
        label: key,
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }
}
