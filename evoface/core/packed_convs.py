"""bf16 convolutions as single oneDNN kernels with their weights packed once: a conv net's autocast path, made fast.

Under ``torch.autocast`` on a CPU, each bf16 ``Conv2d`` converts its weights to bf16 and oneDNN reorders them into
its blocked layout on every call, and the activation after it runs as a pass of its own. For a small net (the
faceness net: 8 MFLOP an image) that overhead is most of the time: with AMX's bf16 tiles, autocast ran the forward
no faster than the fp32 oneDNN graph (``bench/ga_speed.py``). ``pack_convolutions`` replaces each ``Conv2d``, and
the ReLU or LeakyReLU after it in an ``nn.Sequential``, by one ``PackedConv2d``: a
``torch.ops.mkldnn._convolution_pointwise`` call (the kernel ``torch.compile``'s CPU backend emits for a
convolution), the activation fused as a post-op, the weights in bf16 and oneDNN's layout once per input shape. It
computes what autocast computes (bf16 products, fp32 sums, a bf16 result), in another order. Outside autocast, or
where oneDNN cannot run, a ``PackedConv2d`` is the convolution and activation it replaced, exactly: its plain
reference.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from evoface.core import onednn
from evoface.core.wrapping import DerivedKernels, tensor_state

# activations oneDNN fuses into a convolution: (post-op name, its scalars)
POST_OPS = {nn.ReLU: lambda layer: ("relu", []), nn.LeakyReLU: lambda layer: ("leaky_relu", [layer.negative_slope])}
PACKED_DTYPES = (torch.bfloat16,)


@lru_cache(maxsize=1)
def bf16_kernels() -> bool:
    """True where oneDNN has bf16 convolutions for this CPU (AVX-512 or AMX; not an AVX2-only one)."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def packable(conv: nn.Module) -> bool:
    """True for a plain 2-D convolution oneDNN's pointwise kernel takes: zero padding given as numbers."""
    return (type(conv) is nn.Conv2d and conv.padding_mode == "zeros" and not isinstance(conv.padding, str))


class PackedConv2d(DerivedKernels):
    """A ``Conv2d`` and the activation after it (or none): under CPU autocast to bf16, one oneDNN convolution with the
    activation fused and the weights packed per input shape; otherwise the two layers as they are."""

    def __init__(self, conv: nn.Conv2d, activation: nn.Module | None = None):
        super().__init__()
        if not packable(conv):
            raise ValueError(f"oneDNN's pointwise convolution cannot take {conv}")
        self.conv, self.activation = conv, activation
        self.post_op, self.post_op_scalars = POST_OPS[type(activation)](activation) if activation else ("none", [])
        self._geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        self.train(conv.training)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.activation(y) if self.activation is not None else y

    def runs_packed(self, x: torch.Tensor) -> bool:
        """True under CPU autocast to a packed dtype, for inference on input oneDNN takes (not in
        ``onednn.plain()``)."""
        dtype = torch.get_autocast_dtype("cpu")
        return (torch.is_autocast_enabled("cpu") and dtype in PACKED_DTYPES and bf16_kernels() and not self.training
                and not torch.is_grad_enabled() and not torch.compiler.is_compiling()
                and onednn.usable(x, (torch.float32, dtype), autocast=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.runs_packed(x):
            return self.reference(x)
        x = x.to(torch.get_autocast_dtype("cpu"))
        weight, bias = self._weights(x)
        return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, *self._geometry, self.post_op,
                                                       self.post_op_scalars, "")

    def _weights(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The weights in ``x``'s dtype and oneDNN's layout for ``x``'s shape, and the bias in that dtype: made again
        after an in-place change of the weights (an optimiser step)."""
        conv = self.conv
        key = (x.dtype, tuple(x.shape), *(tensor_state(t) for t in (conv.weight, conv.bias) if t is not None))
        if key not in self.kernels:
            with self.kernels_lock:
                if key not in self.kernels:
                    self.kernels = {k: v for k, v in self.kernels.items() if k[2:] == key[2:]}  # drop stale ones
                    weight = torch.ops.mkldnn._reorder_convolution_weight(conv.weight.detach().to(x.dtype),
                                                                          *self._geometry, list(x.shape))
                    bias = conv.bias.detach().to(x.dtype) if conv.bias is not None else None
                    self.kernels[key] = weight, bias
        return self.kernels[key]


def pack_convolutions(module: nn.Module) -> nn.Module:
    """Replace, in place, each packable ``Conv2d`` of ``module`` and of every ``nn.Sequential`` in it (and the ReLU or
    LeakyReLU right after it) by a ``PackedConv2d``; returns ``module``. A convolution that is not a Sequential's
    layer stays as it is."""
    for child in module.children():
        pack_convolutions(child)
    if isinstance(module, nn.Sequential):
        layers, pending = [], list(module)
        while pending:
            layer = pending.pop(0)
            if packable(layer):
                activation = pending.pop(0) if pending and type(pending[0]) in POST_OPS else None
                layer = PackedConv2d(layer, activation)
            layers.append(layer)
        while len(module):
            del module[-1]
        for layer in layers:
            module.append(layer)
    return module
