"""Checkpoints built locally for vLLM's CPU engine (tests, demo); nothing is downloaded.

``build.py`` holds what every builder shares (the atomic build-and-rename, seeded weights,
the weights' hash), ``tiny_moe.py`` the tiny random Mixtral and its tokenizer,
``tiny_archs.py`` one tiny checkpoint per architecture our profiles name, ``smol_moe.py``
the real SmolLM2-135M-Instruct upcycled into a Mixtral (the demo's model).

May import the standard library, third-party packages (torch, transformers and tokenizers,
imported lazily inside the builders) and the rest of ``models/``; never ``bot/`` or
``workers/``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["LOCAL_BUILDS", "build_local"]

# The profiles whose checkpoint is built here (models/profiles/catalog.py names them too).
LOCAL_BUILDS = ("tiny-moe", "smol-moe")


def build_local(profile: str, out_dir: Path) -> Path:
    """Build (or reuse) the checkpoint of a locally built profile in out_dir."""
    if profile == "tiny-moe":
        from models.checkpoints.tiny_moe import build_tiny_moe

        return build_tiny_moe(out_dir)
    if profile == "smol-moe":
        from models.checkpoints.smol_moe import build_smol_moe

        return build_smol_moe(out_dir)
    raise ValueError(f"profile {profile!r} is not built locally (known: {', '.join(LOCAL_BUILDS)})")
