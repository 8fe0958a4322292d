// "Log in with authd" in a real browser: a single-page relying party on another site
// (localhost, while authd is 127.0.0.1) signs a user in with the code flow and PKCE through
// oauth4webapi; the user logs in and consents on authd's pages, lands back signed in, then
// revokes the application on /ui/profile, which ends the application's token.
// Started by run.sh, which registers the relying party as a public client (RP_CLIENT_ID).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { BASE, closePage, launchChromium, newPage, screenshot } from "./browser.mjs";
import { serveRelyingParty } from "./relying_party/serve.mjs";

const RP_PORT = Number(process.env.RP_PORT ?? 18099);
const RP = `http://localhost:${RP_PORT}`;

let browser;
let relyingParty;

describe("Log in with authd, from a relying party in headless Chromium", () => {
  before(async () => {
    browser = await launchChromium();
    relyingParty = await serveRelyingParty(RP_PORT, {
      issuer: BASE,
      client_id: process.env.RP_CLIENT_ID,
      scope: "notes:read",
    });
  });
  after(async () => {
    await browser?.close();
    relyingParty?.close();
  });

  test("a user logs in through authd, consents, lands back signed in, then revokes the app", async () => {
    const username = `rp-user-${process.pid}`;
    const password = "correct horse battery staple";
    const page = await newPage(browser);
    await page.goto(`${BASE}/ui/register`);
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Email").fill(`${username}@example.com`);
    await page.getByLabel(/^Password/).fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Account created" }).waitFor();

    // The application sends the browser to authd, which asks for a login first.
    await page.goto(RP);
    await page.getByRole("button", { name: "Log in with authd" }).click();
    await page.waitForURL(`${BASE}/ui/login?**`);
    assert.match(await page.getByRole("status").first().innerText(), /continue to Notes/);
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();

    // Then for consent, naming the application and the scope.
    await page.getByRole("heading", { name: "Allow Notes to use your account?" }).waitFor();
    assert.ok(await page.getByText("notes:read").isVisible());
    await screenshot(page, "10-consent");
    await page.getByRole("button", { name: "Allow" }).click();

    // Back at the application, signed in with a token it got for the code.
    await page.waitForURL(`${RP}/`);
    await page.getByText(`Signed in as ${username}`).waitFor();

    // The application is listed on the profile; revoking it ends its token.
    await page.goto(`${BASE}/ui/profile`);
    const applications = page.getByRole("region", { name: "Connected applications" });
    assert.ok(await applications.getByRole("cell", { name: "Notes", exact: true }).isVisible());
    await page.getByRole("button", { name: "Revoke Notes" }).click();
    await page.getByText(/Application revoked/).waitFor();
    assert.equal(await page.getByRole("cell", { name: "Notes", exact: true }).count(), 0);
    assert.ok(await page.getByText("you have not allowed any").isVisible());

    await page.goto(RP);
    await page.getByRole("button", { name: "Check my token" }).click();
    await page.getByText("Token refused (401)").waitFor();
    // That refusal is what the test expects, not a problem of the page.
    page.problems = page.problems.filter((problem) => !problem.startsWith(`401 for ${BASE}/me`));
    await closePage(page);
  });
});
