"""Each MoE architecture our model profiles name, run through the real CPU vLLM engine.

One tiny checkpoint per architecture (models/checkpoints/tiny_archs.py) and one server at a time. An
architecture the engine cannot run is not skipped: the test asserts the engine's own error,
so a vLLM that starts supporting it fails here and asks for CPU_ENGINE_RESULTS (and the
profile table built on it) to be updated.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.checkpoints.build import weights_sha256
from models.checkpoints.tiny_archs import (
    ARCHITECTURES,
    build_tiny_arch,
    expected_error,
    is_built,
    serve_args,
)
from models.profiles.definition import CPU_ENGINE_RESULTS, GPT_OSS, UNSUPPORTED_PREFIX, WORKS
from models.serving.server import ServeConfig, ServerStartError, VLLMServer, free_port

pytestmark = pytest.mark.engine

REPO_ROOT = Path(__file__).resolve().parents[2]
ARCH_DIR = REPO_ROOT / "var" / "models" / "tiny-archs"
LOG_DIR = REPO_ROOT / "var" / "log"
SERVED_MODEL_NAME = "tiny-arch"
# Working builds are up in 20-35 s here; unsupported ones exit within ~15 s.
READY_TIMEOUT_S = 150.0
MAX_MODEL_LEN = 512

# vLLM renders gpt-oss chats with openai-harmony's o200k encoding whatever the checkpoint's
# chat template says; the tiny 512-token vocabulary cannot hold those ids ("Token id 200008
# is out of vocabulary"), so that architecture is exercised through /v1/completions.
COMPLETIONS_ONLY = frozenset({GPT_OSS})

MESSAGES = [
    {"role": "system", "content": "You answer mentions on X briefly and accurately."},
    {"role": "user", "content": "@mentionbot is this true? The moon is made of cheese."},
]


def _model_dir(arch: str) -> Path:
    """The build for arch, made in a subprocess so torch stays out of pytest's memory."""
    out = ARCH_DIR / arch
    if is_built(arch, out):
        return out
    proc = subprocess.run(
        [sys.executable, "-m", "models.checkpoints.tiny_archs", arch, str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and is_built(arch, out), (
        f"building {arch} failed ({proc.returncode})\n{proc.stdout}\n{proc.stderr}"
    )
    return out


def _complete(server: VLLMServer, arch: str) -> dict[str, Any]:
    """One short greedy completion; returns the response's usage."""
    common = {"model": server.model, "max_tokens": 8, "temperature": 0}
    with httpx.Client(base_url=server.base_url, timeout=60.0, trust_env=False) as client:
        if arch in COMPLETIONS_ONLY:
            resp = client.post(
                "/v1/completions", json={**common, "prompt": MESSAGES[-1]["content"]}
            )
            text = resp.json()["choices"][0]["text"] if resp.status_code == 200 else None
        else:
            resp = client.post("/v1/chat/completions", json={**common, "messages": MESSAGES})
            body = resp.json() if resp.status_code == 200 else {}
            text = body["choices"][0]["message"]["content"] if body else None
    assert resp.status_code == 200, f"{arch}: {resp.status_code} {resp.text}"
    assert isinstance(text, str)
    usage: dict[str, Any] = resp.json()["usage"]
    return usage


# --- the table and the builds -------------------------------------------------------------


def test_results_table_covers_every_architecture() -> None:
    assert set(CPU_ENGINE_RESULTS) == set(ARCHITECTURES)
    for arch, result in CPU_ENGINE_RESULTS.items():
        assert result == WORKS or (
            result.startswith(UNSUPPORTED_PREFIX) and expected_error(arch)
        ), arch


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_build_shape(arch: str) -> None:
    model_dir = _model_dir(arch)
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == [arch]
    assert config["vocab_size"] == 512
    assert config["num_hidden_layers"] == 2
    assert config["hidden_size"] % 32 == 0 and config["intermediate_size"] % 32 == 0
    assert config.get("head_dim", 32) >= 32
    experts = config.get("num_local_experts", config.get("num_experts"))
    assert experts == 4 and config["num_experts_per_tok"] == 2
    tok_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert "add_generation_prompt" in tok_config["chat_template"]
    has_weights = (model_dir / "model.safetensors").is_file()
    assert has_weights == ("dummy" not in serve_args(arch))
    # Reused, not rebuilt.
    before = {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir()}
    assert build_tiny_arch(arch, model_dir) == model_dir
    assert {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir()} == before


def test_weights_are_seeded(tmp_path: Path) -> None:
    arch = "Qwen3MoeForCausalLM"
    again = tmp_path / arch
    subprocess.run(
        [sys.executable, "-m", "models.checkpoints.tiny_archs", arch, str(again)],
        cwd=REPO_ROOT,
        check=True,
    )
    assert weights_sha256(again) == weights_sha256(_model_dir(arch))
    assert not is_built(arch, again, seed=1)


# --- the engine ---------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_architecture_on_cpu_engine(arch: str) -> None:
    model_dir = _model_dir(arch)
    cfg = ServeConfig(
        model=str(model_dir),
        served_model_name=SERVED_MODEL_NAME,
        port=free_port(),
        max_model_len=MAX_MODEL_LEN,
        extra_args=serve_args(arch),
    )
    server = VLLMServer(cfg)
    log_path = LOG_DIR / f"vllm-arch-{arch}.log"
    expected = expected_error(arch)
    started = time.monotonic()
    server.start(log_path)
    try:
        try:
            server.wait_ready(READY_TIMEOUT_S)
        except ServerStartError as exc:
            if expected is None:
                raise
            exited = not server.is_running()
            log_text = log_path.read_text(encoding="utf-8", errors="replace")
            assert exited and expected in log_text, (
                f"{arch} failed differently than CPU_ENGINE_RESULTS says "
                f"(expected {expected!r}); update CPU_ENGINE_RESULTS in "
                f"models/profiles/definition.py\n{exc}"
            )
            print(f"\n{arch}: unsupported after {time.monotonic() - started:.1f} s: {expected}")
            return
        ready_s = time.monotonic() - started
        assert expected is None, (
            f"{arch} now starts on the CPU engine; CPU_ENGINE_RESULTS says {expected!r}. "
            "Set it to 'works' in models/profiles/definition.py and update the profile table."
        )
        usage = _complete(server, arch)
        assert usage["completion_tokens"] > 0, usage
        print(
            f"\n{arch}: works, ready in {ready_s:.1f} s, "
            f"completion_tokens={usage['completion_tokens']} prompt_tokens={usage['prompt_tokens']}"
        )
    finally:
        server.stop()
