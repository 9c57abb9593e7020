"""`mentionbot model serve` SIGKILLed: the server it started dies too and frees its port.

The child here is a stand-in for vLLM's API server module (first on PYTHONPATH), so the
whole real launcher path runs in seconds: the CLI, serve_forever, VLLMServer.start with the
parent-death signal, the pid it prints. tests/engine/test_model_serve.py does the same with
the real CPU engine.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from models.serving.server import free_port
from tests.fixtures.serve import alive, engine_pid, port_free, start_serve
from tests.fixtures.services import wait_for

STUB_SERVER = """
import argparse, json, signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--host")
parser.add_argument("--port", type=int)
parser.add_argument("--served-model-name")
args, _ = parser.parse_known_args()

def on_term(signum, frame):
    with open(MARK, "w") as f:
        f.write(signal.Signals(signum).name)
    sys.exit(0)

signal.signal(signal.SIGTERM, on_term)

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        body = json.dumps({"data": [{"id": args.served_model_name}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()
"""


def _stub_vllm(root: Path, mark: Path) -> Path:
    """A `vllm.entrypoints.openai.api_server` that answers /v1/models and notes SIGTERM."""
    package = root / "vllm" / "entrypoints" / "openai"
    package.mkdir(parents=True)
    for init in (root / "vllm", root / "vllm" / "entrypoints", package):
        (init / "__init__.py").write_text("")
    (package / "api_server.py").write_text(f"MARK = {str(mark)!r}\n{STUB_SERVER}")
    return root


def test_a_killed_serve_takes_its_server_with_it(tmp_path: Path) -> None:
    mark = tmp_path / "signal"
    stub = _stub_vllm(tmp_path / "stub", mark)
    port = free_port()
    log = tmp_path / "serve.log"
    env = {"PYTHONPATH": os.pathsep.join([str(stub), os.environ.get("PYTHONPATH", "")])}
    proc = start_serve(
        ["--model", str(tmp_path / "checkpoint"), "--name", "stub", "--port", str(port)], env, log
    )
    child: int | None = None
    try:
        child = engine_pid(proc, log, timeout=60)
        assert child != proc.pid and alive(child)
        assert not port_free(port)
        proc.send_signal(signal.SIGKILL)  # no handler runs: only the kernel can tell the child
        proc.wait(10)
        wait_for(lambda: not alive(child), timeout=20, what="the server to die with its parent")
        wait_for(lambda: port_free(port), timeout=10, what="the port to be freed")
        assert mark.read_text() == "SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if child is not None and alive(child):  # the failure this test is about: clean up
            os.kill(child, signal.SIGKILL)
