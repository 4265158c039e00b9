"""Run any inference ``nn.Module`` at a chosen numeric precision: fp32, fp32 compiled by ``torch.compile`` (the same
numbers, fused kernels), or bf16 through ``torch.autocast`` (oneDNN's AVX-512 BF16 or AMX kernels on a CPU, each
convolution with its activation as one kernel with packed weights: ``evoface.kernels.packed_convs``, where the
kernels switch allows), with the module's output heads kept in fp32.

``at_precision(module, device, precision)`` is generic: the faceness net, a VAE whose reconstruction error is a
prior, or a decoder in front of the scorer all go through the same call. ``resolve_precision`` turns "auto" into
bf16 only where the CPU has AMX's bf16 tiles; elsewhere fp32: with AVX-512 BF16 alone the evolve loop ran no faster
in bf16 than with the fp32 forward as a oneDNN graph (``evoface.kernels.onednn.Graphed``, bench/README.md), and a GPU
was never measured. With AMX (an Intel Xeon) bf16, its convolutions packed, ran the default loop 1.19x faster than fp32;
"auto" keeps it where the ranking probe (``evoface.scoring.ranking_probe``, children of the run's own mutation)
ranks as in fp32: the default's face-space mutation passes (0.99995), 0.1% resets do not (0.9986-0.9990).
``keeps_ranking`` compares a fast scoring function with its fp32 reference (the caller falls back to fp32 when the
fast path reorders its scores).
"""

from __future__ import annotations

import copy
import torch
from torch import nn

from evoface.core.errors import InputError
from evoface.kernels.cpu import cpu_has_bf16_tiles
from evoface.kernels.packed_convs import pack_convolutions
from evoface.kernels.wrapping import wrapped_getattr

PRECISIONS = ("auto", "fp32", "bf16", "fp32-compiled")
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp32-compiled": None}
# Linear layers with at most this many outputs are output heads: they run in fp32, since a bf16 output keeps only 8
# significant bits, too few to rank images whose scores differ in the fourth decimal (late in a GA run). 64 takes in
# the faceness net's whole head: with its 2048 -> 64 layer in bf16 too, the ranking probe's rank correlation with fp32
# was 0.983, with the head in fp32 0.998 (the convolutions' share); the layer costs 10.5 MFLOP for 40 images.
HEAD_FEATURES = 64
RANK_CORRELATION = 0.999  # the least Spearman correlation between fast and fp32 scores for the fast path to be kept


def resolve_precision(precision: str, device: torch.device) -> str:
    """``precision`` (one of ``PRECISIONS``) checked, with "auto" made bf16 on a CPU with AMX bf16 tiles, else
    fp32."""
    if precision not in PRECISIONS:
        raise InputError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cpu" and cpu_has_bf16_tiles() else "fp32"


class Float32(nn.Module):
    """Runs its module in fp32 with autocast off, whatever the precision around it."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.module(x.float())


class AtPrecision(nn.Module):
    """Runs its module under autocast to ``dtype`` and returns float32 outputs. Use ``at_precision`` to build one."""

    def __init__(self, module: nn.Module, dtype: torch.dtype, device_type: str):
        super().__init__()
        self.module, self.dtype, self.device_type = module, dtype, device_type

    def forward(self, *args, **kwargs):
        with torch.autocast(self.device_type, dtype=self.dtype, cache_enabled=False):
            out = self.module(*args, **kwargs)
        return out.float() if torch.is_tensor(out) and out.is_floating_point() else out

    def __getattr__(self, name):
        return wrapped_getattr(self, name)


class Compiled(nn.Module):
    """Runs ``torch.compile`` of its module. Compiled for each new input shape on its first call (tens of seconds on a small CPU): shapes are kept static, since a dynamic batch
    size ran slower than eager here."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.compiled = torch.compile(module, dynamic=False)

    def forward(self, *args, **kwargs):
        return self.compiled(*args, **kwargs)

    def __getattr__(self, name):
        return wrapped_getattr(self, name)


def keep_heads_in_fp32(module: nn.Module) -> nn.Module:
    """Wrap, in place, every Linear with at most ``HEAD_FEATURES`` outputs in ``Float32``; returns ``module``."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear) and child.out_features <= HEAD_FEATURES:
            setattr(module, name, Float32(child))
        else:
            keep_heads_in_fp32(child)
    return module


def at_precision(module: nn.Module, device: torch.device, precision: str) -> nn.Module:
    """``module`` ready to run inference on ``device`` at ``precision`` (one of ``PRECISIONS``): the module itself
    for fp32, wrapped in ``Compiled`` for fp32-compiled, else a copy with its heads in fp32 wrapped in
    ``AtPrecision``. Outputs are float32 in every case."""
    resolved = resolve_precision(precision, device)
    if resolved == "fp32-compiled":
        return Compiled(module).train(module.training)  # the wrapper in the module's mode
    dtype = DTYPES[resolved]
    if dtype is None:
        return module
    fast = keep_heads_in_fp32(copy.deepcopy(module))
    if device.type == "cpu":
        pack_convolutions(fast)
    return AtPrecision(fast, dtype, device.type).train(module.training)


def rank_correlation(a, b) -> float:
    """Spearman rank correlation of two 1-D score arrays."""
    from scipy.stats import spearmanr

    return float(spearmanr(torch.as_tensor(a).double().cpu(), torch.as_tensor(b).double().cpu())[0])


def keeps_ranking(score, reference_score, probe, threshold: float = RANK_CORRELATION) -> bool:
    """True when ``score(probe)`` ranks the probe as ``reference_score(probe)`` (fp32) does (Spearman >= threshold);
    False for a probe whose images all score alike in fp32 (one that a mutation left unchanged): there is no ranking
    to keep, so nothing shows the fast path keeps one."""
    fast, reference = score(probe), reference_score(probe)
    if torch.as_tensor(reference).unique().numel() < 2:
        return False
    return rank_correlation(fast, reference) >= threshold
