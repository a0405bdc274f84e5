/**
 * The shared real-data folder (GLUE files, the T5 tokenizer, a tiny T5 checkpoint; see
 * ../shared/data/README.md). Tests read it in place and never copy it into the repository.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { env } from "./env.ts";

export const SHARED_DATA_VARIABLE = "WEBPEFT_SHARED_DATA";

/** WEBPEFT_SHARED_DATA, or the absolute path of ../shared/data next to the repository root. */
export function sharedDataDir(): string {
  const fromEnv = env(SHARED_DATA_VARIABLE);
  const dir = fromEnv && fromEnv.length > 0 ? fromEnv : fileURLToPath(new URL("../../../shared/data", import.meta.url));
  if (!existsSync(dir)) {
    throw new Error(
      `shared test data not found at ${dir}` +
        (fromEnv ? ` (from ${SHARED_DATA_VARIABLE})` : ` (../shared/data from the repository root)`) +
        `: set ${SHARED_DATA_VARIABLE} to the folder that holds glue/, t5-tokenizer/ and tiny-random-t5/`,
    );
  }
  return dir;
}
