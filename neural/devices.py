"""Choose the torch device: ``auto`` takes CUDA when there is one."""

from __future__ import annotations

import torch

from evoface.core.errors import InputError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but no CUDA GPU is available (use --device cpu or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r}: use auto, cpu or cuda") from None
