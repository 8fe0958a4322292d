// Swagger UI at /docs, used as a person would: only its own buttons and fields. Register, take a
// token with the password grant, authorize with it, call GET /me. Started by run.sh, like
// ui.test.mjs; with SCREENSHOTS set, the answered GET /me is photographed there.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { BASE, closePage, launchChromium, newPage, screenshot } from "./browser.mjs";

let browser;

/// The operation `method path` as Swagger UI shows it.
function operation(page, method, path) {
  return page.locator(`.opblock-${method}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
}

/// Expands the operation and presses "Try it out".
async function tryItOut(page, method, path) {
  const op = operation(page, method, path);
  await op.locator(".opblock-summary-control").click();
  await op.getByRole("button", { name: "Try it out" }).click();
  return op;
}

/// Presses "Execute" and returns the status and the body Swagger UI shows for the answer.
async function execute(op) {
  await op.getByRole("button", { name: "Execute" }).click();
  const answer = op.locator(".live-responses-table tbody .response");
  await answer.waitFor();
  const status = Number((await answer.locator(".response-col_status").textContent()).trim());
  const body = answer.locator("div:has(> h5:text-is('Response body')) pre");
  return { status, body: JSON.parse(await body.textContent()), shown: body };
}

describe("Swagger UI at /docs in headless Chromium", () => {
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => browser?.close());

  test("register, take a token, authorize with it and call GET /me, all through Swagger UI", async () => {
    const page = await newPage(browser);
    const username = `swagger-${process.pid}`;
    await page.goto(`${BASE}/docs`);
    // The page title (an h2: "authd 0.1.0 OAS"), not a tag whose description names authd.
    await page.getByRole("heading", { level: 2, name: /^authd/ }).waitFor();

    // POST /register without a password: authd generates one and shows it in the answer.
    const register = await tryItOut(page, "post", "/register");
    await register.locator("textarea.body-param__text")
      .fill(JSON.stringify({ username, email: `${username}@example.com` }, null, 2));
    const registered = await execute(register);
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    assert.equal(registered.body.username, username);
    const { password } = registered.body;
    assert.match(password, /^[0-9a-f-]{36}$/);

    // POST /oauth/token, password grant, through the form Swagger UI draws for the form body:
    // the grant's fields filled in, the others left empty (Swagger UI then leaves them out).
    // The repeatable ones (`resource`, `audience`) are lists, drawn with an "Add item" button
    // and no text box until one is added: they stay empty.
    const token = await tryItOut(page, "post", "/oauth/token");
    const grant = { grant_type: "password", username, password };
    const fields = token.locator("tr[data-property-name]");
    assert.ok(await fields.count() >= 3, "a field for each form parameter");
    for (const row of await fields.all()) {
      const field = await row.getAttribute("data-property-name");
      const box = row.getByRole("textbox", { name: field });
      if (await box.count() === 0) {
        assert.ok(["resource", "audience"].includes(field), `no text box for ${field}`);
        continue;
      }
      await box.fill(grant[field] ?? "");
    }
    const issued = await execute(token);
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    assert.equal(issued.body.token_type, "Bearer");
    const accessToken = issued.body.access_token;
    assert.match(accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);

    // Authorize: the bearer scheme takes the token as it came, without a "Bearer " to type.
    await page.locator(".scheme-container").getByRole("button", { name: "Authorize" }).click();
    const dialog = page.locator(".modal-ux");
    await dialog.getByRole("heading", { name: "Available authorizations" }).waitFor();
    const bearer = dialog.locator(".auth-container").filter({ hasText: /BearerAuth\s+\(http, Bearer\)/ });
    await bearer.getByLabel("auth-bearer-value").fill(accessToken);
    await bearer.getByRole("button", { name: "Apply credentials" }).click();
    await bearer.getByRole("heading", { name: "Authorized" }).waitFor();
    await bearer.getByRole("button", { name: "Close" }).click();
    await dialog.waitFor({ state: "detached" });

    // GET /me with it: the operation shows its padlock closed.
    const me = await tryItOut(page, "get", "/me");
    await me.getByRole("button", { name: "authorization button locked" }).waitFor();
    const answered = await execute(me);
    assert.equal(answered.status, 200, JSON.stringify(answered.body));
    assert.equal(answered.body.username, username);
    assert.equal(answered.body.claims.username, username);
    // As Swagger UI shows it, and the request it made.
    assert.match(await answered.shown.textContent(), new RegExp(`"username": "${username}"`));
    assert.match(await me.locator(".curl-command").textContent(), new RegExp(`Authorization: Bearer ${accessToken}`));

    // The operation, from its title to the answer (not the documented answers below it).
    // (Boxes are measured from the viewport, the clip from the top of the page.)
    const scrolled = await page.evaluate(() => window.scrollY);
    const top = await me.boundingBox();
    const answer = await me.locator(".live-responses-table").boundingBox();
    const height = answer.y + answer.height + 8 - top.y;
    await screenshot(page, "09-swagger-me", { x: top.x, y: top.y + scrolled, width: top.width, height });
    await closePage(page);
  });
});
