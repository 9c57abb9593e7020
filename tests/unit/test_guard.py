"""The guard of tests/unit (tests/unit/conftest.py) refuses what the folder promises not to do."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys

import pytest


def test_starting_a_process_fails_here() -> None:
    with pytest.raises(RuntimeError, match="tests/unit starts no process"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)
    with pytest.raises(RuntimeError, match="tests/unit starts no process"):
        os.system("true")
    with pytest.raises(RuntimeError, match="tests/unit starts no process"):
        process = multiprocessing.get_context("spawn").Process(target=print)
        process.start()


def test_connecting_a_socket_fails_here() -> None:
    with pytest.raises(RuntimeError, match="connects no socket"):
        socket.create_connection(("127.0.0.1", 5432), timeout=1)
