"""A uint8 tensor mapped through a 256-entry table by one compiled pass: ``table[x]``, without the int64 index copy.

A byte has 256 values, so any element-wise function of uint8 pixels (scaling to [-1, 1], then rounding to bf16, say)
is a table of 256 entries worked out once by the very ops it stands for; a gather then gives the same bits as those
ops, in one pass over the pixels instead of one pass per op. ``mapped`` keeps ``x``'s memory layout (channels-last
stays channels-last). Its plain reference is ``table[x.long()]``, which runs where the fast pass cannot (a GPU
tensor, a strided view, a table that carries gradients).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

# numba has no bf16 or fp16: an entry travels as the integer of its width, bit for bit
_INTEGER_OF_WIDTH = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


@numba.njit(cache=True)
def _gather(values, table, out):
    for k in range(values.size):
        out[k] = table[values[k]]


def _memory_order(x: torch.Tensor) -> torch.Tensor | None:
    """``x`` as a 1-D view in the order its elements lie in memory, or None when they do not fill it densely."""
    order = sorted(range(x.ndim), key=lambda d: -x.stride(d))
    dense = x.permute(order)
    return dense.view(-1) if dense.is_contiguous() else None


def mapped_reference(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    return table.to(x.device)[x.long()]


def mapped(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``table[x]`` for a uint8 tensor ``x`` and a (256,) ``table``: ``x``'s shape and layout, ``table``'s dtype."""
    if x.dtype != torch.uint8 or table.shape != (256,):
        raise ValueError(f"a byte table maps uint8 through 256 entries, got {x.dtype} and {tuple(table.shape)}")
    flat_x = _memory_order(x)
    if x.device.type != "cpu" or table.device.type != "cpu" or table.requires_grad or flat_x is None or not x.numel():
        return mapped_reference(x, table)
    out = torch.empty_like(x, dtype=table.dtype)  # a dense x's strides, so its memory order is flat_x's
    if out.stride() != x.stride():  # size-1 dimensions' strides are free: keep the pass to identical layouts
        return mapped_reference(x, table)
    integer = _INTEGER_OF_WIDTH[table.element_size()]
    _gather(flat_x.numpy(), table.contiguous().view(integer).numpy(), _memory_order(out).view(integer).numpy())
    return out
