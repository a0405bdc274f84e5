/**
 * The `webpeft` command on Deno (`deno task webpeft …`, see deno.json for the permissions): the command
 * tree of runners/cli. Deno runs Effect's Node platform layer through its Node compatibility, so files,
 * terminal and signals behave as on Node; WebGPU is Deno's own navigator.gpu (runners/host.ts).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime";
import * as NodeServices from "@effect/platform-node/NodeServices";
import { Effect } from "effect";
import { WEBPEFT_VERSION } from "../../core/version.ts";
import { runWebpeft } from "../cli/commands.ts";

runWebpeft(WEBPEFT_VERSION).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain);
