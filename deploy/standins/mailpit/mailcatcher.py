"""A mail catcher standing in for Mailpit where no registry is reachable.

SMTP on :1025 (aiosmtpd) accepts every mail; HTTP on :8025 shows them newest first, and answers
the part of Mailpit's API the compose smoke test uses:
  GET /api/v1/messages         {"total": N, "messages": [{"ID", "Subject", "To": [{"Address"}], "Created"}]}
  GET /api/v1/message/ID       {"ID", "Subject", "To", "Text", "HTML"}
"""

import asyncio
import datetime
import email
import email.policy
import html
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

MESSAGES = []  # newest last
LOCK = threading.Lock()
KEEP = 500


class Catcher:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        parts = {}
        for kind, key in (("plain", "Text"), ("html", "HTML")):
            body = message.get_body(preferencelist=(kind,))
            parts[key] = body.get_content() if body is not None else ""
        record = {
            "ID": str(uuid.uuid4()),
            "Subject": str(message.get("subject", "")),
            "From": {"Address": envelope.mail_from},
            "To": [{"Address": rcpt} for rcpt in envelope.rcpt_tos],
            "Created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            **parts,
        }
        with LOCK:
            MESSAGES.append(record)
            del MESSAGES[:-KEEP]
        return "250 OK"


def summary(record):
    return {key: record[key] for key in ("ID", "Subject", "From", "To", "Created")}


class Pages(BaseHTTPRequestHandler):
    def send(self, status, body, content_type):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with LOCK:
            messages = list(reversed(MESSAGES))
        if self.path == "/api/v1/messages" or self.path.startswith("/api/v1/messages?"):
            body = {"total": len(messages), "messages": [summary(m) for m in messages]}
            return self.send(200, json.dumps(body), "application/json")
        if self.path.startswith("/api/v1/message/"):
            wanted = self.path.rsplit("/", 1)[-1]
            for record in messages:
                if record["ID"] == wanted:
                    return self.send(200, json.dumps(record), "application/json")
            return self.send(404, json.dumps({"error": "not found"}), "application/json")
        if self.path == "/":
            items = "".join(
                "<article><h2>{}</h2><p>To {} at {}</p><pre>{}</pre></article>".format(
                    html.escape(m["Subject"]),
                    html.escape(", ".join(t["Address"] for t in m["To"])),
                    html.escape(m["Created"]),
                    html.escape(m["Text"]),
                )
                for m in messages
            )
            page = ("<!DOCTYPE html><html lang=en><meta charset=utf-8><title>Mail caught</title>"
                    "<h1>Mail caught ({})</h1>{}</html>").format(len(messages), items or "<p>None yet.</p>")
            return self.send(200, page, "text/html; charset=utf-8")
        return self.send(404, "not found", "text/plain")

    def log_message(self, *args):
        pass


def main():
    controller = Controller(Catcher(), hostname="0.0.0.0", port=1025, server_hostname="mailpit")
    controller.start()
    ThreadingHTTPServer(("0.0.0.0", 8025), Pages).serve_forever()


if __name__ == "__main__":
    main()
