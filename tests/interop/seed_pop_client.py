"""A client of authd's signed-nonce scheme written the way seed 000 (signjwt) wrote its own: the
`cryptography` package, PSS with the maximum salt, and the seed's `POST /protected` body, then the
same proof in headers on `GET /me`. Exits non-zero, saying why, if authd does not behave.

Usage: python3 seed_pop_client.py http://127.0.0.1:8080
"""

import base64
import sys
import uuid

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def sign(private_key, nonce, token):
    signature = private_key.sign(
        f"{nonce}{token}".encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
        hashes.SHA256(),
    )
    return base64.b64encode(signature).decode()


def expect(response, status, what):
    if response.status_code != status:
        sys.exit(f"{what}: expected {status}, got {response.status_code}: {response.text}")
    return response


def main(base_url):
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private_key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode()
    username = f"seed-{uuid.uuid4().hex[:8]}"

    registered = expect(
        requests.post(
            f"{base_url}/register",
            json={"username": username, "email": f"{username}@example.com", "public_key": public_pem},
        ),
        201,
        "register",
    ).json()
    login = expect(
        requests.post(
            f"{base_url}/pop/login",
            json={"username": username, "password": registered["password"]},
        ),
        200,
        "pop login",
    ).json()
    token, nonce = login["jwt"], login["nonce"]

    # The seed's protected call.
    granted = expect(
        requests.post(
            f"{base_url}/protected",
            json={"jwt": token, "signed_message": sign(private_key, nonce, token)},
        ),
        200,
        "seed /protected",
    )
    if granted.json().get("message") != "Access granted":
        sys.exit(f"seed /protected: unexpected body {granted.text}")

    # The same again is a replay.
    expect(
        requests.post(
            f"{base_url}/protected",
            json={"jwt": token, "signed_message": sign(private_key, nonce, token)},
        ),
        401,
        "replayed nonce",
    )

    # The header form, with the nonce authd handed out.
    nonce = granted.headers["PoP-Nonce"]
    me = expect(
        requests.get(
            f"{base_url}/me",
            headers={
                "Authorization": f"PoP {token}",
                "PoP-Nonce": nonce,
                "PoP-Signature": sign(private_key, nonce, token),
            },
        ),
        200,
        "GET /me with PoP headers",
    ).json()
    if me["username"] != username:
        sys.exit(f"GET /me: wrong user {me}")

    # The token alone, as a bearer, opens nothing.
    expect(
        requests.get(f"{base_url}/me", headers={"Authorization": f"Bearer {token}"}),
        401,
        "bound token as Bearer",
    )
    print("seed-style PoP client: OK")


if __name__ == "__main__":
    main(sys.argv[1])
