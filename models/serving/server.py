"""Launch vLLM's OpenAI-compatible server as a subprocess and manage its lifetime."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import DEVNULL, Popen
from types import FrameType, TracebackType
from typing import IO, Any

import httpx

from models.profiles.catalog import LOCAL_PROFILE, get_profile
from models.profiles.definition import ModelProfile, serve_command

__all__ = [
    "ServeConfig",
    "ServerStartError",
    "VLLMServer",
    "build_command",
    "build_env",
    "die_with_parent",
    "free_port",
    "serve_forever",
]

# Forced on: nothing here may reach a hub or phone home, whatever the caller's environment.
OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_DO_NOT_TRACK": "1",
    "DO_NOT_TRACK": "1",
}

# Defaults a caller may override.
DEFAULT_ENV: dict[str, str] = {
    # GiB of KV cache; without it the CPU engine sizes the cache from free memory.
    "VLLM_CPU_KVCACHE_SPACE": "1",
    # Lets the CPU platform keep the "uni" executor (model inside the engine-core process)
    # instead of forcing a separate worker process; see ServeConfig.single_process.
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    # One compute thread: on 2 cores a spinning OpenMP team starves the API server and the
    # client, and throughput at 32 concurrent requests dropped from ~6,500 to under 1,000 tok/s.
    "OMP_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # Log lines reach the file as they happen, so a failed start shows its real last words.
    "PYTHONUNBUFFERED": "1",
}


# linux/prctl.h: deliver a signal to this process when its parent dies.
_PR_SET_PDEATHSIG = 1


class ServerStartError(RuntimeError):
    """The vLLM server exited or did not become ready in time."""


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn that makes the child get `sig` when this process dies (Linux only).

    The kernel sends it even when the parent is SIGKILLed, so a killed `mentionbot model
    serve` never leaves vLLM holding its port. SIGTERM, not SIGKILL: vLLM then shuts down
    its own engine-core processes (GPU profiles) instead of orphaning them. None elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return None
    # Loaded here, in the parent: the child runs no imports between fork and exec.
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            os._exit(126)
        # The parent may have died between fork and prctl: then nobody will send it.
        if os.getppid() != parent:
            os._exit(1)

    return preexec


@dataclass
class ServeConfig:
    """How to run one vLLM OpenAI-compatible server."""

    model: str
    served_model_name: str
    host: str = "127.0.0.1"
    port: int = 8000
    # Every model flag (dtype, context length, eager mode, scheduling, ...) comes from the
    # profile in models/profiles/catalog.py; the tiny MoE's profile by default.
    profile: ModelProfile = field(default_factory=lambda: get_profile(LOCAL_PROFILE))
    # Replaces the profile's context length when set (e.g. a smaller window for test builds);
    # the flag itself is still written once, by the profile.
    max_model_len: int | None = None
    # Anything else; a flag the profile already sets is refused, not silently doubled.
    extra_args: list[str] = field(default_factory=list)
    # Run the model in the engine-core process ("uni" executor) rather than in a separate
    # worker: on a 2-core CPU box this starts ~6 s faster, uses ~400 MB less memory, and
    # avoids two processes busy-polling each other. Set False for tensor parallelism.
    single_process: bool = True


def build_command(cfg: ServeConfig) -> list[str]:
    """The argv that starts vLLM's OpenAI server for cfg: the profile's, plus extra_args."""
    profile = cfg.profile
    if cfg.max_model_len is not None:
        profile = dataclasses.replace(profile, max_model_len=cfg.max_model_len)
    cmd = serve_command(profile, cfg.served_model_name, cfg.host, cfg.port, model=cfg.model)
    repeated = sorted(_option_names(cmd) & _option_names(cfg.extra_args))
    if repeated:
        raise ValueError(f"extra_args repeat flags the profile already sets: {repeated}")
    if "--distributed-executor-backend" not in cfg.extra_args:
        # Explicit both ways: with VLLM_ENABLE_V1_MULTIPROCESSING=0 in the env (build_env)
        # vLLM would pick "uni" on its own, so "mp" has to be asked for.
        cmd += ["--distributed-executor-backend", "uni" if cfg.single_process else "mp"]
    return [*cmd, *cfg.extra_args]


def _option_names(args: list[str]) -> set[str]:
    """Option names in an argv (`--x=1` counts as `--x`)."""
    return {a.split("=", 1)[0] for a in args if a.startswith("--")}


def build_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for the server: base plus CPU defaults and forced offline flags."""
    env = dict(base)
    for key, value in DEFAULT_ENV.items():
        env.setdefault(key, value)
    env.update(OFFLINE_ENV)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on host a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _client_host(host: str) -> str:
    """The address a local client should dial for a server bound to host."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class VLLMServer:
    """One vLLM server subprocess in its own process group."""

    def __init__(self, cfg: ServeConfig, env: Mapping[str, str] | None = None) -> None:
        """Prepare (but do not start) a server for cfg; env defaults to os.environ."""
        self.cfg = cfg
        self.env = build_env(os.environ if env is None else env)
        self.log_path: Path | None = None
        self._proc: Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """Root URL of the server, e.g. http://127.0.0.1:8000 (the API is under /v1)."""
        return f"http://{_client_host(self.cfg.host)}:{self.cfg.port}"

    @property
    def model(self) -> str:
        """The served model name clients put in requests."""
        return self.cfg.served_model_name

    @property
    def pid(self) -> int | None:
        """Process id of the server (also its process group id), if started."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(
        self, log_path: Path | None = None, *, console: bool = False, tied: bool = False
    ) -> None:
        """Spawn the server; output goes to log_path (a temp file if None) or the console.

        `tied`: the server gets SIGTERM when this process dies, however it dies (Linux's
        parent-death signal); for a long-running `serve`, whose parent does nothing else.
        """
        if self._proc is not None:
            raise RuntimeError("server already started")
        stdout: IO[bytes] | None = None
        if not console:
            if log_path is None:
                fd, name = tempfile.mkstemp(prefix=f"vllm-{self.cfg.port}-", suffix=".log")
                os.close(fd)
                log_path = Path(name)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path = log_path
            self._log_file = stdout = log_path.open("wb")
        self._proc = Popen(
            build_command(self.cfg),
            env=self.env,
            stdin=DEVNULL,
            stdout=stdout,
            stderr=stdout,
            # Own session and group: stop() can signal the API server and the engine core it
            # forks together, and a Ctrl-C meant for the parent does not hit them directly.
            start_new_session=True,
            # Only for the serve path: preexec_fn is not safe in a process running threads.
            preexec_fn=die_with_parent() if tied else None,
        )

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        """Block until /v1/models lists the served model; raise ServerStartError otherwise."""
        if self._proc is None:
            raise RuntimeError("server not started")
        deadline = time.monotonic() + timeout_s
        url = f"{self.base_url}/v1/models"
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise ServerStartError(
                        f"vLLM server exited with code {code} before it was ready\n"
                        + self.log_tail()
                    )
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    resp = client.get(url)
                    if resp.status_code == 200 and self.model in _model_ids(resp.json()):
                        return
                if time.monotonic() >= deadline:
                    raise ServerStartError(
                        f"vLLM server not ready after {timeout_s:.0f} s at {url}\n"
                        + self.log_tail()
                    )
                time.sleep(0.5)

    def stop(self, grace_s: float = 20.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after grace_s; return the exit code."""
        proc = self._proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
                with contextlib.suppress(TimeoutError, OSError):
                    proc.wait(timeout=grace_s)
            # The engine core can outlive the API server briefly; give the group the rest of
            # the grace period, then make sure nothing of it is left.
            deadline = time.monotonic() + grace_s
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _group_alive(proc.pid):
                _signal_group(proc.pid, signal.SIGKILL)
            return proc.wait()
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the server log (or a note when output went to the console)."""
        if self.log_path is None:
            return "(server output went to the console)"
        try:
            text = self.log_path.read_bytes()[-64_000:].decode("utf-8", "replace")
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{tail}"

    def __enter__(self) -> VLLMServer:
        """Start (if needed) and wait until ready; stop again if that fails."""
        if self._proc is None:
            self.start(self.log_path)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()


def _model_ids(payload: Any) -> list[str]:
    """Model ids in a /v1/models response body."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        return []
    return [str(item.get("id")) for item in data if isinstance(item, dict)]


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send sig to a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """True while a live (non-zombie) process is in the group."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    # killpg(pgid, 0) also succeeds for zombies, and an orphaned engine core may stay a
    # zombie for a while if PID 1 is slow to reap, so read the process table instead.
    for stat in proc_dir.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


@contextlib.contextmanager
def _stop_signals(event: threading.Event) -> Iterator[None]:
    """Route SIGINT and SIGTERM to event for the duration."""

    def handler(signum: int, frame: FrameType | None) -> None:
        event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve_forever(
    cfg: ServeConfig, log_path: Path | None = None, ready_timeout_s: float = 300.0
) -> int:
    """Run the server until SIGINT/SIGTERM or until it dies; return an exit status."""
    server = VLLMServer(cfg)
    stop = threading.Event()
    with _stop_signals(stop):
        # Tied to this process: a SIGKILL here still ends the engine and frees its port.
        server.start(log_path, console=log_path is None, tied=True)
        print(f"vLLM engine pid {server.pid} (starting on port {cfg.port})", flush=True)
        try:
            server.wait_ready(ready_timeout_s)
            print(
                f"vLLM serving {cfg.served_model_name!r} at {server.base_url}/v1 "
                f"(engine pid {server.pid})",
                flush=True,
            )
            if server.log_path is not None:
                print(f"log: {server.log_path}", flush=True)
            while not stop.wait(1.0):
                if not server.is_running():
                    print("vLLM server exited unexpectedly", file=sys.stderr, flush=True)
                    return 1
            return 0
        except ServerStartError as exc:
            print(str(exc), file=sys.stderr, flush=True)
            return 1
        finally:
            server.stop()
