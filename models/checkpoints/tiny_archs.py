"""Tiny checkpoints, one per MoE architecture our model profiles name, for the CPU engine.

Each build is a directory vLLM can be pointed at: `config.json` with the smallest shapes the
CPU kernels accept (hidden and intermediate sizes multiples of 32, head_dim 32, 2 layers,
4 experts, top-2, vocab 512), the tiny MoE's tokenizer and chat template, and either seeded
random bf16 weights (where transformers has the model class) or no weights at all, for
vLLM's `--load-format dummy`. Nothing is downloaded.

`CPU_ENGINE_RESULTS` (models/profiles/definition.py) records what vLLM 0.32's CPU engine does
with each architecture; the engine tests check it against a real server, so they fail loudly when a
vLLM upgrade changes the answer.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from models.checkpoints import tiny_moe
from models.checkpoints.build import (
    WEIGHTS_NAME,
    build_atomically,
    is_complete_build,
    save_seeded,
    weights_sha256,
)
from models.profiles.definition import (
    CPU_ENGINE_RESULTS,
    GPT_OSS,
    GROK1,
    GROK2,
    MIXTRAL,
    QWEN3_MOE,
    UNSUPPORTED_PREFIX,
    WORKS,
)

__all__ = [
    "ARCHITECTURES",
    "build_tiny_arch",
    "expected_error",
    "is_built",
    "main",
    "serve_args",
]

# Bumped whenever a build changes, so an old build is replaced rather than reused.
BUILDER_VERSION = 2
MANIFEST_NAME = "mentionbot-tiny-arch.json"

# The architectures and what the CPU engine does with each live beside the profiles (one
# table, stdlib only); the engine tests here prove every entry against a real server.
ARCHITECTURES: tuple[str, ...] = (MIXTRAL, QWEN3_MOE, GPT_OSS, GROK1, GROK2)

# Architectures transformers cannot build (no model class): served with dummy weights.
_DUMMY_WEIGHTS: frozenset[str] = frozenset({GROK1, GROK2})

# Grok-1's config class, shipped in the checkpoint like the HF ports do (no model code: vLLM
# would use its own, and transformers has none).
_GROK1_CONFIG_MODULE = "configuration_grok1"
_GROK1_CONFIG_SOURCE = '''\
"""Grok-1 configuration (config only; written by mentionbot's models/tiny_archs.py)."""

from transformers import PretrainedConfig


class Grok1Config(PretrainedConfig):
    model_type = "grok-1"
'''

_SPEC = tiny_moe.DEFAULT_SPEC
_BOS, _EOS, _PAD = (tiny_moe.SPECIAL_TOKENS.index(t) for t in ("<s>", "</s>", "<pad>"))


def expected_error(arch: str) -> str | None:
    """The engine's error text for an unsupported architecture, None if it works."""
    result = CPU_ENGINE_RESULTS[arch]
    if result == WORKS:
        return None
    if not result.startswith(UNSUPPORTED_PREFIX):
        raise ValueError(f"bad CPU_ENGINE_RESULTS entry for {arch}: {result!r}")
    return result.removeprefix(UNSUPPORTED_PREFIX)


def serve_args(arch: str) -> list[str]:
    """Extra `vllm serve` arguments a build of arch needs (dummy weights, remote config)."""
    _check_arch(arch)
    args = ["--load-format", "dummy"] if arch in _DUMMY_WEIGHTS else []
    if arch == GROK1:
        args.append("--trust-remote-code")
    return args


def _check_arch(arch: str) -> None:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")


def _common() -> dict[str, Any]:
    """Shape and token ids shared by every tiny config."""
    return {
        "vocab_size": _SPEC.vocab_size,
        "hidden_size": _SPEC.hidden_size,
        "num_hidden_layers": _SPEC.num_hidden_layers,
        "num_attention_heads": _SPEC.num_attention_heads,
        "num_key_value_heads": _SPEC.num_key_value_heads,
        "head_dim": _SPEC.head_dim,
        "num_experts_per_tok": _SPEC.num_experts_per_tok,
        "max_position_embeddings": _SPEC.max_position_embeddings,
        "rms_norm_eps": 1e-5,
        "bos_token_id": _BOS,
        "eos_token_id": _EOS,
        "pad_token_id": _PAD,
        "tie_word_embeddings": False,
    }


def _grok_config(arch: str) -> dict[str, Any]:
    """config.json for the Grok family, with the keys the real checkpoints carry."""
    config = {
        **_common(),
        "architectures": [arch],
        "intermediate_size": _SPEC.intermediate_size,
        "attn_output_multiplier": 0.08838834764831845,
        "embedding_multiplier_scale": 78.38367176906169,
        "output_multiplier_scale": 0.5773502691896257,
        "max_attn_value": 30.0,
        "torch_dtype": _SPEC.dtype,
    }
    if arch == GROK1:
        # The HF ports of Grok-1 (hpcai-tech/grok-1, amd/grok-1-FP8-KV): transformers has no
        # "grok-1" type, so they ship their config class as remote code (--trust-remote-code).
        config.update(
            model_type="grok-1",
            num_experts=_SPEC.num_local_experts,
            auto_map={"AutoConfig": f"{_GROK1_CONFIG_MODULE}.Grok1Config"},
        )
    else:
        # xai-org/grok-2: a shared MLP beside the experts ("residual_moe"), soft-capping.
        config.update(
            model_type="git",
            num_local_experts=_SPEC.num_local_experts,
            moe_intermediate_size=_SPEC.intermediate_size,
            residual_moe=True,
            attn_logit_softcapping=30.0,
            router_logit_softcapping=30.0,
            final_logit_softcapping=50.0,
        )
    return config


def _hf_model(arch: str) -> Any:
    """A randomly initialised transformers model for arch (weights set afterwards)."""
    from transformers import GptOssConfig, GptOssForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM

    common = _common()
    if arch == QWEN3_MOE:
        return Qwen3MoeForCausalLM(
            Qwen3MoeConfig(
                **common,
                intermediate_size=_SPEC.intermediate_size,
                moe_intermediate_size=_SPEC.intermediate_size,
                num_experts=_SPEC.num_local_experts,
                norm_topk_prob=True,
                dtype=_SPEC.dtype,
            )
        )
    if arch == GPT_OSS:
        return GptOssForCausalLM(
            GptOssConfig(
                **common,
                intermediate_size=_SPEC.intermediate_size,
                num_local_experts=_SPEC.num_local_experts,
                # Alternating sliding/full attention like the real model, window shrunk.
                sliding_window=64,
                layer_types=["sliding_attention", "full_attention"],
                rope_parameters={
                    "rope_type": "yarn",
                    "rope_theta": 150000.0,
                    "factor": 32.0,
                    "beta_fast": 32.0,
                    "beta_slow": 1.0,
                    "original_max_position_embeddings": _SPEC.max_position_embeddings,
                    "truncate": False,
                },
                dtype=_SPEC.dtype,
            )
        )
    raise ValueError(f"transformers cannot build {arch}")


def _write_build(model_dir: Path, arch: str, seed: int) -> None:
    """Everything but the manifest: config, weights (unless dummy), generation config, tokenizer."""
    if arch in _DUMMY_WEIGHTS:
        config = _grok_config(arch)
        (model_dir / "config.json").write_text(
            json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        if arch == GROK1:
            (model_dir / f"{_GROK1_CONFIG_MODULE}.py").write_text(
                _GROK1_CONFIG_SOURCE, encoding="utf-8"
            )
    else:
        # config.json and seeded bf16 safetensors, built by transformers.
        save_seeded(
            _hf_model(arch),
            model_dir,
            seed,
            initializer_range=_SPEC.initializer_range,
            dtype=_SPEC.dtype,
        )
    tiny_moe.write_generation_config(model_dir)
    # The tiny MoE's byte-level BPE and chat template, trained the same way (deterministic).
    tiny_moe.write_tokenizer(model_dir, _SPEC)


def _manifest(arch: str, seed: int) -> dict[str, Any]:
    return {"builder_version": BUILDER_VERSION, "architecture": arch, "seed": seed}


def is_built(arch: str, out_dir: Path, seed: int = 0) -> bool:
    """True when out_dir holds a complete build of arch with this seed."""
    _check_arch(arch)
    out_dir = Path(out_dir)
    if arch == MIXTRAL:
        return tiny_moe.is_built(out_dir, seed)
    needed = ["config.json", "tokenizer.json", "tokenizer_config.json"]
    if arch not in _DUMMY_WEIGHTS:
        needed.append(WEIGHTS_NAME)
    if arch == GROK1:
        needed.append(f"{_GROK1_CONFIG_MODULE}.py")
    return is_complete_build(
        out_dir,
        MANIFEST_NAME,
        _manifest(arch, seed),
        needed,
        hashed_weights=arch not in _DUMMY_WEIGHTS,
    )


def build_tiny_arch(arch: str, out_dir: Path, seed: int = 0) -> Path:
    """Build (or reuse) a tiny checkpoint of architecture arch in out_dir; return out_dir."""
    _check_arch(arch)
    out_dir = Path(out_dir)
    if arch == MIXTRAL:
        return tiny_moe.build_tiny_moe(out_dir, seed)
    if is_built(arch, out_dir, seed):
        return out_dir

    def write(tmp_dir: Path) -> dict[str, Any]:
        _write_build(tmp_dir, arch, seed)
        manifest: dict[str, Any] = {"build": _manifest(arch, seed)}
        if arch not in _DUMMY_WEIGHTS:
            manifest["weights_sha256"] = weights_sha256(tmp_dir)
        return manifest

    return build_atomically(out_dir, MANIFEST_NAME, write, lambda: is_built(arch, out_dir, seed))


def main(argv: list[str] | None = None) -> int:
    """CLI: python -m models.checkpoints.tiny_archs ARCH OUT_DIR [--seed N]; prints the dir."""
    parser = argparse.ArgumentParser(description="Build a tiny checkpoint of one architecture.")
    parser.add_argument("arch", choices=ARCHITECTURES)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_tiny_arch(args.arch, args.out_dir, seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
