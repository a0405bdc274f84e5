/** Bad input gets a typed error that names the op, shapes, sizes or limits involved. */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  BackendMismatchError,
  DTypeError,
  DisposedTensorError,
  IndexOutOfRangeError,
  InvalidArgumentError,
  NoWebGPUAdapterError,
  ShapeError,
} from "../../core/errors.ts";
import { createCpuBackend } from "../../core/backend/cpu/cpu-backend.ts";
import { createWebGPUBackend } from "../../core/backend/webgpu/webgpu-backend.ts";
import { ones, tensor, zeros } from "../../core/tensor/create.ts";
import { crossEntropy } from "../../core/tensor/ops/cross-entropy.ts";
import { gather } from "../../core/tensor/ops/gather.ts";
import type { NamedBackend } from "../harness/backends.ts";
import { expectError } from "../harness/expect.ts";

export function register(backends: readonly NamedBackend[]): void {
 for (const { name, backend } of backends) {
  const s = suite(`errors on ${name}`);
  const opts = { backend };

  s("shape mismatch names the op and both shapes", async () => {
    const e = await expectError(() => ones([2, 3], opts).add(ones([4], opts)), ShapeError, /add: .*\[2, 3\] and \[4\]/);
    assert.is(e._tag, "ShapeError");
    await expectError(() => ones([2, 3], opts).matmul(ones([4, 5], opts)), ShapeError, /matmul: inner sizes differ.*\[2, 3\] and \[4, 5\]/);
    await expectError(() => ones([2, 3], opts).reshape([4]), ShapeError, /reshape: cannot reshape 6 elements into 4/);
  });

  s("dtype, index and argument errors", async () => {
    const table = ones([5, 2], opts);
    await expectError(() => gather(table, ones([3], opts)), DTypeError, /gather \(ids\): expected dtype int32, got float32/);
    await expectError(() => gather(table, tensor([0, 5], { ...opts, dtype: "int32" })), IndexOutOfRangeError, /index 5 is out of range for size 5/);
    await expectError(() => crossEntropy(ones([2, 3], opts), tensor([0, -7], { ...opts, dtype: "int32" })), IndexOutOfRangeError, /-7 is negative.*-100/);
    await expectError(() => ones([3], opts).dropout(1.5), InvalidArgumentError, /dropout: invalid p: 1.5/);
    await expectError(() => ones([3], opts).sum(3), InvalidArgumentError, /axis: 3 is out of range for a tensor of rank 1/);
  });

  s("a disposed tensor cannot be used", async () => {
    const t = zeros([3], opts);
    t.dispose();
    await expectError(() => t.add(1), DisposedTensorError, /used after dispose/);
  });

  s("mixing backends is a typed error", async () => {
    const other = createCpuBackend();
    await expectError(() => ones([2], opts).add(ones([2], { backend: other })), BackendMismatchError, /different backends/);
  });

  s.run();
}

  const gpuErrors = suite("WebGPU device errors");

gpuErrors("no adapter: the message explains how to install a Vulkan driver and mentions --backend cpu", async () => {
  const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
  try {
    await createWebGPUBackend({ gpu: noAdapter });
    assert.unreachable("expected NoWebGPUAdapterError");
  } catch (e) {
    assert.instance(e, NoWebGPUAdapterError);
    const message = (e as Error).message;
    assert.match(message, /lavapipe/);
    assert.match(message, /mesa-vulkan-drivers/);
    assert.match(message, /--backend cpu/);
  }
});

  const webgpu = backends.find((b) => b.name === "webgpu");
if (webgpu) {
  gpuErrors("a buffer above the device limit names its size and the limit", async () => {
    const { BufferLimitError } = await import("../../core/errors.ts");
    const limit = webgpu.backend.capabilities.maxBufferBytes;
    const elements = Math.floor(limit / 4) + 1024;
    await expectError(() => zeros([elements], { backend: webgpu.backend }), BufferLimitError, new RegExp(`${elements * 4} bytes.*(maxStorageBufferBindingSize|maxBufferSize)`));
  });

  gpuErrors("a lost device turns every later call into DeviceLostError", async () => {
    const { createHostWebGPUBackend } = await import("../../runners/host.ts");
    const { DeviceLostError } = await import("../../core/errors.ts");
    const b = await createHostWebGPUBackend();
    const t = ones([4], { backend: b });
    b.device.destroy();
    await b.device.lost;
    try {
      t.add(1);
      assert.unreachable("expected DeviceLostError");
    } catch (e) {
      assert.instance(e, DeviceLostError);
      assert.match((e as Error).message, /device was lost \(destroyed/);
    }
  });
}

gpuErrors.run();
}
