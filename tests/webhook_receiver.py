#!/usr/bin/env python3
"""A webhook receiver for authd's tests: verifies every delivery with the Standard Webhooks
reference library (`standardwebhooks` on PyPI), not with authd's code.

    webhook_receiver.py [--port P]

Prints `ready <port>` once it listens, then one JSON line per delivery:
{"id", "timestamp", "verified", "error", "status", "payload"}. Reads commands on stdin, one a
line: `secret whsec_…` (the secret to verify with, from the subscription authd created),
`down` (answer 503 to every delivery, as a receiver that is away), `gone` (answer 410, as an
endpoint that will never take deliveries again), `up`. Stops when stdin closes.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

STATE = {"secret": None, "down": False, "gone": False}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        with LOCK:
            secret, down, gone = STATE["secret"], STATE["down"], STATE["gone"]
        verified, error, payload = False, None, None
        try:
            if secret is None:
                raise WebhookVerificationError("no secret given to the receiver yet")
            payload = Webhook(secret).verify(body, headers)
            verified = True
        except (WebhookVerificationError, ValueError) as err:
            error = str(err)
        status = 410 if gone else 503 if down else (204 if verified else 400)
        self.send_response(status)
        self.end_headers()
        line = {
            "id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "verified": verified,
            "error": error,
            "status": status,
            "payload": payload,
        }
        with LOCK:
            print(json.dumps(line), flush=True)

    def log_message(self, *args):
        pass


def commands(server):
    for line in sys.stdin:
        command = line.strip()
        with LOCK:
            if command.startswith("secret "):
                STATE["secret"] = command.split(" ", 1)[1]
            elif command == "down":
                STATE["down"] = True
            elif command == "gone":
                STATE["gone"] = True
            elif command == "up":
                STATE["down"] = False
                STATE["gone"] = False
        print(json.dumps({"ack": command.split(" ", 1)[0]}), flush=True)
    server.shutdown()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"ready {server.server_address[1]}", flush=True)
    threading.Thread(target=commands, args=(server,), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
