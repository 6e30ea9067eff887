"""A mock OpenAI upstream for end-to-end tests: serves the fixture files in OpenAI's
documented wire format (JSON bodies, SSE streams sent event by event with chunked encoding)."""
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "crates", "core", "tests", "fixtures")


def fixture(name: str, wire: str = "openai") -> bytes:
    with open(os.path.join(FIXTURES, wire, name), "rb") as f:
        return f.read()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list = []

    def log_message(self, *args):  # quiet
        pass

    def _headers(self, status: int, ctype: str, length=None):
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("x-request-id", "req_e2e_123")
        self.send_header("openai-processing-ms", "7")
        if length is None:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("content-length", str(length))
        self.end_headers()

    def _json(self, status: int, body: bytes):
        self._headers(status, "application/json", len(body))
        self.wfile.write(body)

    def _sse(self, body: bytes):
        self._headers(200, "text/event-stream; charset=utf-8")
        for event in body.decode().split("\n\n"):
            if not event:
                continue
            data = (event + "\n\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self):
        Handler.seen.append({"method": "GET", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
        if self.path.startswith("/v1/models"):
            self._json(200, b'{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"openai"}]}')
        else:
            self._json(404, b'{"error":{"message":"no route","type":"invalid_request_error"}}')

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        Handler.seen.append({"method": "POST", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": raw})
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        stream = body.get("stream") is True
        usage = (body.get("stream_options") or {}).get("include_usage") is True
        path = self.path.split("?")[0]
        if path == "/v1/chat/completions":
            if body.get("model") == "bad-key":
                self._json(401, fixture("error.json"))
            elif stream:
                self._sse(fixture("chat_stream.sse" if usage else "chat_stream_no_usage_of_same.sse"))
            else:
                self._json(200, fixture("chat.json"))
        elif path == "/v1/responses":
            if stream:
                self._sse(fixture("responses_stream.sse"))
            else:
                self._json(200, fixture("responses.json"))
        elif path == "/v1/messages":
            if stream:
                self._sse(fixture("messages_stream.sse", "anthropic"))
            else:
                self._json(200, fixture("messages.json", "anthropic"))
        elif path == "/v1/embeddings":
            self._json(200, fixture("embeddings.json"))
        elif path == "/v1/completions":
            self._json(200, fixture("completions.json"))
        else:
            self._json(404, b'{"error":{"message":"no route","type":"invalid_request_error"}}')


def start():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
