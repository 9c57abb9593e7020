"""The production processes as subprocesses, started the way an operator starts them.

The soak benchmark and the fault and hostile suites run `mentionbot sandbox`, `listen`, a
generate worker, a post worker and `beat` as separate processes on real Postgres and Redis,
each with its own metrics port, so they can be killed (SIGKILL, for real), restarted and
measured one by one. The model server is given (MENTIONBOT_LLM_URL): the caller's engine,
or a fault proxy in front of it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

ROLES = ("sandbox", "listener", "generate", "post", "beat")


class ClusterError(RuntimeError):
    """A process did not come up (its log's tail says why)."""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _args(role: str, name: str, sandbox_port: int, var: Path) -> list[str]:
    if role == "sandbox":
        return ["sandbox", "--port", str(sandbox_port)]
    if role == "listener":
        return ["listen"]
    if role == "beat":
        return ["beat", "--schedule", str(var / "celerybeat-schedule")]
    # One worker per queue, as in production: a generate worker waits on the model (threads),
    # a post worker on X. "generate2", "generate3", ... are more workers on the same queue.
    queue = role.rstrip("0123456789")
    concurrency = "32" if queue == "generate" else "8"
    return [
        "worker",
        "--queues",
        queue,
        "--pool",
        "threads",
        "--concurrency",
        concurrency,
        "--hostname",
        f"{role}-{name}@%h",
    ]


@dataclass
class Cluster:
    """The bot's processes for one run: `env` is what every process gets (MENTIONBOT_*)."""

    env: dict[str, str]
    var: Path
    name: str = "cluster"
    sandbox_limits: tuple[str, ...] = ()
    # More roles (e.g. "generate2") or a role's own settings (e.g. its MENTIONBOT_LLM_URL).
    role_env: dict[str, dict[str, str]] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    _logs: dict[str, IO[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.var.mkdir(parents=True, exist_ok=True)
        self.ports = {role: free_port() for role in (*ROLES, *self.role_env)}
        self.ports["x"] = free_port()
        self.env = {**self.env, "MENTIONBOT_X_API_URL": self.sandbox_url}

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['x']}"

    def log_path(self, role: str) -> Path:
        return self.var / f"{self.name}-{role}.log"

    def start(self, role: str, *, wait: bool = True) -> subprocess.Popen[bytes]:
        """Start one process (its metrics and /healthz on its own port)."""
        args = _args(role, self.name, self.ports["x"], self.var)
        if role == "sandbox":
            for limit in self.sandbox_limits:
                args += ["--limit", limit]
        log = self._logs.get(role) or self.log_path(role).open("ab")
        self._logs[role] = log
        env = {
            **os.environ,
            **self.env,
            **self.role_env.get(role, {}),
            "MENTIONBOT_METRICS_PORT": str(self.ports[role]),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs[role] = proc
        if wait:
            self.wait_healthy(role)
        return proc

    def start_all(self, roles: tuple[str, ...] = ROLES) -> None:
        """Start the given roles (the sandbox first: the others read it at start-up)."""
        for role in roles:
            self.start(role, wait=role == "sandbox")
        for role in roles:
            self.wait_healthy(role)

    def health_url(self, role: str) -> str:
        if role == "sandbox":
            return f"{self.sandbox_url}/sandbox/health"
        return f"http://127.0.0.1:{self.ports[role]}/healthz"

    def healthy(self, role: str) -> bool:
        try:
            return httpx.get(self.health_url(role), timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, role: str, timeout_s: float = 90.0) -> None:
        """Until the process answers its health check; ClusterError if it exits or hangs."""
        deadline = time.monotonic() + timeout_s
        proc = self.procs[role]
        while not self.healthy(role):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"{role} did not come up; log tail:\n{self.tail(role)}")
            time.sleep(0.2)

    def kill(self, role: str) -> None:
        """SIGKILL: no clean shutdown, no acks, whatever was in flight stays where it was."""
        proc = self.procs[role]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self, role: str, timeout_s: float = 30.0) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it does not end in time."""
        proc = self.procs.get(role)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill(role)

    def rss_mb(self, role: str) -> float:
        """The process's resident memory in MB (from /proc)."""
        status = Path(f"/proc/{self.procs[role].pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def alive(self) -> dict[str, bool]:
        return {role: proc.poll() is None for role, proc in self.procs.items()}

    def tail(self, role: str, lines: int = 30) -> str:
        text = self.log_path(role).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        for role in reversed(list(self.procs)):
            self.stop(role)
        for log in self._logs.values():
            log.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def wait_until(
    predicate: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.5
) -> None:
    """Poll until `predicate()` is truthy; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)
