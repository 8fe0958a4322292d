"""A local HTTP listener the tests' receivers can close and open again on the same port (a
receiver that is away, then back): shared by tests/backchannel_receiver.py and
tests/ssf_receiver.py."""

import threading
from http.server import ThreadingHTTPServer


class RestartableServer:
    """Serves `handler` on 127.0.0.1 (HTTPServer reuses the address, so `start` after `stop`
    takes the same port again)."""

    def __init__(self, handler):
        self.handler = handler
        self.port = 0
        self.server = None
        self.start()

    def start(self):
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.port = server.server_address[1]
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
