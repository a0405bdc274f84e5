/**
 * Every suite, for Node (`tsx test/all.ts`) and Deno (`deno run … test/all.ts`): the same files run on
 * both runtimes. Backends: WEBPEFT_TEST_BACKENDS (default "cpu,webgpu"; webgpu FAILS without an adapter).
 * WEBPEFT_TEST_FILTER=matmul,errors runs only the suites whose file name contains one of the words.
 *
 * Backends are created first, then every suite registers synchronously, so uvu runs them all in one pass.
 */
import { backendsUnderTest } from "./harness/backends.ts";
import { env } from "./harness/env.ts";
import * as corePurity from "./unit/core-purity.test.ts";
import * as autograd from "./unit/autograd.test.ts";
import * as errors from "./unit/errors.test.ts";
import * as webgpuBackend from "./unit/webgpu-backend.test.ts";
import * as readme from "./unit/readme.test.ts";
import * as random from "./unit/random.test.ts";
import * as pretrainObjectives from "./unit/pretrain-objectives.test.ts";
import * as report from "./unit/report.test.ts";
import * as optim from "./unit/optim.test.ts";
import * as train from "./train/train.test.ts";
import * as trainCli from "./train/cli.test.ts";
import * as elementwise from "./conformance/elementwise.test.ts";
import * as reduce from "./conformance/reduce.test.ts";
import * as matmul from "./conformance/matmul.test.ts";
import * as nnOps from "./conformance/nn-ops.test.ts";
import * as ioSafetensors from "./io/safetensors.test.ts";
import * as ioConfig from "./io/config.test.ts";
import * as ioTokenizer from "./io/tokenizer.test.ts";
import * as ioHub from "./io/hub.test.ts";
import * as t5 from "./models/t5.test.ts";
import * as glueReal from "./datasets/glue-real.test.ts";
import * as glueReaders from "./datasets/glue-readers.test.ts";
import * as glueMetrics from "./datasets/glue-metrics.test.ts";
import * as glueBatching from "./datasets/glue-batching.test.ts";
import * as glueT5 from "./datasets/glue-t5.test.ts";
import * as pluginFramework from "./plugins/framework.test.ts";
import * as pluginMatrix from "./plugins/matrix.test.ts";
import * as pluginGuide from "./plugins/guide.test.ts";
import * as pluginLora from "../plugins/lora/lora.test.ts";
import * as pluginAdapter from "../plugins/adapter/adapter.test.ts";
import * as pluginCompacter from "../plugins/compacter/compacter.test.ts";
import * as pluginBitfit from "../plugins/bitfit/bitfit.test.ts";
import * as pluginFull from "../plugins/full/full.test.ts";
import * as pluginKrona from "../plugins/krona/krona.test.ts";
import * as pluginKronab from "../plugins/kronab/kronab.test.ts";
import * as fuzz from "./fuzz/fuzz.test.ts";
import * as sweepSpec from "./unit/sweep-spec.test.ts";
import * as capture from "./unit/capture.test.ts";

const suites = { corePurity, autograd, errors, webgpuBackend, readme, random, pretrainObjectives, report, optim, train, trainCli, elementwise, reduce, matmul, nnOps, ioSafetensors, ioConfig, ioTokenizer, ioHub, t5, glueReal, glueReaders, glueMetrics, glueBatching, glueT5, pluginMatrix, pluginGuide, pluginFramework, pluginLora, pluginAdapter, pluginCompacter, pluginBitfit, pluginFull, pluginKrona, pluginKronab, fuzz, sweepSpec, capture };
const filter = env("WEBPEFT_TEST_FILTER")?.split(",").map((w) => w.trim().toLowerCase());

let backends: Awaited<ReturnType<typeof backendsUnderTest>> = [];
try {
  backends = await backendsUnderTest();
} catch (e) {
  // No silent skip: a requested backend that cannot be created fails the run, with the reason.
  console.error(`\nwebpeft tests: cannot create the requested backends (WEBPEFT_TEST_BACKENDS=${env("WEBPEFT_TEST_BACKENDS") ?? "cpu,webgpu"}):\n${(e as Error).message}\n`);
  (globalThis as unknown as { process: { exit(code: number): never } }).process.exit(1);
}
// WEBPEFT_TEST_SHARD=i/n runs every n-th suite starting at the i-th (1-based), so the whole list can be
// split over several processes; `npm run test:node` and `test:deno` use 3, so a failure names a shorter
// rerun, and because lavapipe's memory mappings (device memory, descriptor pools) accumulate per process
// until garbage collection frees the objects that hold them: Linux allows 65,530 (vm.max_map_count). One
// Node process for every suite peaked at ~53,000 (2026-12-02, sampled /proc/PID/maps) and crashed inside
// Dawn's descriptor pool allocation (memset on MAP_FAILED) once the captured-step suites were added. (Deno
// crashed the same way when every launch made a bind group; the backend now reuses them,
// core/backend/webgpu/bind-group-cache.ts, and "webgpu backend" tests it.)
const shard = env("WEBPEFT_TEST_SHARD")?.match(/^(\d+)\/(\d+)$/);
if (env("WEBPEFT_TEST_SHARD") && !shard) throw new Error(`WEBPEFT_TEST_SHARD must look like 2/3, got ${env("WEBPEFT_TEST_SHARD")}`);
Object.entries(suites).forEach(([name, suite], index) => {
  if (filter && !filter.some((w) => name.toLowerCase().includes(w))) return;
  if (shard && index % Number(shard[2]) !== Number(shard[1]) - 1) return;
  suite.register(backends);
});
