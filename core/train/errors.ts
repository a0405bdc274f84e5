/**
 * Errors of the training loop. Each names what went wrong in the user's terms (the step, the option,
 * the file) and what to do next; all carry a `_tag` for `Effect.catchTag`.
 */
import { type TaggedErrorClass, taggedError } from "../errors.ts";

interface TrainConfigErrorFields {
  readonly field: string;
  readonly message: string;
}
const TrainConfigErrorBase: TaggedErrorClass<"TrainConfigError", TrainConfigErrorFields> = taggedError("TrainConfigError");
/** An option of a run that is missing, unknown or out of range (`--lr -1`, `epochs: "3"`, `lr_rate`). */
export class TrainConfigError extends TrainConfigErrorBase {
  static of(field: string, problem: string): TrainConfigError {
    return new TrainConfigError({ field, message: `training option ${field}: ${problem}` });
  }
}

interface NonFiniteLossErrorFields {
  readonly step: number;
  /** What became non-finite: the loss, or (with a finite loss) the gradients' global norm. */
  readonly quantity: "loss" | "gradient norm";
  readonly value: number;
  /** The last checkpoint on disk (intact), or null when none was written yet. */
  readonly checkpoint: { readonly path: string; readonly step: number } | null;
  readonly message: string;
}
const NonFiniteLossErrorBase: TaggedErrorClass<"NonFiniteLossError", NonFiniteLossErrorFields> = taggedError("NonFiniteLossError");
/**
 * The loss (or the gradient norm) became NaN or ±Infinity: the run stops before the update that would
 * spread it into the weights, so every checkpoint on disk holds finite weights.
 */
export class NonFiniteLossError extends NonFiniteLossErrorBase {
  static of(step: number, quantity: "loss" | "gradient norm", value: number, checkpoint: { readonly path: string; readonly step: number } | null): NonFiniteLossError {
    const where = checkpoint
      ? `the last good checkpoint (step ${checkpoint.step}) is intact in ${checkpoint.path}; lower the learning rate and resume with --resume, or start again`
      : "no checkpoint had been written yet; lower the learning rate and start again";
    return new NonFiniteLossError({ step, quantity, value, checkpoint, message: `the training ${quantity} became ${value} at step ${step}; the run stopped before updating the weights. ${where}` });
  }
}

interface TrainCheckpointErrorFields {
  readonly path: string;
  readonly message: string;
}
const TrainCheckpointErrorBase: TaggedErrorClass<"TrainCheckpointError", TrainCheckpointErrorFields> = taggedError("TrainCheckpointError");
/** A training checkpoint that cannot be resumed: missing, damaged, or written by a different run. */
export class TrainCheckpointError extends TrainCheckpointErrorBase {
  static of(path: string, problem: string): TrainCheckpointError {
    return new TrainCheckpointError({ path, message: `${path}: ${problem}` });
  }
}

interface DeviceLostDuringTrainingErrorFields {
  readonly step: number;
  readonly checkpoint: { readonly path: string; readonly step: number } | null;
  readonly message: string;
}
const DeviceLostDuringTrainingErrorBase: TaggedErrorClass<"DeviceLostDuringTrainingError", DeviceLostDuringTrainingErrorFields> = taggedError(
  "DeviceLostDuringTrainingError",
);
/** The GPU went away mid-run (driver reset, sleep, another process): resume from the last checkpoint. */
export class DeviceLostDuringTrainingError extends DeviceLostDuringTrainingErrorBase {
  static of(step: number, detail: string, checkpoint: { readonly path: string; readonly step: number } | null): DeviceLostDuringTrainingError {
    const next = checkpoint
      ? `the checkpoint of step ${checkpoint.step} in ${checkpoint.path} is intact: run the same command again with --resume`
      : "no checkpoint had been written yet: start the run again";
    return new DeviceLostDuringTrainingError({ step, checkpoint, message: `the GPU device was lost at step ${step} (${detail}); ${next}` });
  }
}
