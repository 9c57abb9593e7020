"""The model server for local runs: MENTIONBOT_LLM_URL if set, else the CPU engine here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from bot.settings import Settings
from models.profiles.definition import COMMON_ARGS, ModelProfile


@contextmanager
def local_engine(
    settings: Settings,
    console: Console,
    purpose: str,
    pids: list[int] | None = None,
    *,
    priority: bool = True,
) -> Iterator[str]:
    """The vLLM server to use: MENTIONBOT_LLM_URL if set, else the CPU engine started here
    with settings.model_profile's checkpoint, built here (its pid appended to `pids`, for a
    caller that measures it); `priority=False` starts it first-come first-served (without the
    priority scheduling every profile asks for, models.profiles.definition.COMMON_ARGS)."""
    if "MENTIONBOT_LLM_URL" in os.environ:
        yield settings.llm_url
        return
    from models.checkpoints import build_local
    from models.profiles.catalog import get_profile
    from models.serving.server import ServeConfig, VLLMServer, free_port

    profile = get_profile(settings.model_profile)
    if not priority:
        profile = _fcfs(profile)
    with console.status(f"building the {profile.name} checkpoint (first run only)"):
        model_dir = build_local(profile.name, settings.models_dir / profile.name)
    cfg = ServeConfig(
        model=str(model_dir),
        served_model_name=settings.llm_model,
        port=free_port(),
        profile=profile,
    )
    server = VLLMServer(cfg)
    log_path = settings.var_dir / "log" / f"vllm-{purpose}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with console.status(f"starting the CPU vLLM engine (about 20-60 s; log: {log_path})"):
        server.start(log_path)
        try:
            server.wait_ready(timeout_s=600)
        except BaseException:
            server.stop()
            raise
    if pids is not None and server.pid is not None:
        pids.append(server.pid)
    try:
        yield server.base_url
    finally:
        server.stop()


class _FcfsProfile(ModelProfile):
    """A profile served with vLLM's default first-come first-served scheduling instead of
    the priority one every profile asks for (what the pipeline bench compares)."""

    def vllm_args(self) -> list[str]:
        args = super().vllm_args()
        at = args.index(COMMON_ARGS[0])  # the scheduling flag and its value
        del args[at : at + 2]
        return args


def _fcfs(profile: ModelProfile) -> ModelProfile:
    from dataclasses import fields

    return _FcfsProfile(**{f.name: getattr(profile, f.name) for f in fields(profile)})
