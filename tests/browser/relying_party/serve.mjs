// Serves the relying party (index.html, app.js, oauth4webapi) on loopback for the browser test.
// `/` and `/callback` are the page; `/config.json` tells it authd's issuer and its client id.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const here = new URL(".", import.meta.url);
const library = readFileSync(createRequire(import.meta.url).resolve("oauth4webapi"));
const files = {
  "/": ["text/html", readFileSync(new URL("index.html", here))],
  "/callback": ["text/html", readFileSync(new URL("index.html", here))],
  "/app.js": ["text/javascript", readFileSync(new URL("app.js", here))],
  "/oauth4webapi.js": ["text/javascript", library],
};

/// Starts the relying party on `port`, for `config` ({ issuer, client_id, scope }).
export function serveRelyingParty(port, config) {
  const server = createServer((request, response) => {
    const path = new URL(request.url, "http://localhost").pathname;
    const [type, body] = path === "/config.json"
      ? ["application/json", JSON.stringify(config)]
      : files[path] ?? ["text/plain", null];
    response.writeHead(body === null ? 404 : 200, { "content-type": type });
    response.end(body ?? "not found");
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}
