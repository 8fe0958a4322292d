"""An independent OAuth client runs the authorization code flow against a live authd:
requests-oauth2client (PyPI) reads authd's metadata, builds the requests (PKCE S256, state,
nonce, RFC 9207 `iss` checked, PAR, DPoP), and exchanges the codes; this script plays the
user's browser, submitting authd's real login and consent forms over HTTP. Exits non-zero,
saying why, if anything fails.

Usage: python3 code_flow_client.py <base_url> <issuer> <username> <password>
           <public_client_id> <confidential_client_id> <confidential_client_secret>
           <redirect_uri>
"""

import re
import sys
from urllib.parse import urljoin

import requests
from requests_oauth2client import OAuth2Client


def form_value(html, name):
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    if not match:
        sys.exit(f"no {name} field in the page:\n{html}")
    return match.group(1)


class Browser:
    """A user's browser: a cookie jar that follows authd's redirects and fills in its forms."""

    def __init__(self, base_url, username, password):
        self.base_url = base_url
        self.username = username
        self.password = password
        self.session = requests.Session()

    def follow(self, response):
        """Follows redirects within authd; returns the last answer (a page, or a redirect out)."""
        while response.status_code in (302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if not location.startswith(self.base_url):
                return response
            response = self.session.get(location, allow_redirects=False)
        return response

    def authorize(self, uri):
        """Runs an authorization request to its end; the URL the browser is sent back to."""
        page = self.follow(self.session.get(uri, allow_redirects=False))
        if page.status_code == 200 and 'action="/ui/login"' in page.text:
            page = self.follow(
                self.session.post(
                    f"{self.base_url}/ui/login",
                    data={
                        "csrf": form_value(page.text, "csrf"),
                        "authorization": form_value(page.text, "authorization"),
                        "username": self.username,
                        "password": self.password,
                    },
                    allow_redirects=False,
                )
            )
        if page.status_code == 200 and 'action="/oauth/authorize/consent"' in page.text:
            page = self.follow(
                self.session.post(
                    f"{self.base_url}/oauth/authorize/consent",
                    data={
                        "csrf": form_value(page.text, "csrf"),
                        "request": form_value(page.text, "request"),
                        "decision": "allow",
                    },
                    allow_redirects=False,
                )
            )
        if page.status_code not in (302, 303):
            sys.exit(f"expected a redirect to the client, got {page.status_code}:\n{page.text}")
        return page.headers["Location"]


def check_me(base_url, token, username, what):
    me = requests.get(f"{base_url}/me", auth=token)
    if me.status_code != 200 or me.json()["username"] != username:
        sys.exit(f"{what}: GET /me answered {me.status_code} {me.text}")


def main(base_url, issuer, username, password, public_id, confidential_id, secret, redirect_uri):
    metadata = f"{base_url}/.well-known/oauth-authorization-server"
    browser = Browser(base_url, username, password)

    # 1. A public client: PKCE, no secret; the user logs in and consents.
    public = OAuth2Client.from_discovery_endpoint(
        metadata, issuer=issuer, client_id=public_id, redirect_uri=redirect_uri, testing=True
    )
    request = public.authorization_request(scope="notes:read")
    callback = browser.authorize(request.uri)
    token = public.authorization_code(request.validate_callback(callback))
    if token.scope != "notes:read" or not token.refresh_token:
        sys.exit(f"public client: unexpected token response {token}")
    check_me(base_url, token, username, "public client")
    refreshed = public.refresh_token(token)
    check_me(base_url, refreshed, username, "public client after refresh")

    # 2. A confidential client with PAR and DPoP: the request is pushed with a proof, the code
    #    is bound to the key, and so are the tokens.
    confidential = OAuth2Client.from_discovery_endpoint(
        metadata,
        issuer=issuer,
        client_id=confidential_id,
        client_secret=secret,
        redirect_uri=redirect_uri,
        testing=True,
    )
    request = confidential.authorization_request(scope="notes:read notes:write", dpop=True)
    pushed = confidential.pushed_authorization_request(request)
    if "request_uri=" not in pushed.uri:
        sys.exit(f"PAR: unexpected authorization URI {pushed.uri}")
    callback = browser.authorize(pushed.uri)
    response = request.validate_callback(callback)
    token = confidential.authorization_code(response)
    if token.token_type.lower() != "dpop":
        sys.exit(f"PAR and DPoP: expected a DPoP token, got {token.token_type}")
    check_me(base_url, token, username, "confidential client with DPoP")
    bearer = requests.get(
        f"{base_url}/me", headers={"Authorization": f"Bearer {token.access_token}"}
    )
    if bearer.status_code != 401:
        sys.exit(f"the DPoP-bound token worked as Bearer: {bearer.status_code}")

    # 3. Refresh, with a proof by the same key.
    refreshed = confidential.refresh_token(token)
    if refreshed.token_type.lower() != "dpop":
        sys.exit(f"refresh gave token_type {refreshed.token_type}")
    check_me(base_url, refreshed, username, "confidential client after refresh")
    print("requests-oauth2client code flow (PKCE, PAR, DPoP, refresh): OK")


if __name__ == "__main__":
    main(*sys.argv[1:9])
