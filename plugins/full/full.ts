/**
 * Full fine-tuning: the baseline every PEFT method is compared with (Raffel et al. 2020 fine-tune all of
 * T5). No hooks and no new parameters: every base parameter is trained through ctx.trainBase, so the
 * PeftModel machinery (freezing, optimizer parameter list, adapter files) treats it like any other plugin.
 * Its adapter file holds the trained base weights under their HF names (`base_model.model.<path>`, each
 * tied tensor once, under its first path, e.g. `shared.weight` for T5 v1.0's shared/embed_tokens/lm_head).
 *
 * `freezeEmbeddings` (default false) keeps the token embedding `shared.weight` frozen — and with it
 * `encoder.embed_tokens` / `decoder.embed_tokens`, and `lm_head` when tied to it (T5 v1.0), since those are
 * the same tensor. An untied lm_head (v1.1/FLAN) and the relative position biases are still trained.
 * "Disabled" means the base model with the weights as they are now: the training has changed the base.
 *
 * Parameters: Σ over distinct base parameters their sizes (minus shared.weight with freezeEmbeddings).
 */
import * as v from "valibot";
import type { InjectContext, PeftBaseModel, PeftPlugin } from "../../core/peft/plugin.ts";
import { hookPoints } from "../../core/peft/targets.ts";
import type { Tensor } from "../../core/tensor/tensor.ts";

export interface FullConfig {
  /** keep the token embedding (and what is tied to it) frozen */
  readonly freezeEmbeddings: boolean;
}

const schema: v.GenericSchema<unknown, FullConfig> = v.object({
  /** keep the token embedding (and what is tied to it) frozen */
  freezeEmbeddings: v.optional(v.boolean(), false),
});

/** The distinct base parameters full fine-tuning trains. */
function trained(model: PeftBaseModel, config: FullConfig): Tensor[] {
  // the token embedding: T5's `shared` and the stacks' embed_tokens (one tied tensor), not the position biases
  const tokenEmbeddings = hookPoints(model, "embedding").filter(({ path }) => path === "shared" || path.endsWith("embed_tokens"));
  const frozen = new Set(config.freezeEmbeddings ? tokenEmbeddings.map(({ module }) => module.weight) : []);
  return model.uniqueParameters().flatMap(([, t]) => (frozen.has(t) ? [] : [t]));
}

export const full: PeftPlugin<FullConfig> = {
  name: "full",
  description: "full fine-tuning: every base parameter is trained (optionally not the token embedding)",
  schema,
  parameterFormula: "Σ over distinct base parameters their sizes (− shared.weight with freezeEmbeddings)",
  inject(ctx: InjectContext<FullConfig>) {
    for (const t of trained(ctx.model, ctx.config)) ctx.trainBase(t);
  },
  countParameters(model, config) {
    return trained(model, config).reduce((acc, t) => acc + t.size, 0);
  },
};
