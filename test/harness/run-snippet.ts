/**
 * Runs a documentation code block as a module and returns what it printed: the source is written to a
 * fresh temporary `.mts` file (an ES module wherever it lies), `"out/…"` paths in it point into that
 * folder, and console.log is captured while it runs. Used by the README and plugin-guide suites.
 */
export async function runSnippet(source: string, label: string): Promise<unknown[][]> {
  const { writeFile, mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), `webpeft-${label}-`));
  const file = join(dir, "example.mts");
  await writeFile(file, source.replaceAll(`"out/`, JSON.stringify(`${dir}/out/`).slice(0, -1)));
  const printed: unknown[][] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void printed.push(args);
  try {
    await import(file);
  } finally {
    console.log = log;
    await rm(dir, { recursive: true });
  }
  return printed;
}
