/**
 * A local page in Debian's headless Chromium (playwright-core), offline: a
 * fresh profile, every request other than the file itself blocked and
 * recorded, console errors and page errors collected, a full-page screenshot.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export interface Opened {
  consoleErrors: string[];
  /** Every request the page made or tried, other than the file itself. */
  offPage: string[];
  /** What `read` (an expression evaluated in the page) returned. */
  value: unknown;
}

/** Opens `file` in a fresh browser profile, with every other request blocked and recorded. */
export async function openOffline(file: string, screenshot: string, read: string): Promise<Opened> {
  const profile = mkdtempSync(join(tmpdir(), "report-html-chromium-"));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1400, height: 400 },
    });
    const url = pathToFileURL(file).href;
    const offPage = new Set<string>();
    const consoleErrors: string[] = [];
    await context.route("**/*", (route) => {
      if (route.request().url() === url) return route.continue();
      offPage.add(route.request().url());
      return route.abort("blockedbyclient");
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("request", (r) => {
      if (r.url() !== url) offPage.add(r.url());
    });
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => consoleErrors.push(e.message));
    await page.goto(url, { waitUntil: "load" });
    const value: unknown = await page.evaluate(read);
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    return { consoleErrors, offPage: [...offPage], value };
  } finally {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
