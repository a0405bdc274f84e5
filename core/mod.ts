/**
 * webpeft core: tensors with autograd over a small backend interface (CPU reference, WebGPU).
 * This module is runtime-neutral: hosts provide the WebGPU entry point (see runners/).
 */
export type { Backend, BackendCapabilities, BackendStats, BufferHandle } from "./backend/backend.ts";
export type { GpuLaunch, Kernel } from "./backend/kernel.ts";
export { ParamLayout } from "./backend/kernel.ts";
export { createCpuBackend, type CpuBackendOptions } from "./backend/cpu/cpu-backend.ts";
export { createWebGPUBackend, type WebGPUBackend, type WebGPUBackendOptions } from "./backend/webgpu/webgpu-backend.ts";
export { detectRuntime, type Runtime } from "./runtime.ts";
export * from "./errors.ts";

export { Tensor, type IntRange } from "./tensor/tensor.ts";
export type { DType, FloatDType } from "./tensor/dtype.ts";
export type { Shape } from "./tensor/shape.ts";
export { backward, isRecording, noGrad, type BackwardOptions } from "./tensor/autograd.ts";
export { keep, tidy } from "./tensor/scope.ts";
export { type CaptureOptions, type CaptureStats, CapturedStep, captureStep } from "./tensor/capture.ts";
export { Generator, manualSeed, nextSeed } from "./tensor/random.ts";
export {
  arange,
  defaultBackend,
  full,
  ones,
  rand,
  randn,
  scalar,
  setDefaultBackend,
  tensor,
  zeros,
  type CreateOptions,
  type NestedNumbers,
  type RandomOptions,
  type TensorOptions,
} from "./tensor/create.ts";

export {
  abs,
  add,
  addScaled,
  compare,
  div,
  exp,
  gelu,
  geluErf,
  log,
  maskedFill,
  mul,
  neg,
  pow,
  relu,
  rsqrt,
  silu,
  sqrt,
  square,
  sub,
  tanh,
  where,
} from "./tensor/ops/elementwise.ts";
export { max, mean, sum, type ReduceOptions } from "./tensor/ops/reduce.ts";
export { concat, contiguous, expand, permute, reshape, slice, squeeze, transpose, unsqueeze } from "./tensor/ops/views.ts";
export { batchedMatmul, matmul } from "./tensor/ops/matmul.ts";
export { logSoftmax, softmax } from "./tensor/ops/softmax.ts";
export { gather } from "./tensor/ops/gather.ts";
export { crossEntropy, type CrossEntropyOptions } from "./tensor/ops/cross-entropy.ts";
export { dropout, dropoutAdd, type DropoutOptions } from "./tensor/ops/dropout.ts";
export { argmax } from "./tensor/ops/reduce.ts";
export { checkpoint } from "./tensor/checkpoint.ts";

// modules and T5
export { Module } from "./nn/module.ts";
export { Dropout, Embedding, Linear, RMSNorm } from "./nn/layers.ts";
export {
  T5ForConditionalGeneration,
  shiftRight,
  labelledBatchTensors,
  type IntMatrix,
  type T5Inputs,
  type T5Outputs,
} from "./models/t5/model.ts";
export { type GenerateOptions, generateGreedy } from "./models/t5/generate.ts";
export { createT5, loadT5, saveT5, t5Skeleton, type LoadT5Options } from "./models/t5/load.ts";
export { createMetaBackend } from "./backend/meta-backend.ts";
export { relativePositionBucket } from "./models/t5/position-bias.ts";

// checkpoint I/O (files come through a FileAccess; webpeft/node and the Deno entry provide the host's)
export type { FileAccess, RandomAccessFile } from "./io/files.ts";
export { FileAccessError, FileNotFoundError } from "./io/files.ts";
export { CheckpointError, SafetensorsError, openCheckpoint, openSafetensors, writeSafetensors, type CheckpointReader, type SafetensorsReader, type TensorToWrite } from "./io/safetensors.ts";
export { ConfigError, parseT5Config, readT5Config, t5ConfigToJson, type T5Config } from "./io/t5-config.ts";
export { TokenizerError, loadTokenizer, type BatchEncoding, type T5Tokenizer } from "./io/tokenizer.ts";
export { DownloadError, resolveModelDir, type HubOptions } from "./io/hub.ts";

// PEFT: layer hooks, plugins, adapters (built-in plugins: webpeft/plugins)
export {
  HOOK_POINT_KINDS,
  runHooked,
  type BlockModule,
  type HookEntry,
  type HookKind,
  type HookPointKind,
  type HookPointModules,
  type Hookable,
  type NormModule,
} from "./nn/hooks.ts";
export {
  formatForPeftType,
  getPlugin,
  parsePluginConfig,
  registerPlugin,
  registerPluginAlias,
  registeredPlugins,
  type AdapterFormat,
  type InjectContext,
  type PeftBaseModel,
  type PeftPlugin,
} from "./peft/plugin.ts";
export {
  hookPoints,
  inScope,
  layersSchema,
  matchTargets,
  regexError,
  stacksSchema,
  targetFields,
  targetsSchema,
  type HookTarget,
  type LegacyTargetKind,
  type Target,
  type TargetFieldSchemas,
  type TargetKind,
  type TargetSpec,
} from "./peft/targets.ts";
export { PeftModel, type AdapterState, type AddAdapterOptions } from "./peft/peft-model.ts";
export { AdapterError, PluginConfigError } from "./peft/errors.ts";
export { ADAPTER_CONFIG, ADAPTER_WEIGHTS, loadAdapter, saveAdapter, type LoadAdapterOptions, type SaveAdapterOptions } from "./peft/adapter-files.ts";
export { AdamW, type AdamWOptions, type AdamWParamState, type AdamWState } from "./optim/adamw.ts";
export { clipGradNorm, readGradNorm } from "./optim/clip.ts";
export { learningRateSchedule, type Schedule, type ScheduleName, type ScheduleOptions } from "./optim/schedule.ts";

// fine-tuning: the loop (an Effect program over services), its Promise API, events and reports
export { trainProgram, UnexpectedTrainError, type TrainResult } from "./train/loop.ts";
export { trainWith, evaluateWith, type TrainRunOptions, type EvaluateOptions, type EvaluateResult } from "./train/api.ts";
export { Compute, Files, TrainEvents, trainServices, type FilesShape, type TrainEventsShape } from "./train/services.ts";
export { parseTrainConfig, trainConfigSchema, warmupSteps, type TrainConfig, type TrainConfigInput } from "./train/config.ts";
export { DeviceLostDuringTrainingError, NonFiniteLossError, TrainCheckpointError, TrainConfigError } from "./train/errors.ts";
export type { CheckpointEvent, EndEvent, EvalEvent, LogEvent, StartEvent, StepEvent, TrainEvent } from "./train/events.ts";
export { evaluateSplit, type SplitEvaluation } from "./train/evaluate.ts";
export { createProgressPrinter, type ProgressMode, type ProgressPrinterOptions } from "./train/progress.ts";
export { renderReport, resultsJson, resultsTable } from "./train/report.ts";
export { WEBPEFT_VERSION } from "./version.ts";
