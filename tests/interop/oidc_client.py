"""An independent OpenID Connect relying party against a live authd: requests-oauth2client
(PyPI) discovers authd from /.well-known/openid-configuration, runs the code flow with PKCE,
state and nonce, and validates the ID token itself (signature against the JWKS, iss, aud,
nonce, azp, exp, auth_time); PyJWT then verifies the same ID token on its own, with only the
algorithm authd's metadata names. The script plays the browser through authd's real login and
consent forms, then reads UserInfo, refreshes, and signs out with RP-initiated logout. Exits
non-zero, saying why, if anything fails.

Usage: python3 oidc_client.py <base_url> <issuer> <username> <password>
           <client_id> <client_secret> <redirect_uri> <alg>
"""

import sys
import time
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import requests
from requests_oauth2client import OAuth2Client

from code_flow_client import Browser


def fail(message):
    sys.exit(f"oidc_client: {message}")


def main(base_url, issuer, username, password, client_id, secret, redirect_uri, alg):
    discovery = requests.get(f"{base_url}/.well-known/openid-configuration").json()
    if discovery["issuer"] != issuer:
        fail(f"issuer {discovery['issuer']} != {issuer}")
    if discovery["id_token_signing_alg_values_supported"] != [alg]:
        fail(f"unexpected ID token algorithms {discovery['id_token_signing_alg_values_supported']}")

    client = OAuth2Client.from_discovery_document(
        discovery,
        issuer=issuer,
        client_id=client_id,
        client_secret=secret,
        redirect_uri=redirect_uri,
        id_token_signed_response_alg=alg,
        testing=True,
    )
    client.update_authorization_server_public_keys()
    browser = Browser(base_url, username, password)

    # The code flow; requests-oauth2client checks state, iss, PKCE and the whole ID token.
    request = client.authorization_request(scope="openid profile email offline_access")
    callback = browser.authorize(request.uri)
    response = request.validate_callback(callback)
    token = client.authorization_code(response, validate=True)
    id_token = token.id_token
    if id_token is None:
        fail(f"no ID token in {token}")
    if id_token.nonce != request.nonce:
        fail("the ID token's nonce is not the request's")

    # PyJWT, on its own: the key the kid names, the algorithm the metadata names, nothing else.
    jwks_client = jwt.PyJWKClient(discovery["jwks_uri"])
    key = jwks_client.get_signing_key_from_jwt(str(id_token))
    claims = jwt.decode(
        str(id_token),
        key.key,
        algorithms=[alg],
        audience=client_id,
        issuer=issuer,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time"]},
    )
    if jwt.get_unverified_header(str(id_token))["alg"] != alg:
        fail("the ID token is not signed with the advertised algorithm")

    # UserInfo, with the access token: the same user, and the claims of profile and email.
    info = requests.get(discovery["userinfo_endpoint"], auth=token)
    if info.status_code != 200:
        fail(f"userinfo answered {info.status_code} {info.text}")
    info = info.json()
    if info["sub"] != claims["sub"] or info.get("preferred_username") != username:
        fail(f"userinfo {info} does not match the ID token {claims}")
    if "email" not in info:
        fail(f"userinfo lacks the email scope's claims: {info}")

    # A refresh gives a new ID token for the same login (Core §12.2).
    time.sleep(1.1)
    refreshed = client.refresh_token(token)
    again = jwt.decode(
        refreshed.id_token and str(refreshed.id_token),
        key.key,
        algorithms=[alg],
        audience=client_id,
        issuer=issuer,
    )
    if again["sub"] != claims["sub"] or again["auth_time"] != claims["auth_time"]:
        fail(f"the refreshed ID token {again} is not for the same login as {claims}")

    # RP-initiated logout with the ID token as hint: straight back to the client, with state.
    end_session = discovery["end_session_endpoint"] + "?" + urlencode(
        {
            "id_token_hint": str(refreshed.id_token),
            "post_logout_redirect_uri": redirect_uri.replace("/callback", "/signed-out"),
            "state": "bye",
        }
    )
    answer = browser.session.get(end_session, allow_redirects=False)
    location = urlparse(answer.headers.get("Location", ""))
    if answer.status_code != 303 or parse_qs(location.query).get("state") != ["bye"]:
        fail(f"logout answered {answer.status_code} {answer.headers} {answer.text[:300]}")
    gone = requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refreshed.refresh_token},
        auth=(client_id, secret),
    )
    if gone.status_code != 400:
        fail(f"the client's session outlived the logout: {gone.status_code} {gone.text}")
    print(f"{alg}: discovery, code flow, ID token (requests-oauth2client and PyJWT), "
          "userinfo, refresh and logout all passed")


if __name__ == "__main__":
    if len(sys.argv) != 9:
        sys.exit(__doc__)
    main(*sys.argv[1:])
