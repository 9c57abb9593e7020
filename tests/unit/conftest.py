"""tests/unit is the fast inner loop (`./dev unit`): no process is started and no socket is
connected while a test here sets up or runs. (Teardown is left alone: when the whole suite
runs, the session's Postgres and engine fixtures end in the last test's teardown.)

A test that needs either belongs in the folder that says so (tests/process for commands run
as processes, tests/db for Postgres and Redis, tests/integration for the running pipeline):
docs/design.md section 1. The guard makes the rule fail loudly instead of slowly.
"""

from __future__ import annotations

import _posixsubprocess
import os
import socket
import subprocess
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import pytest

_RULE = "tests/unit starts no process and connects no socket (see tests/unit/conftest.py)"


def _refuse(what: str) -> Callable[..., NoReturn]:
    def refused(*args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError(f"{what} inside tests/unit: {_RULE}")

    return refused


# What starts a process (subprocess, multiprocessing and os all end in one of these) or
# reaches another one over a socket.
_GUARDED: list[tuple[object, str]] = [
    (subprocess.Popen, "_execute_child"),
    # What subprocess and multiprocessing's spawn and forkserver start methods call.
    (_posixsubprocess, "fork_exec"),
    (os, "fork"),
    (os, "forkpty"),
    (os, "posix_spawn"),
    (os, "posix_spawnp"),
    (os, "system"),
    (os, "execv"),
    (os, "execve"),
    (socket.socket, "connect"),
    (socket.socket, "connect_ex"),
]


@contextmanager
def _no_processes_or_sockets() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for owner, name in _GUARDED:
            if hasattr(owner, name):
                patch.setattr(owner, name, _refuse(f"{getattr(owner, '__name__', owner)}.{name}"))
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with _no_processes_or_sockets():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _no_processes_or_sockets():
        return (yield)
