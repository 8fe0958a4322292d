// What the browser tests share: Debian's headless Chromium through playwright-core, and pages
// that fail their test on any script error, CSP violation or failed request.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export const BASE = process.env.AUTHD_URL ?? "http://127.0.0.1:18098";
export const SCREENSHOTS = process.env.SCREENSHOTS;
export const DESKTOP = { width: 1024, height: 768 };
export const PHONE = { width: 390, height: 844 };

// Chromium cannot reach the internet here: no background requests, no first-run work.
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
}

/// A fresh browser profile (no cookies) that records, in `page.problems`, any script error,
/// console error (a Content-Security-Policy violation is one), request that failed, and
/// subresource answered 4xx or 5xx; `closePage` fails the test if there is any.
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, ...options });
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (error) => page.problems.push(`script error: ${error.message}`));
  page.on("console", (message) => {
    // A page answered 4xx on purpose (a refused form) is logged too: that is not a problem.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      page.problems.push(`console: ${message.text()}`);
    }
  });
  // But a stylesheet, script, icon or API call that fails to load is.
  page.on("response", (response) => {
    if (response.request().resourceType() !== "document" && response.status() >= 400) {
      page.problems.push(`${response.status()} for ${response.url()}`);
    }
  });
  page.on("requestfailed", (request) => {
    const error = request.failure()?.errorText;
    // Dropped by the browser as the page navigated away (a favicon still loading): not refused.
    if (error !== "net::ERR_ABORTED") page.problems.push(`${error} for ${request.method()} ${request.url()}`);
  });
  return page;
}

export async function closePage(page) {
  assert.deepEqual(page.problems, [], "no script errors, CSP violations or failed requests");
  await page.context().close();
}

/// With SCREENSHOTS set to a folder, the whole page (or its `clip` part) as `name`.png there.
export async function screenshot(page, name, clip = undefined) {
  if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true, clip });
}

/// No WCAG 2.1 A or AA violation that axe-core can detect.
export async function assertAccessible(page) {
  await page.evaluate(axeSource); // through DevTools: the page's CSP does not apply
  const result = await page.evaluate(() =>
    globalThis.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }));
  const violations = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(", ")})`);
  assert.deepEqual(violations, [], `accessibility violations on ${page.url()}`);
}
