"""What this machine's CPU can do, as the fast paths need to know it: its vendor and feature flags."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch


@lru_cache(maxsize=1)
def cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags."""
    return frozenset(cpuinfo().get("flags", "").split())


def cpu_is_intel() -> bool:
    """True on an Intel CPU, where MKL's fp32 matrix products take their fast code path."""
    return cpuinfo().get("vendor_id") == "GenuineIntel"


def cpu_has_bf16_tiles() -> bool:
    """True when this CPU has AMX's bf16 tile units and torch's oneDNN will use them."""
    return "amx_bf16" in cpu_flags() and torch.backends.mkldnn.is_available()
