"""Convolutions as single oneDNN kernels with their weights packed once: a conv net's bf16 path, and a decoder's
transposed convolutions in fp32, made fast.

Under ``torch.autocast`` on a CPU, each bf16 ``Conv2d`` converts its weights to bf16 and oneDNN reorders them into
its blocked layout on every call, and the activation after it runs as a pass of its own. For a small net (the
faceness net: 8 MFLOP an image) that overhead is most of the time: with AMX's bf16 tiles, autocast ran the forward
no faster than the fp32 oneDNN graph (bench/README.md). ``pack_convolutions`` replaces each ``Conv2d``, and
the activation after it in an ``nn.Sequential``, by one ``PackedConv2d``: a
``torch.ops.mkldnn._convolution_pointwise`` call (the kernel ``torch.compile``'s CPU backend emits for a
convolution), the activation fused as a post-op, the weights in bf16 and oneDNN's layout once per input shape. It
computes what autocast computes (bf16 products, fp32 sums, a bf16 result), in another order. A ``ConvTranspose2d``
becomes a ``PackedConvTranspose2d`` the same way (``_convolution_transpose_pointwise``), in bf16 under autocast and
in fp32 outside it, where torch's own runs it unfused on weights reordered at every call. Where oneDNN cannot run,
each is the layers it replaced, exactly: its plain reference. ``fold_batch_norms`` folds the BatchNorm after a
convolution into it first.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from evoface.kernels import onednn
from evoface.kernels.wrapping import DerivedKernels, tensor_state

# activations oneDNN fuses into a convolution: (post-op name, its scalars)
POST_OPS = {nn.ReLU: lambda layer: ("relu", []), nn.LeakyReLU: lambda layer: ("leaky_relu", [layer.negative_slope]),
            nn.Tanh: lambda layer: ("tanh", [])}
PACKED_DTYPES = (torch.bfloat16,)
PACKED_SHAPES = 8  # input shapes a layer keeps packed weights for (a decoder sees a few batch sizes; each costs MBs)


@lru_cache(maxsize=1)
def bf16_kernels() -> bool:
    """True where oneDNN has bf16 convolutions for this CPU (AVX-512 or AMX; not an AVX2-only one)."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def packable(conv: nn.Module) -> bool:
    """True for a plain 2-D convolution or transposed convolution that oneDNN's pointwise kernels take: zero padding
    given as numbers."""
    return (type(conv) in PACKED and conv.padding_mode == "zeros" and not isinstance(conv.padding, str))


def autocast_bf16() -> bool:
    """True inside CPU autocast to bf16, where oneDNN has bf16 kernels."""
    return (torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") in PACKED_DTYPES
            and bf16_kernels())


class PackedLayer(DerivedKernels):
    """A convolution and the activation after it (or none) as one oneDNN kernel, the activation fused and the
    weights in oneDNN's layout once per input shape, in the dtype ``packed_dtype`` names; where it names none, the
    two layers as they are."""

    def __init__(self, conv: nn.Module, activation: nn.Module | None = None):
        super().__init__()
        if not packable(conv):
            raise ValueError(f"oneDNN's pointwise convolution cannot take {conv}")
        self.conv, self.activation = conv, activation
        self.post_op, self.post_op_scalars = POST_OPS[type(activation)](activation) if activation else ("none", [])
        self.train(conv.training)

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.activation(y) if self.activation is not None else y

    def packed_dtype(self, x: torch.Tensor) -> torch.dtype | None:
        """The dtype of the packed kernel for ``x``, or None for the reference."""
        raise NotImplementedError

    def runs_packed(self, x: torch.Tensor) -> bool:
        """True for inference on input oneDNN takes, with the fast path ``packed-convolutions`` on, where
        ``packed_dtype`` names one."""
        return (not self.training and not torch.is_grad_enabled() and not torch.compiler.is_compiling()
                and onednn.usable("packed-convolutions", x, (torch.float32, torch.bfloat16), autocast=True)
                and self.packed_dtype(x) is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.runs_packed(x):
            return self.reference(x)
        x = x.to(self.packed_dtype(x))
        weight, bias = self._weights(x)
        return self.kernel(x, weight, bias)

    def kernel(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def reordered(self, weight: torch.Tensor, input_size: list[int]) -> torch.Tensor:
        """``weight`` in oneDNN's layout for input of ``input_size``."""
        raise NotImplementedError

    def packed_bias(self, bias: torch.Tensor) -> torch.Tensor:
        """The bias as ``kernel`` takes it."""
        return bias

    def _weights(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The weights in ``x``'s dtype and oneDNN's layout for ``x``'s shape, and the bias in that dtype: made again
        after an in-place change of the weights (an optimiser step)."""
        conv = self.conv
        key = (x.dtype, tuple(x.shape), *(tensor_state(t) for t in (conv.weight, conv.bias) if t is not None))
        if key not in self.kernels:
            with self.kernels_lock:
                if key not in self.kernels:
                    kept = [(k, v) for k, v in self.kernels.items() if k[2:] == key[2:]]  # drop stale ones
                    self.kernels = dict(kept[-(PACKED_SHAPES - 1):])  # and the oldest shapes beyond the bound
                    weight = self.reordered(conv.weight.detach().to(x.dtype), list(x.shape))
                    bias = self.packed_bias(conv.bias.detach().to(x.dtype)) if conv.bias is not None else None
                    self.kernels[key] = weight, bias
        return self.kernels[key]


class PackedConv2d(PackedLayer):
    """A ``Conv2d`` and its activation: packed under CPU autocast to bf16 only (in fp32 the scorer's oneDNN graph,
    ``onednn.Graphed``, fuses them already)."""

    def __init__(self, conv: nn.Conv2d, activation: nn.Module | None = None):
        super().__init__(conv, activation)
        self._geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)

    def packed_dtype(self, x: torch.Tensor) -> torch.dtype | None:
        return torch.get_autocast_dtype("cpu") if autocast_bf16() else None

    def reordered(self, weight: torch.Tensor, input_size: list[int]) -> torch.Tensor:
        return torch.ops.mkldnn._reorder_convolution_weight(weight, *self._geometry, input_size)

    def kernel(self, x, weight, bias):
        return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, *self._geometry, self.post_op,
                                                       self.post_op_scalars, "")


class PackedConvTranspose2d(PackedLayer):
    """A ``ConvTranspose2d`` and its activation: packed in fp32 outside autocast (the same fp32 sums in
    another order) and in bf16 under CPU autocast to bf16. The shipped GAN's transposed
    convolutions through oneDNN's kernel alone decoded 80 codes in 23.8 against 30.3 ms; with the two cases below
    as a product and a convolution, 21 ms (one-off checks)."""

    def __init__(self, conv: nn.ConvTranspose2d, activation: nn.Module | None = None):
        super().__init__(conv, activation)
        self._geometry = (list(conv.padding), list(conv.output_padding), list(conv.stride), list(conv.dilation),
                          conv.groups)

    def packed_dtype(self, x: torch.Tensor) -> torch.dtype | None:
        if torch.is_autocast_enabled("cpu"):
            return torch.get_autocast_dtype("cpu") if autocast_bf16() else None
        return torch.float32 if x.dtype == torch.float32 else None

    @property
    def sub_pixel(self) -> bool:
        """True for a stride-2, 4x4, padding-1 layer with few output channels, which runs as ``sub_pixel_weight``'s
        convolution and a pixel shuffle: oneDNN's transposed kernel ran a decoder's last layer (32 -> 3 channels,
        32 -> 64 px, 80 images) at 38 GFLOP/s, 6.5 ms, where the convolution took 3.8 ms."""
        conv = self.conv
        return (conv.out_channels <= SUB_PIXEL_CHANNELS and conv.groups == 1 and tuple(conv.kernel_size) == (4, 4)
                and tuple(conv.stride) == (2, 2) and tuple(conv.padding) == (1, 1)
                and tuple(conv.output_padding) == (0, 0) and tuple(conv.dilation) == (1, 1))

    def from_one_pixel(self, input_size) -> bool:
        """True for 1x1 input to a layer without padding, which is a matrix product: (n, in) x (in, k * k * out).
        oneDNN's transposed kernel ran a GAN's first layer (100 -> 256 channels, 1 -> 4 px) at 50 GFLOP/s."""
        conv = self.conv
        return (tuple(input_size[2:]) == (1, 1) and conv.groups == 1 and tuple(conv.padding) == (0, 0)
                and tuple(conv.output_padding) == (0, 0) and tuple(conv.dilation) == (1, 1))

    def reordered(self, weight: torch.Tensor, input_size: list[int]) -> torch.Tensor:
        if self.from_one_pixel(input_size):
            return weight.permute(0, 2, 3, 1).reshape(len(weight), -1).contiguous()  # (in, k * k * out), HWC order
        if self.sub_pixel:
            return torch.ops.mkldnn._reorder_convolution_weight(sub_pixel_weight(weight), *SUB_PIXEL_GEOMETRY,
                                                                input_size)
        return torch.ops.mkldnn._reorder_convolution_transpose_weight(weight, *self._geometry, input_size)

    def packed_bias(self, bias: torch.Tensor) -> torch.Tensor:
        return bias.repeat_interleave(4) if self.sub_pixel else bias

    def kernel(self, x, weight, bias):
        if self.from_one_pixel(x.shape):
            n, (height, width), outputs = len(x), self.conv.kernel_size, self.conv.out_channels
            y = (x.reshape(n, -1) @ weight).view(n, height, width, outputs)
            y = y.add_(bias) if bias is not None else y
            y = self.activation(y) if self.activation is not None else y
            return y.permute(0, 3, 1, 2)  # channels last
        if self.sub_pixel:
            return F.pixel_shuffle(torch.ops.mkldnn._convolution_pointwise(
                x, weight, bias, *SUB_PIXEL_GEOMETRY, self.post_op, self.post_op_scalars, ""), 2)
        return torch.ops.mkldnn._convolution_transpose_pointwise(x, weight, bias, *self._geometry, self.post_op,
                                                                 self.post_op_scalars, "")


SUB_PIXEL_CHANNELS = 8
SUB_PIXEL_GEOMETRY = ([1, 1], [1, 1], [1, 1], 1)  # padding, stride, dilation, groups of the 3x3 convolution


def sub_pixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """The (4 * out, in, 3, 3) weight of a stride-1, padding-1 convolution whose output, pixel-shuffled by 2, is a
    stride-2, 4x4, padding-1 transposed convolution's with ``weight`` (in, out, 4, 4): output row 2y + a takes input
    rows y - 1 + d for d in 0..2 through kernel row a + 3 - 2d, where that is in 0..3 (columns alike), and output
    channel 4o + 2a + b of the convolution is phase (a, b) of channel o."""
    inputs, outputs = weight.shape[:2]
    result = weight.new_zeros(outputs, 2, 2, inputs, 3, 3)
    for a in range(2):
        for b in range(2):
            for dy in range(3):
                for dx in range(3):
                    ky, kx = a + 3 - 2 * dy, b + 3 - 2 * dx
                    if 0 <= ky < 4 and 0 <= kx < 4:
                        result[:, a, b, :, dy, dx] = weight[:, :, ky, kx].T
    return result.reshape(4 * outputs, inputs, 3, 3)


PACKED = {nn.Conv2d: PackedConv2d, nn.ConvTranspose2d: PackedConvTranspose2d}


def pack_convolutions(module: nn.Module) -> nn.Module:
    """Replace, in place, each packable ``Conv2d`` or ``ConvTranspose2d`` of ``module`` and of every ``nn.Sequential``
    in it (and the activation right after it, where oneDNN fuses it) by a ``PackedConv2d`` or
    ``PackedConvTranspose2d``; returns ``module``. A convolution that is not a Sequential's layer stays as it is."""
    for child in module.children():
        pack_convolutions(child)
    if isinstance(module, nn.Sequential):
        layers, pending = [], list(module)
        while pending:
            layer = pending.pop(0)
            if packable(layer):
                activation = pending.pop(0) if pending and type(pending[0]) in POST_OPS else None
                layer = PACKED[type(layer)](layer, activation)
            layers.append(layer)
        _refill(module, layers)
    return module


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """Fold, in place, each BatchNorm2d of an ``nn.Sequential`` in ``module`` (in eval mode) into the convolution or
    transposed convolution right before it: the same outputs, to fp32 rounding, from one layer. Returns ``module``."""
    for child in module.children():
        fold_batch_norms(child)
    if isinstance(module, nn.Sequential):
        layers = []
        for layer in module:
            if (isinstance(layer, nn.BatchNorm2d) and layers and type(layers[-1]) in PACKED
                    and not layer.training and not layers[-1].training and layer.track_running_stats):
                layers[-1] = fuse_conv_bn_eval(layers[-1], layer, transpose=type(layers[-1]) is nn.ConvTranspose2d)
            else:
                layers.append(layer)
        _refill(module, layers)
    return module


def _refill(sequential: nn.Sequential, layers: list[nn.Module]) -> None:
    while len(sequential):
        del sequential[-1]
    for layer in layers:
        sequential.append(layer)
