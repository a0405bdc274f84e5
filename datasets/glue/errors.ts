/**
 * Typed errors of the GLUE data layer. Each is an `Error` with a `_tag` (Effect's `catchTag` works), and its
 * message says which file, which line (1-based, counting the header and the BOM line like an editor does)
 * and what was expected there.
 */
import { type TaggedErrorClass, taggedError } from "../../core/errors.ts";

/** A row that cannot be read: wrong column count, unparsable label, invalid UTF-8, a bad JSON line… */
interface GlueFormatErrorFields {
  readonly file: string;
  /** 1-based line number in the file (for parquet: 1-based row number). */
  readonly line: number;
  readonly reason: string;
  readonly message: string;
}
const GlueFormatErrorBase: TaggedErrorClass<"GlueFormatError", GlueFormatErrorFields> = taggedError("GlueFormatError");
export class GlueFormatError extends GlueFormatErrorBase {
  static of(file: string, line: number, reason: string): GlueFormatError {
    return new GlueFormatError({ file, line, reason, message: `${file}:${line}: ${reason}` });
  }
}

/** A split or file that is not there; `expected` lists every path that was tried. */
interface GlueMissingFileErrorFields {
  readonly task: string;
  readonly split: string;
  readonly expected: readonly string[];
  readonly message: string;
}
const GlueMissingFileErrorBase: TaggedErrorClass<"GlueMissingFileError", GlueMissingFileErrorFields> =
  taggedError("GlueMissingFileError");
export class GlueMissingFileError extends GlueMissingFileErrorBase {
  static of(task: string, split: string, expected: readonly string[], hint = ""): GlueMissingFileError {
    const list = expected.map((p) => `  ${p}`).join("\n");
    return new GlueMissingFileError({
      task,
      split,
      expected,
      message: `GLUE ${task} split "${split}": none of the expected files exists:\n${list}${hint ? `\n${hint}` : ""}`,
    });
  }
}

/** A request the data layer cannot serve: an unknown task or split, bad batching options, mismatched lengths. */
interface GlueUsageErrorFields {
  readonly message: string;
}
const GlueUsageErrorBase: TaggedErrorClass<"GlueUsageError", GlueUsageErrorFields> = taggedError("GlueUsageError");
export class GlueUsageError extends GlueUsageErrorBase {
  static of(message: string): GlueUsageError {
    return new GlueUsageError({ message });
  }
}
