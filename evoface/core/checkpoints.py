"""Atomic checkpoint writes and safe, kind-checked, versioned loads."""

from __future__ import annotations

import errno
import os
import tempfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from evoface.core.checkpoint_formats import FORMAT, upgrade
from evoface.core.errors import InputError, WriteError


@lru_cache(maxsize=1)
def evoface_version() -> str:
    try:
        return metadata.version("evoface")
    except metadata.PackageNotFoundError:
        return "unknown"


def save_atomic(obj: dict[str, Any], path: str | os.PathLike) -> None:
    """torch.save ``obj`` to ``path`` via a temporary file and ``os.replace``: a crash never leaves half a file.

    A checkpoint (a dict with a ``kind``) is stamped with the format version and the evoface version. A failed write
    (permission, full disk) raises WriteError and leaves any previous file at ``path`` as it was.
    """
    path = Path(path)
    if isinstance(obj, dict) and "kind" in obj:
        obj = {**obj, "format": FORMAT, "evoface_version": evoface_version()}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        kept = f"the previous {path.name} is intact" if path.is_file() else "nothing was written"
        raise WriteError(f"cannot write {path}: {write_failure(exc)}; {kept}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def write_failure(exc: BaseException) -> str:
    """Why a write failed, in a user's words. torch's writer reports a failed write (a full disk) as a RuntimeError
    ("unexpected pos ...") raised while handling the OSError of the file: that OSError says why."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
    if cause.errno == errno.ENOSPC:
        return "no space left on device"
    return cause.strerror or str(cause)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load any evoface checkpoint with ``weights_only=True``; InputError for a missing, corrupt or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise InputError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    except Exception:  # unpickling errors come in many types; torch's advice about weights_only does not apply
        raise InputError(f"cannot read checkpoint {path}: not an evoface checkpoint") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("kind"), str):
        raise InputError(f"{path} is not an evoface checkpoint")
    return ckpt


def load_checkpoint(path: str | os.PathLike, kind: str | tuple[str, ...], for_resume: bool = False) -> dict[str, Any]:
    """Load a checkpoint written by evoface, check its ``kind``, and upgrade it to the current format.

    Raises InputError for a missing, corrupt or foreign file, one of another kind, or one lacking keys its kind
    needs (to be used, and with ``for_resume`` to continue its run).
    """
    kinds = (kind,) if isinstance(kind, str) else kind
    ckpt = read_checkpoint(path)
    if ckpt["kind"] not in kinds:
        raise InputError(f"{path} is a {ckpt['kind']!r} checkpoint, expected {' or '.join(map(repr, kinds))}")
    return upgrade(ckpt, str(path), for_resume)
