"""An independent DPoP client against authd: requests-oauth2client (PyPI), which builds its own
proofs (ES256), follows `use_dpop_nonce` challenges at the token endpoint and at the resource,
and sends `Authorization: DPoP` with `ath`. Exits non-zero, saying why, if anything fails.

Usage: python3 dpop_client.py http://127.0.0.1:8080 <username> <password>
"""

import sys

import requests
from requests_oauth2client import DPoPKey, OAuth2Client


def main(base_url, username, password):
    client = OAuth2Client(
        token_endpoint=f"{base_url}/oauth/token",
        client_id="interop-test",
        testing=True,  # allows plain http on 127.0.0.1
    )
    key = DPoPKey.generate(alg="ES256")
    token = client.resource_owner_password(username, password, dpop_key=key)
    if token.token_type.lower() != "dpop":
        sys.exit(f"expected a DPoP token, got token_type {token.token_type}")

    me = requests.get(f"{base_url}/me", auth=token)
    if me.status_code != 200 or me.json()["username"] != username:
        sys.exit(f"GET /me with DPoP: {me.status_code} {me.text}")

    profile = requests.put(
        f"{base_url}/api/profile", json={"display_name": "Interop"}, auth=token
    )
    if profile.status_code != 200:
        sys.exit(f"PUT /api/profile with DPoP: {profile.status_code} {profile.text}")

    bearer = requests.get(
        f"{base_url}/me", headers={"Authorization": f"Bearer {token.access_token}"}
    )
    if bearer.status_code != 401:
        sys.exit(f"the bound token worked as Bearer: {bearer.status_code}")

    refreshed = client.refresh_token(token, dpop_key=key)
    if refreshed.token_type.lower() != "dpop":
        sys.exit(f"refresh gave token_type {refreshed.token_type}")
    again = requests.get(f"{base_url}/me", auth=refreshed)
    if again.status_code != 200:
        sys.exit(f"GET /me after refresh: {again.status_code} {again.text}")
    print("requests-oauth2client DPoP: OK")


if __name__ == "__main__":
    main(*sys.argv[1:4])
