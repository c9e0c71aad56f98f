#!/usr/bin/env python3
"""A minimal serverless upstream for signalr-emulator (or Azure SignalR Service).

Standard library only. Run it, then start the emulator pointing at it:

    python3 upstream.py 7071
    signalr-emulator start --upstream http://localhost:7071/upstream

It checks X-ASRS-Signature, logs connected/disconnected, and answers client
invocations of `echo` and `add` with a framed JSON Completion, which the
emulator forwards to the client as is. Port 0 picks a free port; the first
line printed is always `listening on http://127.0.0.1:<port>`.
"""

import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The key the emulator signs with (its default unless you passed --access-key).
ACCESS_KEY = os.environ.get("ACCESS_KEY", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH")
RECORD_SEPARATOR = "\x1e"  # ends every JSON hub message

# Hub methods clients can invoke: target -> function of the arguments.
HANDLERS = {
    "echo": lambda text: text,
    "add": lambda a, b: a + b,
}


def signature_ok(connection_id: str, header: str) -> bool:
    """True when any `sha256=<hex>` entry is HMAC-SHA256(access key, connection id)."""
    digest = hmac.new(ACCESS_KEY.encode(), connection_id.encode(), hashlib.sha256).hexdigest()
    return any(
        hmac.compare_digest(entry.strip().lower(), f"sha256={digest}")
        for entry in header.split(",")
    )


class Upstream(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        connection_id = self.headers.get("X-ASRS-Connection-Id", "")
        if not signature_ok(connection_id, self.headers.get("X-ASRS-Signature", "")):
            return self.reply(401)
        category = self.headers.get("X-ASRS-Category")
        event = self.headers.get("X-ASRS-Event")
        if category == "connections":  # connected / disconnected: nothing to answer
            print(f"{event}: {connection_id} (user {self.headers.get('X-ASRS-User-Id')})", flush=True)
            return self.reply(200)
        if self.headers.get("Content-Type") != "application/json":
            return self.reply(415)  # this example speaks the JSON hub protocol only
        message = json.loads(body)
        handler = HANDLERS.get(event)
        if handler is None:
            return self.reply(404)
        try:
            answer = {"result": handler(*message.get("arguments", []))}
        except Exception as err:  # the client gets the error text, as from Azure Functions
            answer = {"error": str(err)}
        if "invocationId" not in message:
            return self.reply(200)  # connection.send(): nobody waits for an answer
        completion = {"type": 3, "invocationId": message["invocationId"], **answer}
        self.reply(200, (json.dumps(completion) + RECORD_SEPARATOR).encode())

    def reply(self, status: int, body: bytes = b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass  # keep the output to the events above


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 7071
    server = ThreadingHTTPServer(("127.0.0.1", port), Upstream)
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
