// A server-side OpenID Connect relying party for oidc.test.mjs, built on openid-client (a
// certified RP library). It knows nothing of authd but its issuer URL and its own client id and
// secret: `discovery()` finds the endpoints and keys in /.well-known/openid-configuration.
//
//   /            "Log in with authd", or the signed-in user's claims
//   /login       the authorization request: PKCE (S256), state and nonce, kept server-side
//   /callback    the code exchanged (client_secret_basic) and the ID token validated (signature
//                against the JWKS, iss, aud, exp, nonce, at_hash…), then UserInfo for its `sub`
//   /logout      RP-initiated logout at authd's end_session_endpoint, with the ID token as hint
//   /logged-out  where authd sends the browser back, with the logout's state; shows whether
//                UserInfo still takes the login's access token (it must not: the hint's session
//                ended)
//
// Any failure is a page answered 500 with the error, which the test shows. The issuer is plain
// http on loopback, so openid-client is told to allow insecure requests.
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import * as client from "openid-client";

const SCOPE = "openid profile email phone";
const COOKIE = "oidc_rp";

/// Discovers `issuer` and serves the relying party (its pages titled `name`) on
/// http://localhost:`port`; resolves to the server once it listens.
export async function serveOidcRelyingParty(port, { issuer, client_id, client_secret, name = "Journal" }) {
  const origin = `http://localhost:${port}`;
  const redirectUri = `${origin}/callback`;
  const postLogoutRedirectUri = `${origin}/logged-out`;
  const config = await client.discovery(
    new URL(issuer),
    client_id,
    undefined,
    client.ClientSecretBasic(client_secret),
    { execute: [client.allowInsecureRequests] },
  );

  // The browser's session here, by its cookie: { login?, user?, logout? }.
  const sessions = new Map();

  const routes = {
    "/": async (_url, session) => (session.user ? signedInPage(session.user) : homePage()),

    "/login": async () => {
      const login = {
        codeVerifier: client.randomPKCECodeVerifier(),
        state: client.randomState(),
        nonce: client.randomNonce(),
      };
      const authorization = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: SCOPE,
        code_challenge: await client.calculatePKCECodeChallenge(login.codeVerifier),
        code_challenge_method: "S256",
        state: login.state,
        nonce: login.nonce,
      });
      return { login, redirect: authorization.href };
    },

    "/callback": async (url, session) => {
      const { login } = session;
      if (!login) throw new Error("no login was started in this browser");
      delete session.login;
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: login.codeVerifier,
        expectedState: login.state,
        expectedNonce: login.nonce,
        idTokenExpected: true,
      });
      const idToken = tokens.claims();
      const userinfo = await client.fetchUserInfo(config, tokens.access_token, idToken.sub);
      session.user = {
        idTokenJwt: tokens.id_token, accessToken: tokens.access_token, idToken, userinfo, scope: tokens.scope,
      };
      return signedInPage(session.user);
    },

    "/logout": async (_url, session) => {
      const { user } = session;
      if (!user) throw new Error("nobody is signed in here");
      delete session.user;
      session.logout = { state: client.randomState(), accessToken: user.accessToken };
      const endSession = client.buildEndSessionUrl(config, {
        id_token_hint: user.idTokenJwt,
        post_logout_redirect_uri: postLogoutRedirectUri,
        state: session.logout.state,
      });
      return { redirect: endSession.href };
    },

    "/logged-out": async (url, session) => {
      const { logout } = session;
      if (!logout) throw new Error("no logout was started in this browser");
      delete session.logout;
      const state = url.searchParams.get("state");
      if (state !== logout.state) {
        throw new Error(`the logout came back with state ${JSON.stringify(state)}, not the one sent`);
      }
      // The logout named the login's session (the ID token's sid): its access token is over.
      const token = await client.fetchUserInfo(config, logout.accessToken, client.skipSubjectCheck).then(
        () => "still accepted by UserInfo",
        (error) => `refused by UserInfo: ${error.status ?? ""} ${error.cause?.[0]?.parameters?.error ?? error.message}`,
      );
      return page("Signed out", `<h1>Signed out of authd</h1>
<p>authd ended your session and sent you back here.</p>
<p>The access token of that login: <output>${escape(token)}</output></p>
<p><a href="/">Home</a></p>`);
    },
  };

  function homePage() {
    return page(name, `<h1>${escape(name)}</h1>
<p>Not signed in.</p>
<p><a href="/login">Log in with authd</a></p>`);
  }

  const server = createServer(async (request, response) => {
    const url = new URL(request.url, origin);
    const route = request.method === "GET" ? routes[url.pathname] : undefined;
    if (!route) {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("not found");
      return;
    }
    let id = cookie(request, COOKIE);
    if (!id || !sessions.has(id)) {
      id = randomBytes(16).toString("base64url");
      sessions.set(id, {});
    }
    const headers = {
      "set-cookie": `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`,
      "cache-control": "no-store",
    };
    const session = sessions.get(id);
    let status = 200;
    let answer;
    try {
      answer = await route(url, session);
    } catch (error) {
      status = 500;
      answer = errorPage(error);
    }
    if (answer.login) session.login = answer.login;
    if (answer.redirect) {
      response.writeHead(303, { ...headers, location: answer.redirect });
      response.end();
    } else {
      response.writeHead(status, { ...headers, "content-type": "text/html; charset=utf-8" });
      response.end(answer.html);
    }
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

function signedInPage({ idToken, userinfo, scope }) {
  const rows = ["sub", "preferred_username", "name", "email", "phone_number", "auth_time"]
    .map((claim) => `<tr><th scope="row">${claim}</th><td>${text(idToken[claim])}</td><td>${text(userinfo[claim])}</td></tr>`)
    .join("\n");
  return page("Signed in", `<h1>Signed in as ${escape(userinfo.preferred_username ?? idToken.sub)}</h1>
<p>Granted scope: <code>${escape(scope ?? "")}</code></p>
<table>
<thead><tr><th scope="col">Claim</th><th scope="col">ID token</th><th scope="col">UserInfo</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<h2>ID token</h2>
<pre aria-label="ID token claims">${escape(JSON.stringify(idToken, null, 2))}</pre>
<h2>UserInfo</h2>
<pre aria-label="UserInfo claims">${escape(JSON.stringify(userinfo, null, 2))}</pre>
<p><a href="/logout">Log out</a></p>`);
}

function errorPage(error) {
  // openid-client's errors carry the server's answer: an OAuth error code or the response.
  const challenges = Array.isArray(error.cause)
    ? error.cause.map(({ scheme, parameters }) => `${scheme} ${JSON.stringify(parameters)}`)
    : [];
  const details = [
    error.code, error.status?.toString(), error.response?.url, error.error, error.error_description,
    error.cause?.message, error.cause?.error, ...challenges,
  ].filter((detail) => typeof detail === "string");
  return page("Error", `<h1>Something went wrong</h1>
<p role="alert">${escape(`${error.name}: ${error.message}`)}${details.length ? ` (${escape(details.join("; "))})` : ""}</p>`);
}

function page(title, body) {
  return {
    html: `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escape(title)}</title><link rel="icon" href="data:,"></head>
<body>
${body}
</body>
</html>
`,
  };
}

function text(value) {
  return value === undefined ? "<em>absent</em>" : escape(String(value));
}

function escape(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function cookie(request, name) {
  for (const part of (request.headers.cookie ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}
