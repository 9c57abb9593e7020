"""`mentionbot model serve` on the real CPU engine, SIGKILLed: the engine dies with it.

The command prints the engine's pid; after a SIGKILL of the command (no handler of ours
runs) the kernel's parent-death signal ends vLLM, which frees its port.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from models.serving.server import free_port
from tests.fixtures.serve import alive, engine_pid, port_free, start_serve
from tests.fixtures.services import REPO, wait_for

pytestmark = [pytest.mark.engine]


def test_sigkilled_model_serve_frees_the_engine_port(tiny_model_dir: Path) -> None:
    port = free_port()
    log = REPO / "var" / "log" / "model-serve-test.log"
    proc = start_serve(
        ["--model", str(tiny_model_dir), "--name", "tiny-moe", "--port", str(port)], {}, log
    )
    child: int | None = None
    try:
        child = engine_pid(proc, log, timeout=300)
        assert alive(child) and not port_free(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: not alive(child), timeout=60, what="the engine to die with its parent")
        assert port_free(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if child is not None and alive(child):  # the failure this test is about: clean up
            os.killpg(child, signal.SIGKILL)
