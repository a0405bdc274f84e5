/**
 * The README's ```ts blocks as programs: found in the Markdown, their module specifiers and data paths
 * pointed wherever the caller runs them. Shared by the in-repo README suite (test/unit/readme.test.ts,
 * imports → sources) and the tarball test (test/pack/readme-from-tarball.ts, imports → the installed
 * npm package on Node, the documented `@webpeft/webpeft` line on Deno).
 *
 * A block opts out of being run only with a marker on the line(s) just before its fence:
 *
 *   <!-- not-run: needs a 1 GB download -->
 *   ```ts
 *
 * and the tarball test prints every such reason.
 */

export interface ReadmeBlock {
  /** The nearest heading above the block, without its #s. */
  readonly heading: string;
  /** 1-based: the block's position among the ```ts blocks under the same heading. */
  readonly indexInSection: number;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly code: string;
  /** The reason of a `<!-- not-run: … -->` marker, when the block carries one. */
  readonly notRun?: string;
}

const FENCE = /^(\s*)(```+|~~~+)\s*([\w-]*)/;
const NOT_RUN = /^<!--\s*not-run:\s*([\s\S]*?)\s*-->$/;

/** Every ```ts / ```typescript block of `markdown`, in order, with its heading and opt-out marker. */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split("\n");
  const blocks: ReadmeBlock[] = [];
  const perHeading = new Map<string, number>();
  let heading = "(top)";
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) {
      const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(lines[i]!);
      if (h) heading = h[1]!;
      continue;
    }
    // A fenced block of any language: skip to its closing fence (headings inside it are code).
    const fence = open[2]!;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.trimStart().startsWith(fence); i++) body.push(lines[i]!);
    const lang = open[3]!.toLowerCase();
    if (lang !== "ts" && lang !== "typescript") continue;
    // The marker: the last non-blank line before the fence.
    let j = start - 1;
    while (j >= 0 && lines[j]!.trim() === "") j--;
    const marker = j >= 0 ? NOT_RUN.exec(lines[j]!.trim()) : null;
    const indexInSection = (perHeading.get(heading) ?? 0) + 1;
    perHeading.set(heading, indexInSection);
    blocks.push({ heading, indexInSection, line: start + 1, code: body.join("\n") + "\n", ...(marker ? { notRun: marker[1]! } : {}) });
  }
  return blocks;
}

/** `"heading"` or `"heading #2"` for the second block under the same heading. */
export function blockLabel(block: ReadmeBlock): string {
  return block.indexInSection === 1 ? block.heading : `${block.heading} #${block.indexInSection}`;
}

/** Every module specifier a block imports (static `import … from "x"`, `import "x"`, `import("x")`). */
export function importedSpecifiers(code: string): string[] {
  return [...code.matchAll(SPECIFIER)].map((m) => m[3]!);
}

const SPECIFIER = /(\bfrom\s+|\bimport\s+|\bimport\s*\(\s*)(["'])([^"'\n]+)\2/g;

/**
 * Replaces whole module specifiers: `map(specifier)` returns the new one, or undefined to keep it.
 * Only the specifier string of an import changes, so a block's line numbers stay the same in errors.
 */
export function rewriteImports(code: string, map: (specifier: string) => string | undefined): string {
  return code.replace(SPECIFIER, (all, lead: string, quote: string, spec: string) => {
    const to = map(spec);
    return to === undefined ? all : `${lead}${quote}${to}${quote}`;
  });
}

/** Paths the README's examples use that exist only beside or inside a checkout, not in the package. */
export interface DataPaths {
  /** Absolute folder that replaces `../shared/data` (the shared real data). */
  readonly sharedData: string;
  /** Absolute folder that replaces `test/goldens` (not shipped in the npm package). */
  readonly goldens: string;
}

/**
 * Points the string literals that start with `../shared/data/` or `test/goldens/` at real folders and
 * says which kinds of path the block used (a block needing `test/goldens/` reads unshipped files).
 */
export function rewriteDataPaths(code: string, paths: DataPaths): { code: string; unshipped: string[] } {
  const unshipped: string[] = [];
  const out = code.replace(/(["'`])(\.\.\/shared\/data|test\/goldens)\//g, (_all, quote: string, prefix: string) => {
    if (prefix === "test/goldens" && !unshipped.includes(prefix)) unshipped.push(prefix);
    const folder = prefix === "test/goldens" ? paths.goldens : paths.sharedData;
    return `${quote}${JSON.stringify(folder).slice(1, -1)}/`; // escaped for any quote style
  });
  return { code: out, unshipped };
}

/**
 * The README's own rule for Deno (and browsers) in its first example: "drop the `nodeGPU` import and
 * option, `navigator.gpu` is the default". Applied only to blocks that use nodeGPU.
 */
export function dropNodeGPU(code: string): string {
  if (!code.includes("nodeGPU")) return code;
  return code
    .replace(/^import\s*\{\s*nodeGPU\s*\}\s*from\s*["'][^"']+["'];?[^\n]*\n/m, "")
    .replace(/import\s*\{([^}]*)\}/g, (all, names: string) =>
      names.includes("nodeGPU") ? `import {${names.split(",").filter((n) => n.trim() !== "nodeGPU").join(",")}}` : all,
    )
    .replace(/\{\s*gpu:\s*nodeGPU\(\)\s*\}/g, "{}")
    .replace(/,?\s*gpu:\s*nodeGPU\(\)/g, "");
}

/**
 * Maps the Node package's specifiers to the documented Deno ones: `webpeft` → `@webpeft/webpeft`,
 * `webpeft/node` → `@webpeft/webpeft/deno`, `webpeft/x` → `@webpeft/webpeft/x`.
 */
export function denoSpecifier(spec: string): string | undefined {
  if (spec === "webpeft") return "@webpeft/webpeft";
  if (spec === "webpeft/node") return "@webpeft/webpeft/deno";
  if (spec.startsWith("webpeft/")) return `@webpeft/webpeft/${spec.slice("webpeft/".length)}`;
  return undefined;
}
