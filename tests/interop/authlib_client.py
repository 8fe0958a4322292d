"""An independent OpenID Connect relying party against a live authd, on Authlib's (PyPI
`authlib`) defaults: only the discovery URL, client id and secret, and redirect URI are
configured, as Authlib's documentation shows. Checked: discovery (issuer, `offline_access`
among the scopes, `client_secret_basic` and `private_key_jwt` with RS256 advertised); the code
flow with Authlib's OAuth2Session and no PKCE (Authlib sends none unless asked), bound by an
OpenID Connect nonce, with the client authenticating by `client_secret_basic` (Authlib's
default); the callback's `state` and RFC 9207 `iss`; the ID token, verified as Authlib's own
OpenID client does (joserfc against the JWKS, then Authlib's CodeIDToken claims: iss, aud,
nonce, azp, at_hash, exp, iat); a refresh token for `offline_access`, a refresh with Authlib,
and UserInfo with the refreshed access token for the same `sub`; then a second client with
`private_key_jwt` (Authlib's PrivateKeyJWT, RS256), whose client assertion is decoded from the
request Authlib sent to report the lifetime Authlib gives it (3600 s: `expires_in` defaults to
3600 in authlib/oauth2/rfc7523/assertion.py, sign_jwt_bearer_assertion). The script plays the
browser through authd's real login and consent forms. Exits non-zero, saying why, if anything
fails.

Usage: python3 authlib_client.py <base_url> <issuer> <username> <password>
           <client_id> <client_secret> <jwt_client_id> <private_key_pem_path> <redirect_uri>
"""

import base64
import json
import secrets
import sys
from urllib.parse import parse_qs, urlparse

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from code_flow_client import Browser

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def fail(message):
    sys.exit(f"authlib_client: {message}")


def authorize(session, discovery, browser, issuer, what):
    """Authlib's authorization URL (with a nonce, without PKCE), through the browser, to the
    token; the callback's state and iss are checked here, as Authlib checks neither `iss` nor,
    unless given it, `state`. Returns the token and the nonce."""
    nonce = secrets.token_urlsafe(24)
    uri, state = session.create_authorization_url(
        discovery["authorization_endpoint"], nonce=nonce
    )
    query = parse_qs(urlparse(uri).query)
    if "code_challenge" in query or query.get("nonce") != [nonce]:
        fail(f"{what}: Authlib's authorization URL is not what was expected: {uri}")
    callback = browser.authorize(uri)
    answer = parse_qs(urlparse(callback).query)
    if "error" in answer or "code" not in answer:
        fail(f"{what}: the authorization failed: {callback}")
    if answer.get("state") != [state]:
        fail(f"{what}: the callback's state {answer.get('state')} is not {state}")
    if answer.get("iss") != [issuer]:
        fail(f"{what}: the callback's iss {answer.get('iss')} is not {issuer} (RFC 9207)")
    try:
        token = session.fetch_token(
            discovery["token_endpoint"], authorization_response=callback, state=state
        )
    except (AuthlibBaseError, ValueError, requests.RequestException) as error:
        fail(f"{what}: the token request failed: {error!r}")
    if not token.get("access_token") or str(token.get("token_type")).lower() != "bearer":
        fail(f"{what}: no Bearer access token in {token}")
    return token, nonce


def validate_id_token(token, discovery, key_set, issuer, client_id, nonce, what):
    """The ID token, checked as Authlib's OpenID client does (sync_openid.parse_id_token):
    joserfc verifies the signature with only the advertised algorithms, then Authlib's
    CodeIDToken checks the claims, here with iss, aud and nonce required."""
    if "id_token" not in token:
        fail(f"{what}: no ID token in {token}")
    try:
        decoded = jwt.decode(
            token["id_token"],
            key_set,
            registry=JWSRegistry(
                algorithms=discovery["id_token_signing_alg_values_supported"],
                strict_check_header=False,
            ),
        )
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": client_id},
                "nonce": {"essential": True, "value": nonce},
            },
            {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
        )
        claims.validate(leeway=120)  # Authlib's parse_id_token leeway
    except JoseError as error:
        fail(f"{what}: the ID token does not validate: {error!r}")
    if not claims.get("sub"):
        fail(f"{what}: the ID token has no sub: {dict(claims)}")
    return claims


def b64_json(segment):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def main(base_url, issuer, username, password, client_id, secret, jwt_client_id, pem_path,
         redirect_uri):
    discovery = requests.get(f"{base_url}/.well-known/openid-configuration")
    if discovery.status_code != 200:
        fail(f"discovery answered {discovery.status_code} {discovery.text}")
    discovery = discovery.json()
    if discovery["issuer"] != issuer:
        fail(f"issuer {discovery['issuer']} != {issuer}")
    if "offline_access" not in discovery.get("scopes_supported", []):
        fail(f"offline_access is not in scopes_supported {discovery.get('scopes_supported')}")
    methods = discovery.get("token_endpoint_auth_methods_supported", [])
    if "client_secret_basic" not in methods or "private_key_jwt" not in methods:
        fail(f"token_endpoint_auth_methods_supported {methods} lacks Authlib's methods")
    if "RS256" not in discovery.get("token_endpoint_auth_signing_alg_values_supported", []):
        fail("RS256, PrivateKeyJWT's default, is not among the assertion algorithms")
    token_endpoint = discovery["token_endpoint"]
    key_set = KeySet.import_key_set(requests.get(discovery["jwks_uri"]).json())
    browser = Browser(base_url, username, password)

    # 1. A confidential client on Authlib's defaults: client_secret_basic, no PKCE, a nonce.
    session = OAuth2Session(
        client_id,
        secret,
        scope="openid profile email offline_access",
        redirect_uri=redirect_uri,
    )
    token, nonce = authorize(session, discovery, browser, issuer, "client_secret_basic")
    claims = validate_id_token(token, discovery, key_set, issuer, client_id, nonce,
                               "client_secret_basic")

    # 2. offline_access was granted: a refresh token, which Authlib uses (it resends the scope).
    if not token.get("refresh_token"):
        fail(f"no refresh token although offline_access was asked for: {token}")
    first_access_token = token["access_token"]
    try:
        refreshed = session.refresh_token(token_endpoint)
    except (AuthlibBaseError, ValueError, requests.RequestException) as error:
        fail(f"the refresh failed: {error!r}")
    if not refreshed.get("access_token") or refreshed["access_token"] == first_access_token:
        fail(f"the refresh gave no new access token: {refreshed}")
    info = requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {refreshed['access_token']}"},
    )
    if info.status_code != 200:
        fail(f"userinfo answered {info.status_code} {info.text}")
    if info.json().get("sub") != claims["sub"]:
        fail(f"userinfo {info.json()} is not for the ID token's sub {claims['sub']}")

    # 3. private_key_jwt, as Authlib's docs show it: the PEM as the "secret", PrivateKeyJWT as
    #    the method. A response hook keeps the token request Authlib sent, to read its assertion.
    with open(pem_path, "rb") as pem:
        private_key = pem.read()
    jwt_session = OAuth2Session(
        jwt_client_id,
        private_key,
        token_endpoint_auth_method=PrivateKeyJWT(token_endpoint),
        scope="openid",
        redirect_uri=redirect_uri,
    )
    sent = []

    def keep_token_request(response, **kwargs):
        if response.request.url == token_endpoint:
            sent.append(parse_qs(response.request.body or ""))

    jwt_session.hooks["response"].append(keep_token_request)
    token, nonce = authorize(jwt_session, discovery, browser, issuer, "private_key_jwt")
    validate_id_token(token, discovery, key_set, issuer, jwt_client_id, nonce, "private_key_jwt")
    if len(sent) != 1 or sent[0].get("client_assertion_type") != [ASSERTION_TYPE]:
        fail(f"Authlib's token request was not the one expected: {sent}")
    header, payload = (b64_json(part) for part in sent[0]["client_assertion"][0].split(".")[:2])
    lifetime = payload["exp"] - payload["iat"]
    if payload["iss"] != jwt_client_id or payload["sub"] != jwt_client_id:
        fail(f"unexpected assertion claims {payload}")

    print(f"Authlib: discovery, code flow (client_secret_basic, nonce, no PKCE), ID token, "
          f"offline_access refresh, userinfo and private_key_jwt all passed; Authlib's "
          f"assertion: alg {header.get('alg')}, kid {header.get('kid')}, "
          f"aud {payload['aud']}, lifetime {lifetime} s")


if __name__ == "__main__":
    if len(sys.argv) != 10:
        sys.exit(__doc__)
    main(*sys.argv[1:])
