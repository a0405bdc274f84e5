/**
 * "Did you mean …?" for misspelt or foreign option names. Known aliases (Hugging Face's names for our
 * options) win; otherwise the closest name by edit distance, when it is close enough to be a typo.
 */

/** Levenshtein distance (insert, delete, substitute: cost 1 each), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[t.length]!;
}

/** Names our users bring from Hugging Face (PEFT configs, Trainer arguments) → ours. */
const HF_ALIASES: Readonly<Record<string, readonly string[]>> = {
  target_modules: ["targets"],
  lora_alpha: ["alpha"],
  lora_dropout: ["dropout"],
  layers_to_transform: ["layers"],
  r: ["rank", "r"],
  rank: ["r", "rank"],
  use_rslora: ["useRslora"],
  learning_rate: ["lr"],
  num_train_epochs: ["epochs"],
  max_steps: ["maxSteps"],
  per_device_train_batch_size: ["batchSize"],
  per_device_eval_batch_size: ["evalBatchSize"],
  warmup_steps: ["warmup"],
  warmup_ratio: ["warmup"],
  weight_decay: ["weightDecay"],
  max_grad_norm: ["maxGradNorm"],
  gradient_accumulation_steps: ["gradientAccumulation"],
  lr_scheduler_type: ["schedule"],
  eval_steps: ["evalEvery"],
  save_steps: ["checkpointEvery"],
  output_dir: ["out"],
  model_name_or_path: ["model"],
  task_name: ["task"],
};

/** The known name the user probably meant by `given`, or undefined. */
export function suggestName(given: string, known: readonly string[]): string | undefined {
  for (const alias of HF_ALIASES[given] ?? []) if (known.includes(alias)) return alias;
  const normalised = given.replace(/[-_]/g, "").toLowerCase();
  const exact = known.find((k) => k.replace(/[-_]/g, "").toLowerCase() === normalised);
  if (exact) return exact;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(given, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(Math.max(given.length, best.length) / 3)) ? best : undefined;
}

/** "unknown option "lora_alpha"; did you mean "alpha"? (known: …)" */
export function unknownNameMessage(given: string, known: readonly string[], what = "option"): string {
  const hint = suggestName(given, known);
  return `unknown ${what} "${given}"${hint ? `; did you mean "${hint}"?` : ""} (known: ${known.join(", ")})`;
}
