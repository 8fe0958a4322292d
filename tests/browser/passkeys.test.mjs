// Passkeys in a real browser: Chromium's own WebAuthn, with a virtual authenticator attached
// through the DevTools protocol (its `WebAuthn` domain) in place of a phone or security key.
// Started by run.sh against an authd whose public URL is http://localhost: WebAuthn needs a
// domain name for its relying party, and localhost is a secure context.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { BASE, assertAccessible, closePage, launchChromium, newPage, screenshot } from "./browser.mjs";

let browser;
let run = 0;
const unique = (name) => `${name}-${process.pid}-${++run}`;

/// A page with a platform authenticator that holds discoverable credentials and verifies its
/// user (as a laptop's fingerprint reader does), answering without a prompt.
async function pageWithAuthenticator() {
  const page = await newPage(browser);
  const devtools = await page.context().newCDPSession(page);
  await devtools.send("WebAuthn.enable");
  const { authenticatorId } = await devtools.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const credentials = async () =>
    (await devtools.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
  return { page, credentials };
}

async function register(page, username, password) {
  await page.goto(`${BASE}/ui/register`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Email").fill(`${username}@example.com`);
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Account created" }).waitFor();
}

async function logInWithPassword(page, username, password) {
  await page.goto(`${BASE}/ui/login`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in", exact: true }).click();
}

async function logOut(page) {
  await page.goto(`${BASE}/ui/profile`);
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("heading", { name: "Log in" }).waitFor();
}

/// The login page's passkey button: the ceremony page asks the browser at once, and the
/// virtual authenticator answers.
async function logInWithPasskey(page) {
  await page.goto(`${BASE}/ui/login`);
  await page.getByRole("button", { name: "Log in with a passkey" }).click();
}

describe("passkeys in headless Chromium, with a virtual authenticator", () => {
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => browser?.close());

  test("register a passkey, log in with it and no password, then make the account passkey-only", async () => {
    const { page, credentials } = await pageWithAuthenticator();
    const username = unique("passkey");
    const password = "marmalade quartz heron 91";
    await register(page, username, password);
    await logInWithPassword(page, username, password);
    await page.getByRole("heading", { name: "Your profile" }).waitFor();

    await page.getByLabel("Name of the new passkey").fill("laptop");
    await page.getByLabel("Your password, to add it").fill(password);
    await page.getByRole("button", { name: "Add a passkey" }).click();
    await page.getByText("Passkey added").waitFor();
    // Each password field is labelled, beside the action it confirms.
    assert.ok(await page.getByLabel("Your password, to remove laptop").isVisible());
    await assertAccessible(page);
    await screenshot(page, "30-passkeys");
    assert.equal(await page.getByRole("cell", { name: "laptop", exact: true }).count(), 1);
    const held = await credentials();
    assert.equal(held.length, 1, "the authenticator holds one credential");
    assert.ok(held[0].isResidentCredential, "discoverable, so the login needs no username");

    // No username, no password: the passkey names its user.
    await logOut(page);
    await logInWithPasskey(page);
    await page.getByRole("heading", { name: "Your profile" }).waitFor();
    assert.match(await page.locator("dl.facts").textContent(), new RegExp(username));

    // The password now leads to a second step, which the passkey takes.
    await logOut(page);
    await logInWithPassword(page, username, password);
    await page.getByRole("heading", { name: "Two-step verification" }).waitFor();
    await page.getByRole("button", { name: "Use a passkey" }).click();
    await page.getByRole("heading", { name: "Your profile" }).waitFor();

    // Passkey-only: the password is deleted, and refused like any wrong one.
    await page.getByLabel("Your password, one last time").fill(password);
    await page.getByRole("button", { name: "Stop using a password" }).click();
    await page.getByText("only your passkeys open this account").waitFor();
    await logOut(page);
    await logInWithPassword(page, username, password);
    assert.match(await page.getByRole("alert").textContent(), /Wrong username or password/);
    await logInWithPasskey(page);
    await page.getByRole("heading", { name: "Your profile" }).waitFor();
    const twoStep = page.getByRole("region", { name: "Two-step verification" });
    assert.match(await twoStep.innerText(), /no password: each passkey is two steps/);
    assert.doesNotMatch(await twoStep.innerText(), /second step after a password/);
    await closePage(page);
  });

  test("a passkey from another browser is not offered, and a cancelled ceremony can be retried", async () => {
    // A browser whose authenticator holds nothing for this site: the ceremony fails in the
    // browser, the page says so, and nothing is signed in.
    const { page } = await pageWithAuthenticator();
    await logInWithPasskey(page);
    // It says what to do instead of "try again", which would fail the same way.
    await page.getByRole("alert").filter({ hasText: /sign in with your password instead/ }).waitFor();
    assert.ok(await page.getByRole("button", { name: "Use a passkey" }).isEnabled(), "it can be tried again");
    await page.goto(`${BASE}/ui/profile`);
    await page.getByRole("heading", { name: "Log in" }).waitFor();
    // The console error of a refused WebAuthn request is the browser's, not authd's.
    page.problems = page.problems.filter((problem) => !/NotAllowedError|WebAuthn|credential/i.test(problem));
    await closePage(page);
  });

  test("a TV is approved on the phone with a passkey login (RFC 8628 device grant)", async () => {
    const { page } = await pageWithAuthenticator();
    const username = unique("viewer");
    const password = "velvet compass otter 47";
    await register(page, username, password);
    await logInWithPassword(page, username, password);
    await page.getByLabel("Name of the new passkey").fill("phone");
    await page.getByLabel("Your password, to add it").fill(password);
    await page.getByRole("button", { name: "Add a passkey" }).click();
    await page.getByText("Passkey added").waitFor();
    await logOut(page);

    // The TV asks for codes, and shows the person a link (a QR code, in life).
    const form = (fields) => ({
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields),
    });
    const codes = await (
      await fetch(`${BASE}/oauth/device_authorization`, form({ client_id: process.env.DEVICE_CLIENT_ID, scope: "openid" }))
    ).json();
    assert.match(codes.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);

    // The person opens it, signs in with the passkey, and is asked about the TV.
    await page.goto(codes.verification_uri_complete);
    await page.getByRole("heading", { name: "Log in" }).waitFor();
    assert.match(await page.locator("main").innerText(), /Living Room TV/);
    await page.getByRole("button", { name: "Log in with a passkey" }).click();
    await page.getByRole("heading", { name: "Allow Living Room TV on your device?" }).waitFor();
    assert.match(await page.locator("main").innerText(), new RegExp(codes.user_code));
    await assertAccessible(page);
    await screenshot(page, "device-confirm");
    await page.getByRole("button", { name: "Allow" }).click();
    await page.getByRole("heading", { name: "Device connected" }).waitFor();

    // The TV, polling at its interval, gets its tokens; the ID token says how the person
    // signed in.
    let tokens;
    for (let attempt = 0; attempt < 5 && !tokens?.access_token; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, codes.interval * 1000 + 200));
      tokens = await (
        await fetch(
          `${BASE}/oauth/token`,
          form({
            grant_type: "urn:ietf:params:oauth:grant-type:device_code",
            device_code: codes.device_code,
            client_id: process.env.DEVICE_CLIENT_ID,
          }),
        )
      ).json();
    }
    assert.ok(tokens.access_token, JSON.stringify(tokens));
    const claims = JSON.parse(Buffer.from(tokens.id_token.split(".")[1], "base64url"));
    assert.ok(!claims.amr.includes("pwd"), `a passkey login: ${claims.amr}`);
    await closePage(page);
  });
});
