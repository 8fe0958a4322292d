#!/usr/bin/env python3
"""A relying party's back-channel logout endpoint for authd's tests (OpenID Connect
Back-Channel Logout 1.0 §2.6): every logout token is validated twice against authd's JWKS, as
§2.6 says a relying party must, and never with authd's code: by pyoidc (`oic`), a relying-party
library with its own back-channel logout handling (BackChannelLogoutRequest), and by PyJWT with
each check spelled out.

    backchannel_receiver.py --jwks URL --issuer ISS --client-id ID

Prints `ready <port>` once it listens, then one JSON line per request:
{"verified", "error", "status", "claims", "header"}. Reads commands on stdin, one a line:
`down` (refuse connections, as a relying party that is away: the listener closes), `up`,
`slow` (answer only after 30 s, as a hung relying party), `fast`. Stops when stdin closes.
"""

import argparse
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

import jwt
from oic.oic.message import BackChannelLogoutRequest
from oic.utils.keyio import KeyBundle

from restartable_server import RestartableServer

EVENT = "http://schemas.openid.net/event/backchannel-logout"
STATE = {"slow": False}
LOCK = threading.Lock()
ARGS = None


def validate(token):
    """§2.6: the checks a relying party makes, each by PyJWT or spelled out."""
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "logout+jwt":
        raise ValueError(f"typ is {header.get('typ')!r}, not logout+jwt")
    key = jwt.PyJWKClient(ARGS.jwks).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=[header["alg"]],
        audience=ARGS.client_id,
        issuer=ARGS.issuer,
        options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]},
    )
    events = claims.get("events")
    if not isinstance(events, dict) or events.get(EVENT) != {}:
        raise ValueError(f"events is {events!r}")
    if "sid" not in claims and "sub" not in claims:
        raise ValueError("neither sid nor sub")
    if "nonce" in claims:
        raise ValueError("a logout token must not carry a nonce")
    return header, claims


def validate_with_pyoidc(body):
    """pyoidc's own handling of a back-channel logout request: the form, the token's signature
    by a key of the JWKS, and the logout token's rules (events, no nonce, sub or sid, iss, aud,
    iat)."""
    bundle = KeyBundle(source=ARGS.jwks)
    keys = bundle.keys()
    request = BackChannelLogoutRequest().from_urlencoded(body)
    request.verify(key=keys, iss=ARGS.issuer, aud=ARGS.client_id)
    return request["logout_token"].to_dict()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length).decode()
        form = urllib.parse.parse_qs(body)
        with LOCK:
            slow = STATE["slow"]
        if slow:
            time.sleep(30)
        verified, error, claims, header = False, None, None, None
        try:
            if self.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
                raise ValueError(f"content-type {self.headers.get('content-type')!r}")
            tokens = form.get("logout_token", [])
            if len(tokens) != 1:
                raise ValueError(f"{len(tokens)} logout_token fields")
            header, claims = validate(tokens[0])
            by_pyoidc = validate_with_pyoidc(body)
            if by_pyoidc["sid"] != claims["sid"]:
                raise ValueError(f"pyoidc read {by_pyoidc}, PyJWT {claims}")
            verified = True
        except Exception as err:  # noqa: BLE001: every failure is reported, none is fatal
            error = f"{type(err).__name__}: {err}"
        status = 200 if verified else 400
        try:
            self.send_response(status)
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
        except OSError:
            return
        line = {"verified": verified, "error": error, "status": status, "claims": claims,
                "header": header, "slow": slow}
        with LOCK:
            print(json.dumps(line), flush=True)

    def log_message(self, *args):
        pass


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--jwks", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    ARGS = parser.parse_args()
    server = RestartableServer(Handler)
    print(f"ready {server.port}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "down":
            server.stop()
        elif command == "up":
            server.start()
        elif command == "slow":
            with LOCK:
                STATE["slow"] = True
        elif command == "fast":
            with LOCK:
                STATE["slow"] = False
        with LOCK:
            print(json.dumps({"ack": command}), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
