/** WebGPU on Deno: the built-in `navigator.gpu` (wgpu). */
export function denoGPU(): GPU {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new Error("this Deno build exposes no navigator.gpu");
  return gpu;
}
