"""Atomic checkpoint writes and safe, kind-checked loads."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from evoface.core.errors import InputError


def save_atomic(obj: dict[str, Any], path: str | os.PathLike) -> None:
    """torch.save ``obj`` to ``path`` via a temporary file and ``os.replace``: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, kind: str | tuple[str, ...]) -> dict[str, Any]:
    """Load a checkpoint written by evoface with ``weights_only=True`` and check its ``kind``.

    Raises InputError for a missing, corrupt or foreign file, or one of another kind.
    """
    kinds = (kind,) if isinstance(kind, str) else kind
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read checkpoint {path}: {reason[:200]}") from None
    if not isinstance(ckpt, dict) or "kind" not in ckpt:
        raise InputError(f"{path} is not an evoface checkpoint")
    if ckpt["kind"] not in kinds:
        raise InputError(f"{path} is a {ckpt['kind']!r} checkpoint, expected {' or '.join(map(repr, kinds))}")
    return ckpt
