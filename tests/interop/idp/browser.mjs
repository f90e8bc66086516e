// A person's browser for tests/interop/mcp_idp.py: Debian's Chromium driven by
// Playwright. Opens the authorization URL an MCP client hands over, signs in at the
// company's identity provider, allows the tool on Moat's consent page, and prints
// where Moat finally sends the browser (the tool's loopback redirect), or the text of
// the page where Moat refused.
//
// Usage: node browser.mjs URL LOGIN REDIRECT_PREFIX
// Prints one JSON line: {"redirect": URL} or {"refused": status, "text": ...}.

import { chromium } from "playwright-core";

const [url, login, redirectPrefix] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const result = {};
try {
  const page = await browser.newPage();
  // The tool's loopback redirect has no listener here: note where the browser is
  // sent (Moat's answer to the consent is a redirect, which routes do not see).
  page.on("request", (request) => {
    if (request.url().startsWith(redirectPrefix)) result.redirect = request.url();
  });
  // The provider's page imports a web font; nothing leaves this machine.
  await page.route(/^https:\/\//, (route) => route.abort());
  let response = await page.goto(url, { waitUntil: "domcontentloaded" });
  const steps = [];
  for (let step = 0; step < 8 && !result.redirect; step++) {
    const text = await page.locator("body").innerText();
    if (response && response.status() >= 400) {
      result.refused = response.status();
      result.text = text;
      break;
    }
    const company = page.getByRole("link", { name: "Sign in with your company account" });
    if (await company.count()) {
      steps.push("moat-sign-in");
      [response] = await Promise.all([page.waitForNavigation({ waitUntil: "domcontentloaded" }), company.click()]);
      continue;
    }
    if (await page.locator('input[name="login"]').count()) {
      steps.push("idp-login");
      await page.fill('input[name="login"]', login);
      await page.fill('input[name="password"]', "any password");
      [response] = await Promise.all([
        page.waitForNavigation({ waitUntil: "domcontentloaded" }),
        page.click('button[type="submit"]'),
      ]);
      continue;
    }
    if (await page.getByRole("button", { name: "Continue" }).count()) {
      steps.push("idp-consent");
      [response] = await Promise.all([
        page.waitForNavigation({ waitUntil: "domcontentloaded" }),
        page.getByRole("button", { name: "Continue" }).click(),
      ]);
      continue;
    }
    if (await page.getByRole("button", { name: "Allow" }).count()) {
      steps.push("moat-consent");
      result.consent = text;
      await Promise.all([
        page.waitForEvent("requestfinished").catch(() => {}),
        page.getByRole("button", { name: "Allow" }).click(),
      ]);
      await page.waitForTimeout(200);
      continue;
    }
    result.stuck = text.slice(0, 500);
    break;
  }
  result.steps = steps;
  result.cookies = (await page.context().cookies()).map((c) => ({
    name: c.name, path: c.path, httpOnly: c.httpOnly, sameSite: c.sameSite,
  }));
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
