"""The compose cluster as a user meets it, through nginx on the published port.

Registers a user, logs in with the OAuth password grant, verifies the access token with PyJWT
against the published JWKS (an independent verifier), then presents it to every replica directly
(`docker exec` + curl inside each container, so each replica's own verification path answers),
checks readiness, and finds the mail confirming the user's address in the mail catcher (its
Mailpit API). Run by deploy/compose-test.sh:

    python3 tests/containers/smoke.py --base http://127.0.0.1:18080 --project authd-ci \
        --mail http://127.0.0.1:18025
"""

import argparse
import json
import secrets
import subprocess
import time

import jwt
import requests

from engine import container

REPLICAS = ("authd-1", "authd-2", "authd-3")


def in_replica(project: str, service: str, *curl_args: str) -> tuple[int, str]:
    """curl inside a replica's container, against that replica alone; (status, body)."""
    out = subprocess.run(
        ["docker", "exec", container(project, service), "curl", "-s",
         "-w", "\n%{http_code}", *curl_args],
        check=True, capture_output=True, text=True,
    ).stdout
    body, _, status = out.rpartition("\n")
    return int(status), body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--mail", required=True, help="the mail catcher's web UI (Mailpit's API)")
    args = parser.parse_args()
    base = args.base
    http = requests.Session()

    ready = http.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200, (ready.status_code, ready.text)

    username = f"compose-{secrets.token_hex(4)}"
    registered = http.post(f"{base}/register", timeout=10,
                           json={"username": username, "email": f"{username}@example.com"})
    assert registered.status_code == 201, (registered.status_code, registered.text)
    password = registered.json()["password"]

    token = http.post(f"{base}/oauth/token", timeout=10, data={
        "grant_type": "password", "username": username, "password": password})
    assert token.status_code == 200, (token.status_code, token.text)
    access_token = token.json()["access_token"]

    jwks = http.get(f"{base}/.well-known/jwks.json", timeout=5)
    assert jwks.status_code == 200, jwks.status_code
    kid = jwt.get_unverified_header(access_token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks.json())[kid]
    claims = jwt.decode(access_token, key.key, algorithms=[key.algorithm_name],
                        audience="authd", options={"require": ["exp", "iat", "sub", "jti"]})

    for service in REPLICAS:
        status, body = in_replica(args.project, service, "-H",
                                  f"Authorization: Bearer {access_token}",
                                  "http://127.0.0.1:8080/me")
        assert status == 200, (service, status, body)
        assert json.loads(body)["username"] == username, (service, body)
        status, body = in_replica(args.project, service, "http://127.0.0.1:8080/readyz")
        assert status == 200, (service, status, body)
        # Every replica publishes the same key set: any of them verifies any token.
        status, body = in_replica(args.project, service,
                                  "http://127.0.0.1:8080/.well-known/jwks.json")
        assert status == 200 and kid in body, (service, status)

    # The registration mailed a confirmation link, through the outbox, to the catcher.
    address = f"{username}@example.com"
    deadline = time.monotonic() + 30
    mail = None
    while mail is None and time.monotonic() < deadline:
        listed = http.get(f"{args.mail}/api/v1/messages", timeout=5)
        assert listed.status_code == 200, (listed.status_code, listed.text)
        mail = next((m for m in listed.json()["messages"]
                     if m["Subject"] == "Confirm your email address"
                     and any(to["Address"] == address for to in m["To"])), None)
        if mail is None:
            time.sleep(0.5)
    assert mail is not None, f"no confirmation mail to {address} in the catcher"
    text = http.get(f"{args.mail}/api/v1/message/{mail['ID']}", timeout=5).json()["Text"]
    assert f"{base.replace('127.0.0.1', 'localhost')}/ui/verify-email?token=" in text \
        or "/ui/verify-email?token=" in text, text

    print(f"compose smoke: {username} registered, token for sub {claims['sub']} "
          f"verified by PyJWT and by {', '.join(REPLICAS)}; /readyz 200; "
          f"the confirmation mail reached the catcher")


if __name__ == "__main__":
    main()
