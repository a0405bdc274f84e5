/**
 * The backends every conformance suite runs on. WEBPEFT_TEST_BACKENDS (default "cpu,webgpu") selects
 * them; when "webgpu" is selected and no adapter exists the suite FAILS with the NoWebGPUAdapterError's
 * instructions (CI must never pass by skipping GPU tests). To run the CPU suites alone on a machine
 * without a GPU, say so explicitly: WEBPEFT_TEST_BACKENDS=cpu.
 */
import type { Backend } from "../../core/backend/backend.ts";
import { createCpuBackend } from "../../core/backend/cpu/cpu-backend.ts";
import { detectRuntime } from "../../core/runtime.ts";
import { createHostWebGPUBackend } from "../../runners/host.ts";
import { env } from "./env.ts";

export interface NamedBackend {
  readonly name: string;
  readonly backend: Backend;
}

const requested = (env("WEBPEFT_TEST_BACKENDS") ?? "cpu,webgpu").split(",").map((s) => s.trim()).filter(Boolean);

/** The float64 CPU backend: the oracle every result is compared with. */
export const reference: Backend = createCpuBackend({ float64: true });

async function make(name: string): Promise<NamedBackend> {
  if (name === "cpu") return { name: "cpu", backend: createCpuBackend() };
  if (name === "webgpu") {
    const backend = await createHostWebGPUBackend();
    const info = Object.values(backend.adapterInfo).join(" / ");
    const subgroups = backend.features.subgroupSize ? `subgroups of ${backend.features.subgroupSize}` : "no subgroups";
    console.log(`[webpeft tests] ${detectRuntime()} WebGPU adapter: ${info || "(no adapter info)"}; ${subgroups}`);
    return { name: "webgpu", backend };
  }
  throw new Error(`WEBPEFT_TEST_BACKENDS: unknown backend "${name}" (known: cpu, webgpu)`);
}

let created: Promise<NamedBackend[]> | null = null;

/** Created once per process and shared by all suites. */
export function backendsUnderTest(): Promise<NamedBackend[]> {
  return (created ??= Promise.all(requested.map(make)));
}
