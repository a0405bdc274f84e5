/** Moved to core/io/memory-files.ts (the plugin conformance kit uses it too). */
export { memoryFiles } from "../../core/io/memory-files.ts";
