/**
 * What the training loop needs from its host, as Effect services. Each runner (Node, Deno, a browser
 * worker, a sweep worker) provides them as layers; the loop itself never imports a host API.
 *   - Compute: the backend the run computes on (cpu or a WebGPU device);
 *   - Files: the host's file access (checkpoints, data, adapter files);
 *   - TrainEvents: where progress goes (a progress bar, JSON lines, a page, a sweep's database);
 *   - the clock is Effect's own `Clock` service (tests replace it with a fixed one).
 */
import { Context, Layer } from "effect";
import type { Backend } from "../backend/backend.ts";
import type { FileAccess } from "../io/files.ts";
import type { HubOptions } from "../io/hub.ts";
import type { TrainEvent } from "./events.ts";

/** The backend a run computes on. (Each service is an identifier type and a key of the same name.) */
export interface Compute {
  readonly _service: "webpeft/train/Compute";
}
export const Compute: Context.Service<Compute, Backend> = Context.Service<Compute, Backend>("webpeft/train/Compute");

export interface FilesShape {
  readonly fs: FileAccess;
  /** Where hub models are cached and how they are fetched (hub ids need a cacheDir). */
  readonly hub?: HubOptions;
}
export interface Files {
  readonly _service: "webpeft/train/Files";
}
export const Files: Context.Service<Files, FilesShape> = Context.Service<Files, FilesShape>("webpeft/train/Files");

export interface TrainEventsShape {
  emit(event: TrainEvent): void;
}
export interface TrainEvents {
  readonly _service: "webpeft/train/TrainEvents";
}
export const TrainEvents: Context.Service<TrainEvents, TrainEventsShape> = Context.Service<TrainEvents, TrainEventsShape>("webpeft/train/TrainEvents");

/** The three services from plain values (what the Promise API and the runners use). */
export function trainServices(options: { readonly backend: Backend; readonly fs: FileAccess; readonly hub?: HubOptions; readonly onEvent?: (event: TrainEvent) => void }): Layer.Layer<Compute | Files | TrainEvents> {
  return Layer.mergeAll(
    Layer.succeed(Compute, options.backend),
    Layer.succeed(Files, { fs: options.fs, ...(options.hub ? { hub: options.hub } : {}) }),
    Layer.succeed(TrainEvents, { emit: options.onEvent ?? (() => {}) }),
  );
}
