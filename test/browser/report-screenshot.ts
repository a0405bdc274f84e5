/**
 * report.html in a real browser: Debian's Chromium, driven by playwright-core (no browser download).
 * Opens the page from a file with the network cut off, then checks that
 *   - every chart SVG has a non-zero size and draws something,
 *   - nothing was written to the console as an error and no page error was thrown,
 *   - the page asked for nothing beyond itself (self-contained),
 *   - the layout does not overflow the viewport sideways,
 * and saves a full-page PNG screenshot for a human to look at.
 *
 *   npx tsx test/browser/report-screenshot.ts [out-dir]     (default out-dir: test-output/)
 *
 * Node only (playwright-core). Chromium missing is a FAILURE with the way to install it, never a skip.
 * The lead's tests call `checkReportInChromium(html, …)`.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { renderReport } from "../../core/train/report.ts";
import { syntheticRunEvents } from "./synthetic-run.ts";

export const DEFAULT_CHROMIUM = "/usr/bin/chromium";

const CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export interface ReportBrowserCheckOptions {
  /** Folder for `<name>.html` and `<name>.png` (default "test-output"). */
  readonly outDir?: string;
  /** File name without extension (default "report"). */
  readonly name?: string;
  readonly executablePath?: string;
  readonly viewport?: { readonly width: number; readonly height: number };
  readonly colorScheme?: "light" | "dark";
}

export interface ReportBrowserCheck {
  readonly htmlPath: string;
  readonly screenshotPath: string;
  /** Each chart's accessible name and rendered size in CSS pixels. */
  readonly charts: readonly { readonly label: string; readonly width: number; readonly height: number; readonly shapes: number }[];
  readonly pageHeight: number;
}

/** Fails with the remedy when Debian's Chromium is not installed. */
export function requireChromium(executablePath = DEFAULT_CHROMIUM): string {
  if (!existsSync(executablePath)) {
    throw new Error(
      `report browser check: Chromium not found at ${executablePath}. Install Debian's chromium package ` +
        `(as root: apt-get install -y chromium, or bash scripts/install-system-deps.sh). ` +
        `Playwright's own browser download is not used.`,
    );
  }
  return executablePath;
}

/**
 * Writes the report to `<outDir>/<name>.html`, opens it in Chromium, checks it, and saves `<name>.png`.
 * Throws an Error listing every problem found.
 */
export async function checkReportInChromium(html: string, options: ReportBrowserCheckOptions = {}): Promise<ReportBrowserCheck> {
  const executablePath = requireChromium(options.executablePath);
  const outDir = resolve(options.outDir ?? "test-output");
  const name = options.name ?? "report";
  await mkdir(outDir, { recursive: true });
  const htmlPath = join(outDir, `${name}.html`);
  const screenshotPath = join(outDir, `${name}.png`);
  await writeFile(htmlPath, html);
  const pageUrl = pathToFileURL(htmlPath).href;

  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  const problems: string[] = [];
  try {
    const viewport = options.viewport ?? { width: 1200, height: 900 };
    const context = await browser.newContext({ viewport: { ...viewport }, colorScheme: options.colorScheme ?? "light", deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    // Self-contained means the page itself is the only request; anything else is refused and reported.
    await page.route("**/*", async (route) => {
      const url = route.request().url();
      if (url === pageUrl) return route.continue();
      problems.push(`the report requested ${url}`);
      return route.abort();
    });
    await page.goto(pageUrl, { waitUntil: "load" });

    const measured = await page.evaluate(() => {
      const charts = Array.from(document.querySelectorAll("svg")).map((svg) => {
        const box = svg.getBoundingClientRect();
        return { label: svg.getAttribute("aria-label") ?? "(unnamed)", width: box.width, height: box.height, shapes: svg.querySelectorAll("polyline, circle").length };
      });
      return { charts, scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth, pageHeight: document.documentElement.scrollHeight };
    });
    if (measured.charts.length === 0) problems.push("the report has no SVG chart");
    for (const chart of measured.charts) {
      if (!(chart.width > 0 && chart.height > 0)) problems.push(`chart "${chart.label}" renders at ${chart.width}×${chart.height} px`);
      if (chart.shapes === 0) problems.push(`chart "${chart.label}" draws no line or point`);
    }
    if (measured.scrollWidth > measured.clientWidth + 1) problems.push(`the page overflows sideways: ${measured.scrollWidth}px of content in a ${measured.clientWidth}px viewport`);

    await page.screenshot({ path: screenshotPath, fullPage: true });
    await context.close();
    if (problems.length > 0) throw new Error(`report browser check failed (${htmlPath}):\n  - ${problems.join("\n  - ")}`);
    return { htmlPath, screenshotPath, charts: measured.charts, pageHeight: measured.pageHeight };
  } finally {
    await browser.close();
  }
}

/** The report of a realistic synthetic run, checked in Chromium: light and dark, desktop and phone widths. */
export async function checkSyntheticReport(outDir = "test-output"): Promise<ReportBrowserCheck[]> {
  const html = renderReport(syntheticRunEvents(), {
    generatedAt: "2025-01-01T12:00:00.000Z",
    versions: { webpeft: "0.1.0", node: "v20.19.0", dawn: "webgpu 0.6.2" },
    timings: { "model load": 1900, tokenising: 640 },
  });
  return [
    await checkReportInChromium(html, { outDir, name: "report" }),
    await checkReportInChromium(html, { outDir, name: "report-dark", colorScheme: "dark" }),
    await checkReportInChromium(html, { outDir, name: "report-narrow", viewport: { width: 420, height: 900 } }),
  ];
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  try {
    for (const result of await checkSyntheticReport(process.argv[2] ?? "test-output")) {
      const sizes = result.charts.map((c) => `${Math.round(c.width)}×${Math.round(c.height)}`).join(", ");
      console.log(`ok ${result.screenshotPath} (page ${result.pageHeight}px tall; charts ${sizes})`);
    }
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
