#!/usr/bin/env python3
"""A Shared Signals receiver for authd's tests: every Security Event Token authd sends is
validated against authd's JWKS by PyJWT, never by authd's code, with the checks SSF 1.0 §4 and
RFC 8417 ask of a receiver spelled out.

    ssf_receiver.py --jwks URL --issuer ISS --audience AUD [--authorization VALUE]

A push endpoint (RFC 8935): prints `ready <port>` once it listens, then one JSON line per
request: {"verified", "error", "status", "claims", "header", "authorization"}, answering 202
for a SET it accepts and 400 with {"err", "description"} for one it refuses.

Commands on stdin, one a line, each acknowledged with {"ack": ...}:
`down` (the listener closes, as a receiver that is away), `up`, and `verify TOKEN` (a SET
taken by poll: validated the same way, printed as a request line with "polled": true).
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler

import jwt

from restartable_server import RestartableServer

LOCK = threading.Lock()
ARGS = None


def validate(token):
    """SSF 1.0 §4.1 and RFC 8417: explicit typing, the transmitter's key, iss and aud, a jti and
    an iat, one event, and neither sub nor exp (which would let a SET pass for another JWT)."""
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "secevent+jwt":
        raise ValueError(f"typ is {header.get('typ')!r}, not secevent+jwt")
    key = jwt.PyJWKClient(ARGS.jwks).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=[header["alg"]],
        audience=ARGS.audience,
        issuer=ARGS.issuer,
        options={"require": ["iss", "aud", "iat", "jti", "events"], "verify_exp": False},
    )
    if "sub" in claims or "exp" in claims:
        raise ValueError("a SET carries neither sub nor exp (SSF 1.0 §4.1.2, §4.1.6)")
    events = claims["events"]
    if not isinstance(events, dict) or len(events) != 1:
        raise ValueError(f"events is {events!r}: one event a SET")
    if not isinstance(claims.get("sub_id"), dict) or "format" not in claims["sub_id"]:
        raise ValueError(f"sub_id is {claims.get('sub_id')!r}")
    return header, claims


def report(token, extra):
    verified, error, header, claims = False, None, None, None
    try:
        header, claims = validate(token)
        verified = True
    except Exception as err:  # noqa: BLE001: every failure is reported, none is fatal
        error = f"{type(err).__name__}: {err}"
    line = {"verified": verified, "error": error, "claims": claims, "header": header, **extra}
    with LOCK:
        print(json.dumps(line), flush=True)
    return verified, error


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length).decode()
        content_type = self.headers.get("content-type", "").split(";")[0]
        authorization = self.headers.get("authorization")
        if content_type != "application/secevent+jwt":
            verified, error = False, f"content-type {content_type!r}"
            with LOCK:
                print(json.dumps({"verified": False, "error": error}), flush=True)
        elif ARGS.authorization and authorization != ARGS.authorization:
            verified, error = False, "authorization header missing or wrong"
            with LOCK:
                print(json.dumps({"verified": False, "error": error}), flush=True)
        else:
            verified, error = report(body, {"authorization": authorization, "polled": False})
        try:
            if verified:
                self.send_response(202)
                self.end_headers()
            else:
                answer = json.dumps({"err": "invalid_request", "description": error}).encode()
                self.send_response(400)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
        except OSError:
            pass

    def log_message(self, *args):
        pass


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--jwks", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--authorization")
    ARGS = parser.parse_args()
    server = RestartableServer(Handler)
    print(f"ready {server.port}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "down":
            server.stop()
        elif command == "up":
            server.start()
        elif command.startswith("verify "):
            report(command.removeprefix("verify "), {"polled": True})
        with LOCK:
            print(json.dumps({"ack": command.split(" ")[0]}), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
