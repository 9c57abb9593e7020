"""What the tiny checkpoint builders share: atomic builds, manifests, seeded weights, hashes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "WEIGHTS_NAME",
    "build_atomically",
    "is_complete_build",
    "save_seeded",
    "weights_sha256",
]

# The file transformers' save_pretrained writes for a small model.
WEIGHTS_NAME = "model.safetensors"


def weights_sha256(model_dir: Path) -> str:
    """Hex SHA-256 of the checkpoint's safetensors file."""
    digest = hashlib.sha256()
    with (model_dir / WEIGHTS_NAME).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_complete_build(
    out_dir: Path,
    manifest_name: str,
    build: dict[str, Any],
    needed: Iterable[str],
    *,
    hashed_weights: bool,
) -> bool:
    """True when out_dir's manifest records exactly ``build`` and every needed file is there.

    With ``hashed_weights`` the weights must also match the hash the manifest recorded.
    """
    try:
        manifest = json.loads((out_dir / manifest_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("build") != build:
        return False
    if not all((out_dir / name).is_file() for name in needed):
        return False
    if not hashed_weights:
        return True
    # The file is small, so hashing it on every check is cheap and catches a truncated copy.
    return bool(manifest.get("weights_sha256") == weights_sha256(out_dir))


def build_atomically(
    out_dir: Path,
    manifest_name: str,
    write: Callable[[Path], dict[str, Any]],
    already_built: Callable[[], bool],
) -> Path:
    """Build beside out_dir (`write` fills the directory and returns the manifest), then
    rename into place, so a crash or a concurrent builder never leaves a half-written
    directory that looks complete."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        tmp_dir.chmod(0o755)  # mkdtemp makes it private; the build is meant to be shared
        manifest = write(tmp_dir)
        (tmp_dir / manifest_name).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        for path in tmp_dir.iterdir():
            path.chmod(0o644)  # some writers create private files; the build is shared
        if out_dir.exists():
            _remove_previous_build(out_dir, manifest_name)
        try:
            os.replace(tmp_dir, out_dir)
        except OSError:
            # Another process renamed its build in first; theirs is as good as ours.
            if not already_built():
                raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_dir


def _remove_previous_build(out_dir: Path, manifest_name: str) -> None:
    """Delete a stale build, refusing to touch a directory this module did not write."""
    if out_dir.is_dir() and (not any(out_dir.iterdir()) or (out_dir / manifest_name).exists()):
        shutil.rmtree(out_dir)
        return
    raise FileExistsError(f"{out_dir} exists and is not a tiny model build; not replacing it")


def save_seeded(
    model: Any, model_dir: Path, seed: int, *, initializer_range: float, dtype: str
) -> None:
    """Fill a transformers model's weights from the seed and save it in dtype.

    Every tensor comes from one private generator in parameter-name order, not from
    transformers' init order, so the bytes depend only on the seed and the shapes.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
            if param.dim() == 1 and name.endswith("norm.weight"):
                param.fill_(1.0)
            else:
                param.normal_(0.0, initializer_range, generator=generator)
    model.to(getattr(torch, dtype)).save_pretrained(model_dir)
