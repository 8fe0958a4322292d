// "Log in with …" in a real browser: the authd on localhost brokers the first authd of run.sh
// (on 127.0.0.1, another site) as its upstream OpenID Connect provider `corp`. The person
// clicks the button, logs in and consents at the upstream's own pages, and comes back signed
// in; the pages on the way are checked with axe.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { BASE, assertAccessible, closePage, launchChromium, newPage, screenshot } from "./browser.mjs";

const UPSTREAM_URL = process.env.UPSTREAM_URL;
let browser;

describe("logging in through an upstream identity provider", () => {
  before(async () => {
    assert.ok(UPSTREAM_URL, "run.sh sets UPSTREAM_URL");
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  test("a person signs in through another authd and sees the link on their profile", async () => {
    const username = `fed-${process.pid}`;
    const registered = await fetch(`${UPSTREAM_URL}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, email: `${username}@corp.example` }),
    });
    assert.equal(registered.status, 201);
    const { password } = await registered.json();

    const page = await newPage(browser);
    try {
      await page.goto(`${BASE}/ui/login`);
      await assertAccessible(page);
      await screenshot(page, "login-with-upstream");
      await page.getByRole("link", { name: "Log in with Corp" }).click();

      // The upstream's own login and consent pages.
      await page.waitForURL((url) => url.href.startsWith(`${UPSTREAM_URL}/ui/login`));
      await page.getByLabel("Username").fill(username);
      await page.getByLabel("Password").fill(password);
      await page.getByRole("button", { name: "Log in", exact: true }).click();
      await page.getByRole("button", { name: "Allow" }).click();

      // Back, signed in as the user the first login created.
      await page.waitForURL(`${BASE}/ui/profile`);
      const main = await page.locator("main").innerText();
      assert.match(main, new RegExp(username));
      assert.match(main, /Sign-in providers/);
      assert.match(main, new RegExp(`Corp: linked as ${username}`));
      await assertAccessible(page);
    } finally {
      await closePage(page);
    }
  });
});
