"""What ``--kernels auto`` picks on this machine, in words for a run's config and closing line."""

from __future__ import annotations

from evoface.kernels import allocator, cpu, onednn
from evoface.kernels.switch import ENVIRONMENT, disabled, forced_plain, selected, selected_mode


def available(device: str = "cpu", precision: str = "fp32", decoder: bool = False) -> list[str]:
    """The fast paths ``auto`` runs on this machine for models on ``device`` at ``precision`` ("fp32" or "bf16"),
    ``decoder``: with a GAN or VAE decoder in front of the scorer (its transposed convolutions are packed)."""
    if selected() != "auto" or str(device).split(":")[0] != "cpu":
        return []
    found = []
    if onednn.onednn_available():
        found.append("onednn-graph" if precision == "fp32" else "packed-convolutions")
        if decoder and precision == "fp32":
            found.append("packed-convolutions")
        if not cpu.cpu_is_intel():
            found.append("onednn-matmul")
    if allocator.available():
        found.append("heap-blocks")
    return [name for name in found if name not in disabled()]


def describe(device: str = "cpu", precision: str = "fp32", decoder: bool = False) -> str:
    """What the kernels switch chose, for a closing line: "auto (onednn-graph, onednn-matmul, heap-blocks)" or "plain"."""
    if selected() == "plain":
        return "plain" + (f" ({ENVIRONMENT}=plain)" if forced_plain() and selected_mode() != "plain" else "")
    chosen = available(device, precision, decoder)
    return f"auto ({', '.join(chosen) if chosen else 'none apply here'})"
