// A single-page application that signs its users in with authd: a public client, the code
// flow with PKCE, by oauth4webapi (a certified OAuth 2 / OpenID client library). Everything
// it knows of authd comes from the metadata document.
import * as oauth from "/oauth4webapi.js";

const config = await (await fetch("/config.json")).json();
const issuer = new URL(config.issuer);
const insecure = { [oauth.allowInsecureRequests]: issuer.protocol === "http:" };
const as = await oauth.processDiscoveryResponse(
  issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }));
const client = { client_id: config.client_id };
const redirectUri = new URL("/callback", location.origin).href;
const status = document.getElementById("status");

async function showUser(accessToken) {
  const me = await fetch(new URL("/me", as.issuer), { headers: { authorization: `Bearer ${accessToken}` } });
  status.textContent = me.ok ? `Signed in as ${(await me.json()).username}` : `Token refused (${me.status})`;
}

document.getElementById("login").addEventListener("click", async () => {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  sessionStorage.setItem("pkce", JSON.stringify({ verifier, state }));
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: redirectUri,
    scope: config.scope,
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
  });
  location.assign(url);
});

const check = document.getElementById("check");
check.addEventListener("click", () => showUser(sessionStorage.getItem("token")));
check.hidden = !sessionStorage.getItem("token");

if (location.pathname === "/callback") {
  const { verifier, state } = JSON.parse(sessionStorage.getItem("pkce"));
  try {
    const params = oauth.validateAuthResponse(as, client, new URL(location.href), state);
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, oauth.None(), params, redirectUri, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    sessionStorage.setItem("token", tokens.access_token);
    history.replaceState(null, "", "/");
    check.hidden = false;
    await showUser(tokens.access_token);
  } catch (error) {
    status.textContent = `Sign-in failed: ${error.message}`;
  }
}
