/** Flags shared by several `webpeft` subcommands. */
import { Flag } from "effect/cli";

export const backendFlag = Flag.Literals("backend", ["webgpu", "cpu"]).pipe(
  Flag.withDescription("Compute backend: webgpu (default) or cpu (no GPU needed)"),
  Flag.withDefault("webgpu"),
);

export const jsonFlag = Flag.Boolean("json").pipe(Flag.withDescription("Print JSON (one object, or one event per line while training) instead of text"), Flag.withDefault(false));
