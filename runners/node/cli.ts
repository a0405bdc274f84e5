#!/usr/bin/env node
/**
 * The `webpeft` command on Node (`npx webpeft …`): the command tree of runners/cli with Node's platform
 * services (files, terminal, signals).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime";
import * as NodeServices from "@effect/platform-node/NodeServices";
import { Effect } from "effect";
import { WEBPEFT_VERSION } from "../../core/version.ts";
import { runWebpeft } from "../cli/commands.ts";

runWebpeft(WEBPEFT_VERSION).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain);
