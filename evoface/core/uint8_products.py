"""Products of uint8 pixels with a fixed float32 matrix on int8 tiles (AMX), as accurate as fp32.

For uint8 x (n, d) and float32 w (d, k): x - 128 is int8 exactly, and w is split once into three int8 matrices, each
scaled per column, w = s (q1 + q2 / 254 + q3 / 254^2) + r with s = max|w[:, j]| / 127, so |r| <= s / (2 * 254^2):
about 6e-8 of the column's largest entry, fp32's own rounding. One ``torch._int_mm`` of (x - 128) with (q1 | q2 | q3)
sums in int32 exactly (no rounding at all, where fp32 sums of d terms round at every step), and

    x @ w = (x - 128) @ w + 128 * colsum(w) = sum_p s_p (x - 128) @ q_p + 128 * colsum(w) + (x - 128) @ r.

On an Intel Xeon with AMX's int8 tiles this ran 1.34x faster than MKL's fp32 product at (80, 12288) x (12288, 64),
conversions included, and 1.09x at 40 rows (``bench/ga_speed.py --products``). Elsewhere (no int8 tiles, a GPU,
``onednn.plain()``, a float x) the product is ``onednn.matmul``, its plain reference.
"""

from __future__ import annotations

import torch

from evoface.core import onednn
from evoface.core.cpu import cpu_has_int8_tiles

PIECES = 3
PIECE_RATIO = 254  # each piece resolves what the one before left, in steps this much finer
LARGEST_DIMS = 2**31 // (128 * 127)  # longest inner dimension whose int32 sums cannot overflow


def runs_on(x: torch.Tensor) -> bool:
    """True where int8 products of ``x`` run: uint8 on a CPU with AMX int8 tiles, not inside ``onednn.plain()``."""
    return x.dtype == torch.uint8 and onednn.usable(x, (torch.uint8,)) and cpu_has_int8_tiles()


class Uint8Product:
    """Callable: (n, d) uint8 (or float) x -> (n, k) float32 ``x @ weight`` for a fixed float32 ``weight`` (d, k)."""

    def __init__(self, weight: torch.Tensor):
        if weight.ndim != 2:
            raise ValueError(f"a product needs a 2-D weight, got {tuple(weight.shape)}")
        self.weight = weight.detach().float().contiguous()
        self._pieces = None  # (int8 (d, PIECES * k), float64 scales (PIECES * k,), float64 128 * colsum (k,))

    def fast(self, x: torch.Tensor) -> bool:
        """True where the int8 product runs: ``runs_on(x)``, a CPU weight, an inner dimension int32 sums hold."""
        return runs_on(x) and self.weight.device.type == "cpu" and self.weight.shape[0] <= LARGEST_DIMS

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast(x):
            return onednn.matmul(x.float(), self.weight)
        pieces, scales, offset = self._pieces or self._split()
        signed = (x.contiguous() ^ 128).view(torch.int8)  # x - 128, bit for bit
        sums = torch._int_mm(signed, pieces).double().mul_(scales)
        return sums.view(len(x), PIECES, self.weight.shape[1]).sum(1).add_(offset).float()

    def _split(self):
        weight = self.weight.double()
        scale = weight.abs().amax(0).clamp_min(1e-30) / 127
        pieces, scales, rest = [], [], weight
        for _ in range(PIECES):
            piece = torch.round(rest / scale).clamp_(-127, 127)
            pieces.append(piece.to(torch.int8))
            scales.append(scale)
            rest = rest - piece * scale
            scale = scale / PIECE_RATIO
        self._pieces = (torch.cat(pieces, 1).contiguous(), torch.cat(scales), 128 * weight.sum(0))
        return self._pieces
