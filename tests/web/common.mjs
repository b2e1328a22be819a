// Shared by the browser scenarios: argument parsing, launching Debian's Chromium through
// playwright-core (from web/node_modules: never a downloaded browser), and page helpers.

import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const webDir = resolve(here, "../../web");
const { chromium } = createRequire(join(webDir, "package.json"))("playwright-core");

export const T = 15_000; // generous per-step timeout: two cores shared with the server

export function options() {
  const args = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) args[argv[i].slice(2)] = argv[i + 1];
  }
  const out = args.out ?? join(here, "screenshots");
  mkdirSync(out, { recursive: true });
  return { base: args.base, out, chromium: args.chromium ?? "/usr/bin/chromium" };
}

/** Headless Chromium with the flags this machine needs (no background network). */
export function launch(executablePath, extra = []) {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extra,
    ],
  });
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** Page errors, console errors and CSP violations are failures of the scenario. */
export function watch(page, who, problems) {
  page.on("pageerror", (error) => problems.push(`${who}: page error: ${error.message}`));
  page.on("console", (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`${who}: CSP: ${text}`);
    else if (
      message.type() === "error" &&
      !/Failed to load resource|ERR_INTERNET_DISCONNECTED|WebSocket/i.test(text)
    ) {
      problems.push(`${who}: console error: ${text}`);
    }
  });
}

export async function shot(page, out, name) {
  await page.waitForTimeout(150); // let the last frame paint
  await page.screenshot({ path: join(out, `${name}.png`) });
}

/** A REST call from inside the page, with the page's own session token. */
export async function rest(page, method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const auth = JSON.parse(localStorage.getItem("spectrus.auth") ?? "null");
      const headers = { "Content-Type": "application/json" };
      if (auth) headers.Authorization = auth.token;
      const response = await fetch(`/api/v10${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return response.status === 204 ? null : response.json();
    },
    { method, path, body },
  );
}

/** Register through the API and sign the page in with the answer (fast set-up). */
export async function registerByApi(page, base, username, password) {
  await page.goto(base + "/login");
  const pair = await rest(page, "POST", "/auth/register", { username, password });
  check(pair.token, `registered ${username}: ${JSON.stringify(pair)}`);
  await page.evaluate((pair) => localStorage.setItem("spectrus.auth", JSON.stringify(pair)), pair);
  return pair;
}

export async function screenshotFailures(browser, out) {
  for (const [i, context] of browser.contexts().entries()) {
    for (const [j, page] of context.pages().entries()) {
      await page.screenshot({ path: join(out, `failure-${i}-${j}.png`) }).catch(() => {});
    }
  }
}

/** Run a scenario's steps in `browser`. When they pass and no page reported a problem,
 * print its figures as JSON; when not, screenshot every open page, print the error and
 * set a failing exit code. The browser is closed (and `cleanup` run) either way. */
export async function runScenario({ browser, out, problems, figures, cleanup }, steps) {
  try {
    await steps();
    check(problems.length === 0, `no page errors or CSP violations:\n${problems.join("\n")}`);
    console.log(JSON.stringify({ ok: true, figures }));
  } catch (error) {
    await screenshotFailures(browser, out);
    console.error(String(error?.stack ?? error));
    if (problems.length) console.error(problems.join("\n"));
    process.exitCode = 1;
  } finally {
    await browser.close();
    cleanup?.();
  }
}
