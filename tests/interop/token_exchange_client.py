"""An independent token-exchange client against authd: requests-oauth2client (PyPI) makes a
two-hop delegation (RFC 8693) and PyJWT verifies the token it ends with against authd's JWKS:
signature, `typ`, issuer, audience (RFC 8707) and the nested `act` chain. Exits non-zero,
saying why, if anything fails.

Usage: python3 token_exchange_client.py <base_url> <issuer> <svc-a secret> <svc-b secret>
       <subject token for https://a.test> <user id>
"""

import sys

import jwt
from requests_oauth2client import BearerToken, OAuth2Client

ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"


def service(base_url, client_id, secret):
    return OAuth2Client(
        token_endpoint=f"{base_url}/oauth/token",
        introspection_endpoint=f"{base_url}/oauth/introspect",
        auth=(client_id, secret),
        testing=True,  # allows plain http on 127.0.0.1
    )


def main(base_url, issuer, secret_a, secret_b, for_a, user_id):
    svc_a = service(base_url, "svc-a", secret_a)
    svc_b = service(base_url, "svc-b", secret_b)

    # Hop 1: service A acts for the user towards B, proving itself with its own token.
    for_b = svc_a.token_exchange(
        subject_token=for_a,
        subject_token_type=ACCESS_TOKEN,
        actor_token=svc_a.client_credentials(),
        resource="https://b.test",
    )
    if for_b.refresh_token is not None:
        sys.exit("an exchange issued a refresh token")
    if for_b.kwargs.get("issued_token_type") != ACCESS_TOKEN:
        sys.exit(f"issued_token_type: {for_b.kwargs.get('issued_token_type')}")

    # Hop 2: B towards C, asking for a JWT with less scope.
    for_c = svc_b.token_exchange(
        subject_token=for_b,
        actor_token=svc_b.client_credentials(),
        requested_token_type=JWT,
        audience="https://c.test",
        scope="orders:read",
    )
    if not isinstance(for_c, BearerToken) or for_c.scope != "orders:read":
        sys.exit(f"hop 2 scope: {for_c.scope}")

    keys = jwt.PyJWKClient(f"{base_url}/.well-known/jwks.json")
    signing_key = keys.get_signing_key_from_jwt(for_c.access_token)
    header = jwt.get_unverified_header(for_c.access_token)
    if header.get("typ") != "at+jwt":
        sys.exit(f"typ: {header.get('typ')}")
    claims = jwt.decode(
        for_c.access_token,
        signing_key.key,
        algorithms=[header["alg"]],
        audience="https://c.test",
        issuer=issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    if claims["sub"] != user_id:
        sys.exit(f"sub: {claims['sub']} (expected the user, {user_id})")
    expected_act = {"sub": "svc-b", "act": {"sub": "svc-a"}}
    if claims.get("act") != expected_act:
        sys.exit(f"act: {claims.get('act')} (expected {expected_act})")
    try:
        jwt.decode(
            for_c.access_token,
            signing_key.key,
            algorithms=[header["alg"]],
            audience="https://b.test",
            issuer=issuer,
        )
        sys.exit("the token for C verified with audience B")
    except jwt.InvalidAudienceError:
        pass

    introspection = svc_b.introspect_token(for_c.access_token)
    if not introspection.get("active") or introspection.get("act") != expected_act:
        sys.exit(f"introspection: {introspection}")
    print("requests-oauth2client token exchange, verified by PyJWT: OK")


if __name__ == "__main__":
    main(*sys.argv[1:7])
