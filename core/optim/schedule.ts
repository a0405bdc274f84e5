/**
 * Learning-rate schedules as Hugging Face's `transformers.optimization` defines them: a multiplier of the
 * peak learning rate as a function of the optimizer step about to be taken (0-based, as LambdaLR sees it).
 *
 *   linear   (get_linear_schedule_with_warmup):   f(s) = s / W              for s < W
 *                                                 f(s) = max(0, (N − s) / max(1, N − W))   otherwise
 *   constant (get_constant_schedule_with_warmup): f(s) = s / W for s < W, then 1
 *
 * W = warm-up steps, N = total optimizer steps. Step 0 therefore runs at lr 0 when W > 0, as in HF.
 */
import { InvalidArgumentError } from "../errors.ts";

export type ScheduleName = "linear" | "constant";

export interface ScheduleOptions {
  /** Peak learning rate. */
  readonly lr: number;
  /** Warm-up steps W (default 0). */
  readonly warmupSteps?: number;
  /** Total optimizer steps N (needed by "linear"). */
  readonly totalSteps: number;
}

/** The learning rate of optimizer step `step` (0-based). */
export type Schedule = (step: number) => number;

export function learningRateSchedule(name: ScheduleName, options: ScheduleOptions): Schedule {
  const { lr, totalSteps } = options;
  const warmup = options.warmupSteps ?? 0;
  if (!(lr >= 0) || !Number.isFinite(lr)) throw InvalidArgumentError.of("learningRateSchedule", "lr", `${lr} is not a finite learning rate ≥ 0`);
  if (!Number.isInteger(warmup) || warmup < 0) throw InvalidArgumentError.of("learningRateSchedule", "warmupSteps", `${warmup} is not an integer ≥ 0`);
  if (!Number.isInteger(totalSteps) || totalSteps < 1) throw InvalidArgumentError.of("learningRateSchedule", "totalSteps", `${totalSteps} is not an integer ≥ 1`);
  const warm = (step: number) => step / Math.max(1, warmup);
  switch (name) {
    case "linear":
      return (step) => lr * (step < warmup ? warm(step) : Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmup)));
    case "constant":
      return (step) => lr * (step < warmup ? warm(step) : 1);
    default:
      name satisfies never;
      throw InvalidArgumentError.of("learningRateSchedule", "name", `unknown schedule ${String(name)}; expected linear or constant`);
  }
}
