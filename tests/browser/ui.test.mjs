// authd's web UI in a real browser: Debian's headless Chromium, driven by playwright-core.
// Started by run.sh, which serves authd at AUTHD_URL on a database and Redis prefix of its own.
// With SCREENSHOTS set to a folder, each page is also photographed there (screenshots.sh).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  BASE, PHONE, assertAccessible, closePage, launchChromium, newPage as newBrowserPage, screenshot,
} from "./browser.mjs";

let browser;
let run = 0;
const unique = (name) => `${name}-${process.pid}-${++run}`;

/// A fresh browser profile (see browser.mjs): any CSP violation fails the test, as the UI must
/// need nothing inline.
const newPage = (options = {}) => newBrowserPage(browser, options);


async function register(page, username, password = "") {
  await page.goto(`${BASE}/ui/register`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Email").fill(`${username}@example.com`);
  if (password) await page.getByLabel(/^Password/).fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Account created" }).waitFor();
}

async function logIn(page, username, password) {
  await page.goto(`${BASE}/ui/login`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

/// The RFC 6238 code an authenticator app with the base32 `secret` shows, `steps` 30-second
/// steps from now: what the test types, computed as any app computes it.
function totp(secret, steps = 0) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const char of secret.replace(/=+$/, "")) bits += alphabet.indexOf(char).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + steps));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, "0");
}

/// The first mail to `address` with `subject` the test SMTP server received (run.sh's MAIL_LOG),
/// waiting up to ten seconds for it: authd sends from its outbox, off the request.
async function mailTo(address, subject) {
  for (let i = 0; i < 100; i += 1) {
    const mail = readFileSync(process.env.MAIL_LOG, "utf8")
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line))
      .find((m) => m.subject === subject && m.rcpt_tos.includes(address));
    if (mail) return mail;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail "${subject}" to ${address}`);
}

/// The link to `path` in a mail's text part.
function linkIn(mail, path) {
  const line = mail.text.split("\n").map((l) => l.trim()).find((l) => l.startsWith("http") && l.includes(path));
  assert.ok(line, `a link to ${path} in:\n${mail.text}`);
  return line;
}

describe("authd web UI in headless Chromium", () => {
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => browser?.close());

  test("the landing page links the UI, the API docs, the spec and the metadata", async () => {
    const page = await newPage();
    await page.goto(`${BASE}/ui`);
    for (const name of [/Register/, /Log in/, /Signing keys/, /API docs/, /OpenAPI spec/, /Server metadata/]) {
      assert.ok(await page.getByRole("link", { name }).first().isVisible(), `link ${name}`);
    }
    await assertAccessible(page);
    await screenshot(page, "01-home");
    await page.getByRole("link", { name: /API docs/ }).first().click();
    await page.waitForURL(/\/docs/);
    await closePage(page);
  });

  test("pages for people signing in carry no developer links, and errors say what happened", async () => {
    const page = await newPage();
    await page.goto(`${BASE}/ui/login`);
    for (const name of [/API docs/, /Keys/, /OpenAPI spec/, /Server metadata/, /JWKS/]) {
      assert.equal(await page.getByRole("link", { name }).count(), 0, `link ${name} on the login page`);
    }
    await assertAccessible(page);
    // A request that cannot go on: a page that says so in words, not "Bad Request".
    await page.goto(`${BASE}/oauth/authorize?response_type=code`);
    const title = (await page.locator("h1").textContent()).trim();
    assert.notEqual(title, "Bad Request");
    assert.equal(title, "This request cannot go on");
    assert.match(await page.getByRole("alert").textContent(), /which application is asking/);
    assert.equal(await page.getByRole("link", { name: /API docs/ }).count(), 0);
    await assertAccessible(page);
    await closePage(page);
  });

  test("register, see the password once, log in, edit the profile, revoke the session", async () => {
    const page = await newPage({ permissions: ["clipboard-read", "clipboard-write"] });
    const username = unique("alice");

    await page.goto(`${BASE}/ui/register`);
    await assertAccessible(page);
    await screenshot(page, "02-register");
    await register(page, username);
    const password = await page.getByLabel("Your password").inputValue();
    assert.match(password, /^[0-9a-f-]{36}$/);
    assert.ok(await page.getByText("will not show it again").isVisible());
    await page.getByRole("button", { name: "Copy" }).click();
    await page.getByText("Copied to the clipboard.").waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), password);
    await assertAccessible(page);
    await screenshot(page, "03-registered");

    await page.getByRole("link", { name: "Log in" }).last().click();
    assert.equal(await page.getByLabel("Username").inputValue(), username, "prefilled");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`${BASE}/ui/profile`);
    await page.getByRole("heading", { name: "Your profile" }).waitFor();

    // The token's countdown ticks (the script's one job on this page).
    const countdown = page.locator(".countdown");
    await assert.doesNotReject(countdown.filter({ hasText: /\(in 1[45] min \d+ s\)/ }).waitFor());
    const claims = JSON.parse(await page.getByLabel("Token claims").textContent());
    assert.equal(claims.username, username);
    assert.ok(claims.sid, "issued in a session");
    // The session's tokens are HttpOnly: invisible to the page's scripts.
    assert.equal(await page.evaluate(() => document.cookie), "");

    await page.getByLabel("Display name").fill("Alice Example");
    await page.getByLabel("Phone").fill("+1 555 0100");
    await page.getByRole("button", { name: "Save profile" }).click();
    await page.getByText("Profile saved.").waitFor();
    await page.reload();
    assert.equal(await page.getByLabel("Display name").inputValue(), "Alice Example");
    assert.equal(await page.getByLabel("Phone").inputValue(), "+1 555 0100");
    await assertAccessible(page);
    await screenshot(page, "04-profile");

    await page.getByRole("button", { name: /Revoke the session .* \(this browser\)/ }).click();
    await page.waitForURL(/\/ui\/login\?notice=session-ended/);
    await page.getByText("This browser's session was revoked.").waitFor();
    await page.goto(`${BASE}/ui/profile`);
    await page.waitForURL(/\/ui\/login/);
    await closePage(page);
  });

  test("a wrong password is shown as an error on the form", async () => {
    const page = await newPage();
    const username = unique("bob");
    await register(page, username, "a long enough password");
    await logIn(page, username, "the wrong password!");
    const alert = page.getByRole("alert");
    await alert.waitFor();
    assert.equal((await alert.textContent()).trim(), "Wrong username or password.");
    assert.equal(await page.getByLabel("Username").inputValue(), username);
    assert.equal(await page.getByLabel("Password").inputValue(), "", "never refilled");
    await assertAccessible(page);
    await screenshot(page, "05-login-error");
    await closePage(page);
  });

  test("a form without its CSRF token is refused", async () => {
    const page = await newPage();
    const username = unique("carol");
    await register(page, username, "a long enough password");
    await page.goto(`${BASE}/ui/login`);
    await page.evaluate(() => document.querySelector("input[name=csrf]").remove());
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill("a long enough password");
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${BASE}/ui/login` && r.request().method() === "POST"),
      page.getByRole("button", { name: "Log in" }).click(),
    ]);
    assert.equal(response.status(), 403);
    await page.getByRole("heading", { name: "Not allowed" }).waitFor();
    await page.getByText("could not be accepted").waitFor();
    await screenshot(page, "06-csrf-refused");
    // Nothing was started: the profile still asks for a login.
    await page.goto(`${BASE}/ui/profile`);
    await page.waitForURL(/\/ui\/login/);
    await closePage(page);
  });

  test("everything works without JavaScript", async () => {
    const page = await newPage({ javaScriptEnabled: false });
    const username = unique("dave");
    await register(page, username);
    const password = await page.getByLabel("Your password").inputValue();
    assert.ok(!(await page.getByRole("button", { name: "Copy" }).isVisible()), "no copy button");
    await logIn(page, username, password);
    await page.waitForURL(`${BASE}/ui/profile`);
    await page.getByLabel("Display name").fill("No Script");
    await page.getByRole("button", { name: "Save profile" }).click();
    await page.getByText("Profile saved.").waitFor();
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByText("You are signed out.").waitFor();
    await closePage(page);
  });

  test("the keys page shows the JWKS as a table", async () => {
    const page = await newPage();
    const jwks = await (await fetch(`${BASE}/.well-known/jwks.json`)).json();
    await page.goto(`${BASE}/ui/keys`);
    for (const key of jwks.keys) {
      const row = page.getByRole("row").filter({ hasText: key.kid });
      assert.equal(await row.count(), 1, `a row for ${key.kid}`);
      assert.match(await row.textContent(), new RegExp(key.alg));
    }
    assert.ok(await page.getByRole("cell", { name: "signing" }).first().isVisible());
    await assertAccessible(page);
    await screenshot(page, "07-keys");
    await closePage(page);
  });

  test("on a phone-sized screen nothing overflows sideways", async () => {
    const page = await newPage({ viewport: PHONE, isMobile: true, hasTouch: true });
    const username = unique("erin");
    await register(page, username);
    const password = await page.getByLabel("Your password").inputValue();
    await logIn(page, username, password);
    await page.waitForURL(`${BASE}/ui/profile`);
    for (const path of ["/ui", "/ui/register", "/ui/profile", "/ui/keys"]) {
      await page.goto(`${BASE}${path}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} is ${overflow}px too wide`);
    }
    await page.goto(`${BASE}/ui/profile`);
    await screenshot(page, "08-profile-phone");
    await closePage(page);
  });

  test("the keyboard reaches every control in order, starting with the skip link", async () => {
    const page = await newPage();
    await page.goto(`${BASE}/ui/login`);
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
    await page.keyboard.press("Enter");
    const order = [];
    for (let i = 0; i < 3; i += 1) {
      await page.keyboard.press("Tab");
      order.push(await page.evaluate(() => document.activeElement.id || document.activeElement.textContent));
    }
    assert.deepEqual(order, ["username", "password", "Log in"]);
    await closePage(page);
  });

  test("two-step verification: set up an authenticator, log in with a code, then a recovery code", async () => {
    const page = await newPage();
    const username = unique("totp");
    const password = "tangerine vault ostrich 42";
    await register(page, username, password);
    await logIn(page, username, password);
    await page.getByRole("heading", { name: "Your profile" }).waitFor();
    await page.getByRole("button", { name: "Set up an authenticator app" }).click();
    await page.getByRole("heading", { name: "Set up an authenticator app" }).waitFor();
    assert.ok(await page.getByRole("img", { name: /QR code/ }).isVisible(), "the QR code is drawn");
    const secret = (await page.locator("#totp-secret").textContent()).trim();
    await assertAccessible(page);
    await screenshot(page, "20-totp-enrol");
    await page.getByLabel("Code from the app").fill(totp(secret));
    await page.getByRole("button", { name: "Turn on two-step verification" }).click();
    await page.getByRole("heading", { name: "Two-step verification is on" }).waitFor();
    const codes = await page.getByRole("list", { name: "Recovery codes" }).locator("code").allTextContents();
    assert.equal(codes.length, 10);
    await assertAccessible(page);

    // The password alone now leads to the code page; the next step's code signs in (the
    // current one was spent on the set-up).
    await page.goto(`${BASE}/ui/profile`);
    await page.getByRole("button", { name: "Log out" }).click();
    await logIn(page, username, password);
    await page.getByRole("heading", { name: "Two-step verification" }).waitFor();
    await assertAccessible(page);
    await screenshot(page, "21-login-code");
    await page.getByLabel("Code").fill("000000");
    await page.getByRole("button", { name: "Verify" }).click();
    assert.match(await page.getByRole("alert").textContent(), /not valid/);
    await page.getByLabel("Code").fill(totp(secret, 1));
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("heading", { name: "Your profile" }).waitFor();

    // Phone lost: a recovery code stands in once.
    await page.getByRole("button", { name: "Log out" }).click();
    await logIn(page, username, password);
    await page.getByLabel("Code").fill(codes[0]);
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("heading", { name: "Your profile" }).waitFor();
    assert.match(await page.locator("#second-factor-heading + p").textContent(), /9 recovery codes left/);
    await closePage(page);
  });

  test("a forgotten password: the login page's link, a mailed link, a new password", async () => {
    const page = await newPage();
    const username = unique("forgetful");
    const oldPassword = "marigold lantern harbour 17";
    const newPassword = "juniper cobalt meadow 58";
    await register(page, username, oldPassword);

    await page.goto(`${BASE}/ui/login`);
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    await page.getByRole("heading", { name: "Forgot your password" }).waitFor();
    await assertAccessible(page);
    await screenshot(page, "40-forgot-password");
    await page.getByLabel("Username or email address").fill(username);
    await page.getByRole("button", { name: "Send the link" }).click();
    await page.getByText("If an account matches").waitFor();
    await assertAccessible(page);

    const mail = await mailTo(`${username}@example.com`, "Reset your password");
    await page.goto(linkIn(mail, "/ui/reset-password"));
    await page.getByRole("heading", { name: "Choose a new password" }).waitFor();
    await assertAccessible(page);
    await screenshot(page, "41-reset-password");
    await page.getByLabel("New password").fill(newPassword);
    await page.getByRole("button", { name: "Set the new password" }).click();
    await page.waitForURL(/\/ui\/login\?notice=password-reset/);
    await page.getByText("Your password was reset").waitFor();

    await logIn(page, username, oldPassword);
    await page.getByRole("alert").waitFor();
    await logIn(page, username, newPassword);
    await page.waitForURL(`${BASE}/ui/profile`);
    await mailTo(`${username}@example.com`, "Your password was reset");
    await closePage(page);
  });

  test("a new address: confirmed by the link mailed to it, the old one told", async () => {
    const page = await newPage();
    const username = unique("mover");
    const password = "saffron kettle glacier 93";
    const moved = `${username}@example.org`;
    await register(page, username, password);
    await logIn(page, username, password);
    await page.getByRole("heading", { name: "Your profile" }).waitFor();
    await page.getByLabel("New email address").fill(moved);
    await page.getByLabel("Your password, to change it").fill(password);
    await page.getByRole("button", { name: "Send a link to the new address" }).click();
    await page.getByText("A link is on its way to the new address").waitFor();
    await assertAccessible(page);

    const mail = await mailTo(moved, "Confirm your new email address");
    await page.goto(linkIn(mail, "/ui/confirm-email"));
    await page.getByRole("heading", { name: "Confirm your new email address" }).waitFor();
    await assertAccessible(page);
    await screenshot(page, "42-confirm-email");
    await page.getByRole("button", { name: "Use the new address" }).click();
    await page.getByText(`the account's address is now ${moved}`).waitFor();
    await assertAccessible(page);
    await page.goto(`${BASE}/ui/profile`);
    await page.getByText(`${moved} (confirmed)`).waitFor();
    await mailTo(`${username}@example.com`, "Your email address was changed");
    await closePage(page);
  });
});
