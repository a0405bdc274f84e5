/** Environment access for tests on Node and Deno (both expose `process.env`; Deno needs --allow-env). */
export function env(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.[name];
}
