// A person at the console for tests/interop/console.py: Debian's Chromium driven by
// Playwright, with JavaScript off (the console must read without it; it has none).
// Signs in through the company's identity provider, then follows the steps given,
// recording what each page answered; afterwards axe-core checks every page visited in
// a second browser context (JavaScript on, same cookies) for accessibility.
//
// Usage: node console.mjs BASE_URL LOGIN SCREENSHOT_DIR STEPS_JSON
// Steps: {"visit": "/console/people", "name": "people"}, {"reclassify": "repo", "tier": "t"},
// {"suspend": "email"}, {"goto": "http://elsewhere/page", "press": "button text"}.
// Prints one JSON line: {"signed_in": bool, "cookies": [...], "steps": [...], "axe": {...}}.

import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const [base, login, shots, stepsJson] = process.argv.slice(2);
const steps = JSON.parse(stepsJson);
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const result = { steps: [] };

async function record(page, response, name) {
  const entry = {
    name,
    url: page.url(),
    status: response ? response.status() : null,
    title: await page.title(),
    h1: (await page.locator("h1").allInnerTexts())[0] || "",
    text: (await page.locator("body").innerText()).slice(0, 4000),
    nav: await page.locator("header nav a").allInnerTexts(),
  };
  if (name) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  return entry;
}

try {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  // The provider's page imports a web font; nothing leaves this machine.
  await page.route(/^https:\/\//, (route) => route.abort());

  // Sign in at the company's identity provider.
  await page.goto(`${base}/console/sign-in`, { waitUntil: "domcontentloaded" });
  await page.screenshot({ path: `${shots}/sign-in.png`, fullPage: true });
  await Promise.all([
    page.waitForNavigation({ waitUntil: "domcontentloaded" }),
    page.getByRole("link", { name: "Sign in with your company account" }).click(),
  ]);
  for (let i = 0; i < 4; i++) {
    if (await page.locator('input[name="login"]').count()) {
      await page.fill('input[name="login"]', login);
      await page.fill('input[name="password"]', "any password");
      await Promise.all([page.waitForNavigation({ waitUntil: "domcontentloaded" }), page.click('button[type="submit"]')]);
    } else if (await page.getByRole("button", { name: "Continue" }).count()) {
      await Promise.all([
        page.waitForNavigation({ waitUntil: "domcontentloaded" }),
        page.getByRole("button", { name: "Continue" }).click(),
      ]);
    } else {
      break;
    }
  }
  // Back at Moat: "Signed in" moves on to the console by itself (a meta refresh, no
  // script); its link does the same.
  if (!page.url().startsWith(`${base}/console`) || (await page.title()).startsWith("Signed in")) {
    await page.waitForURL(`${base}/console`, { timeout: 5000 }).catch(() => {});
  }
  result.after_sign_in = await record(page, null, "");
  result.signed_in = result.after_sign_in.text.includes("Sign out");
  result.cookies = (await context.cookies()).map((c) => ({
    name: c.name, path: c.path, httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite,
  }));

  const visited = [];
  for (const step of steps) {
    if (step.visit) {
      const response = await page.goto(`${base}${step.visit}`, { waitUntil: "domcontentloaded" });
      result.steps.push(await record(page, response, step.name));
      visited.push(step);
    } else if (step.reclassify) {
      await page.goto(`${base}/console/repos`, { waitUntil: "domcontentloaded" });
      await page.getByLabel(`Tier of ${step.reclassify}`).selectOption(step.tier);
      const [response] = await Promise.all([
        page.waitForNavigation({ waitUntil: "domcontentloaded" }),
        page.locator("tr", { hasText: step.reclassify }).getByRole("button", { name: "Reclassify" }).click(),
      ]);
      result.steps.push(await record(page, response, step.name));
    } else if (step.suspend) {
      await page.goto(`${base}/console/people?q=${encodeURIComponent(step.suspend)}`, { waitUntil: "domcontentloaded" });
      const [response] = await Promise.all([
        page.waitForNavigation({ waitUntil: "domcontentloaded" }),
        page.getByRole("button", { name: `Suspend ${step.suspend}` }).click(),
      ]);
      result.steps.push(await record(page, response, step.name));
    } else if (step.goto) {
      // Another site's page with a form aimed at the console (a CSRF attempt).
      await page.goto(step.goto, { waitUntil: "domcontentloaded" });
      const [response] = await Promise.all([
        page.waitForNavigation({ waitUntil: "domcontentloaded" }),
        page.getByRole("button", { name: step.press }).click(),
      ]);
      result.steps.push(await record(page, response, step.name));
    }
  }

  // Accessibility: every page visited, with JavaScript on for axe only. axe runs
  // through the DevTools protocol, which the page's CSP does not govern.
  const checking = await browser.newContext({ storageState: await context.storageState() });
  const checker = await checking.newPage();
  result.axe = {};
  for (const step of visited) {
    await checker.goto(`${base}${step.visit}`, { waitUntil: "load" });
    await checker.evaluate(axeSource);
    const found = await checker.evaluate(async () => {
      const run = await globalThis.axe.run(document, { resultTypes: ["violations"] });
      return run.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
    });
    result.axe[step.name] = found;
  }
} catch (error) {
  result.error = String(error && error.stack || error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
