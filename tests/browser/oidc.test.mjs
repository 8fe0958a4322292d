// OpenID Connect end to end in a real browser, against a certified relying-party library: a
// server-side relying party built on openid-client (oidc_rp/serve.mjs), configured with nothing
// but authd's issuer and its client id and secret, discovers authd, signs a user in with the
// code flow (PKCE, state, nonce), validates the ID token, reads UserInfo, then signs the user out
// of authd with RP-initiated logout.
// Started by run.sh, which registers the relying party as a confidential client
// (OIDC_RP_CLIENT_ID, OIDC_RP_CLIENT_SECRET) named Journal.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { BASE, assertAccessible, closePage, launchChromium, newPage, screenshot } from "./browser.mjs";
import { serveOidcRelyingParty } from "./oidc_rp/serve.mjs";

const RP_PORT = Number(process.env.OIDC_RP_PORT ?? 18097);
const RP = `http://localhost:${RP_PORT}`;
const CLIENT_ID = process.env.OIDC_RP_CLIENT_ID;

let browser;
let relyingParty;

/// The relying party's page after a navigation: its 500 page fails the test with its error.
async function rpPage(page, heading) {
  const h1 = (await page.locator("h1").first().textContent()).trim();
  if (h1 === "Something went wrong") {
    assert.fail(`the relying party failed at ${page.url()}: ${await page.getByRole("alert").textContent()}`);
  }
  assert.equal(h1, heading, `the page at ${page.url()}`);
}

describe("openid-client signs in and out through authd in headless Chromium", () => {
  before(async () => {
    assert.ok(CLIENT_ID, "run.sh registers the relying party (OIDC_RP_CLIENT_ID)");
    browser = await launchChromium();
    relyingParty = await serveOidcRelyingParty(RP_PORT, {
      issuer: BASE,
      client_id: CLIENT_ID,
      client_secret: process.env.OIDC_RP_CLIENT_SECRET,
    });
  });
  after(async () => {
    await browser?.close();
    relyingParty?.close();
  });

  test("discovery, login, consent, a validated ID token, UserInfo, then logout", async () => {
    const username = `oidc-user-${process.pid}`;
    const email = `${username}@example.com`;
    const password = "correct horse battery staple";
    const page = await newPage(browser);

    // A user with a display name and a phone number, for the profile and phone scopes.
    await page.goto(`${BASE}/ui/register`);
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel(/^Password/).fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Account created" }).waitFor();
    await page.goto(`${BASE}/ui/login`);
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`${BASE}/ui/profile`);
    await page.getByLabel("Display name").fill("Olive Idc");
    await page.getByLabel("Phone").fill("+1 555 0199");
    await page.getByRole("button", { name: "Save profile" }).click();
    await page.getByText("Profile saved.").waitFor();
    await page.getByRole("button", { name: "Log out" }).click();
    await page.goto(`${BASE}/ui/profile`);
    await page.waitForURL(/\/ui\/login/);

    // The relying party sends the browser to authd, which asks for a login first.
    await page.goto(RP);
    await page.getByRole("link", { name: "Log in with authd" }).click();
    await page.waitForURL(`${BASE}/ui/login?**`);
    assert.match(await page.getByRole("status").first().innerText(), /continue to Journal/);
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill(password);
    const loggedInAt = Math.floor(Date.now() / 1000);
    await page.getByRole("button", { name: "Log in" }).click();

    // Then for consent to the OpenID scopes, none of which the client registered but openid,
    // in words, with where the browser goes next.
    await page.getByRole("heading", { name: "Allow Journal to use your account?" }).waitFor();
    const scopes = (await page.locator("ul.scopes li").allTextContents()).map((s) => s.trim());
    assert.deepEqual(scopes.sort(), [
      "Know that it is you when you sign in",
      "See your email address",
      "See your phone number",
      "See your username and display name",
    ]);
    assert.equal(await page.locator("ul.scopes code").count(), 0, "no protocol names");
    assert.match(await page.locator("main").innerText(), new RegExp(`you go to\\s+localhost:${RP_PORT}`));
    assert.equal(await page.getByText("Unverified application").count(), 0, "an operator made it");
    assert.equal(await page.getByRole("link", { name: /API docs|OpenAPI spec|JWKS/ }).count(), 0);
    await assertAccessible(page);
    await screenshot(page, "11-oidc-consent");
    await page.getByRole("button", { name: "Allow" }).click();

    // Back at the relying party, which exchanged the code and validated the ID token (signature
    // against authd's JWKS, iss, aud, exp, nonce, at_hash), then called UserInfo.
    await page.waitForURL(`${RP}/callback?**`);
    await rpPage(page, `Signed in as ${username}`);
    const idToken = JSON.parse(await page.getByLabel("ID token claims").textContent());
    const userinfo = JSON.parse(await page.getByLabel("UserInfo claims").textContent());
    await screenshot(page, "12-oidc-signed-in");

    assert.equal(idToken.iss, BASE);
    assert.deepEqual([idToken.aud].flat(), [CLIENT_ID]);
    assert.ok(idToken.nonce, "the nonce came back (openid-client compared it)");
    assert.ok(idToken.at_hash, "at_hash (openid-client checked it against the access token)");
    assert.ok(idToken.sid, "the session the tokens belong to");
    assert.ok(
      idToken.auth_time >= loggedInAt - 2 && idToken.auth_time <= idToken.iat,
      `auth_time ${idToken.auth_time} is the login just made (at ${loggedInAt}, iat ${idToken.iat})`,
    );

    assert.equal(userinfo.sub, idToken.sub);
    assert.equal(userinfo.preferred_username, username);
    assert.equal(userinfo.email, email);
    assert.equal(userinfo.email_verified, false);
    assert.equal(userinfo.name, "Olive Idc");
    assert.equal(userinfo.phone_number, "+1 555 0199");

    // authd's profile is the same user, signed in by this login.
    await page.goto(`${BASE}/ui/profile`);
    const claims = JSON.parse(await page.getByLabel("Token claims").textContent());
    assert.equal(claims.sub, idToken.sub);

    // Logging out of the relying party goes through authd's end_session endpoint, which, with a
    // current id_token_hint, signs out at once and sends the browser back with the state.
    await page.goto(`${RP}/`);
    await rpPage(page, `Signed in as ${username}`);
    await page.getByRole("link", { name: "Log out" }).click();
    await page.waitForURL(`${RP}/logged-out?**`);
    await rpPage(page, "Signed out of authd");
    assert.match(await page.locator("output").textContent(), /^refused by UserInfo: 401 invalid_token$/);

    // The browser is signed out of authd too.
    await page.goto(`${BASE}/ui/profile`);
    await page.waitForURL(/\/ui\/login/);

    // A logout request without an ID token proves nothing: authd asks the user first.
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`${BASE}/ui/profile`);
    await page.goto(`${BASE}/oauth/end_session?client_id=${encodeURIComponent(CLIENT_ID)}`);
    await page.getByRole("heading", { name: "Sign out of authd?" }).waitFor();
    assert.match(await page.locator("main").innerText(), /Journal asks that you sign out/);
    await screenshot(page, "13-end-session-confirm");
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.waitForURL(/\/ui\/login\?notice=/);
    await page.goto(`${BASE}/ui/profile`);
    await page.waitForURL(/\/ui\/login/);
    await closePage(page);
  });
});
