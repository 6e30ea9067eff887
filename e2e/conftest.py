"""Starts the mock upstream and the real llmflow binary for the end-to-end tests."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

import mock_upstream

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("LLMFLOW_BIN", os.path.join(ROOT, "target", "debug", "llmflow"))


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Llmflow:
    def __init__(self, upstream_url: str):
        self.otlp_http_port, self.otlp_grpc_port = free_port(), free_port()
        self.otlp_http = f"http://127.0.0.1:{self.otlp_http_port}"
        self.data_dir = tempfile.mkdtemp(prefix="llmflow-e2e-")
        env = dict(os.environ)
        for k in list(env):
            if k.startswith(("LLMFLOW_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "HELICONE_", "OTEL_", "OTLP_")) or k in ("PROXY_PORT", "DASHBOARD_PORT", "DB_PATH", "DATA_DIR"):
                del env[k]
        env.update({
            "LLMFLOW_OPENAI_BASE_URL": upstream_url,
            "LLMFLOW_ANTHROPIC_BASE_URL": upstream_url,
            "LLMFLOW_GEMINI_BASE_URL": upstream_url,
            "PRICING_URL": "",
            "NO_COLOR": "1",
        })
        self.proc = subprocess.Popen(
            [BIN, "--proxy-port", "0", "--dashboard-port", "0", "--data-dir", self.data_dir,
             "--otlp-http-port", str(self.otlp_http_port), "--otlp-grpc-port", str(self.otlp_grpc_port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True, cwd=self.data_dir,
        )
        self.proxy = self.api = None
        deadline = time.time() + 30
        while time.time() < deadline and not (self.proxy and self.api):
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"proxy (http://[\d.:]+) \| dashboard (http://[\d.:]+)", line)
            if m:
                self.proxy, self.api = m.group(1), m.group(2)
        if not self.proxy:
            self.proc.kill()
            raise RuntimeError("llmflow did not start")
        # Keep draining its output so it never blocks on a full pipe.
        import threading
        self.lines = []
        threading.Thread(target=lambda: [self.lines.append(l) for l in self.proc.stdout], daemon=True).start()

    def get(self, path: str):
        with urllib.request.urlopen(self.api + path, timeout=10) as r:
            return json.loads(r.read())

    def wait_for_spans(self, n: int):
        for _ in range(500):
            v = self.get("/api/traces?limit=1000")
            if v["total"] >= n:
                return v
            time.sleep(0.01)
        raise AssertionError(f"fewer than {n} spans stored")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)


@pytest.fixture()
def upstream():
    server = mock_upstream.start()
    mock_upstream.Handler.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture()
def llmflow(upstream):
    app = Llmflow(upstream)
    yield app
    app.stop()
