"""Convolutions with packed weights (evoface.kernels.packed_convs) against autocast's convolutions and their fp32
reference, alone and as the scorer's bf16 path; transposed convolutions (a decoder's) packed in fp32 and bf16."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from evoface.kernels import onednn, switch
from evoface.kernels.packed_convs import (PackedConv2d, PackedConvTranspose2d, fold_batch_norms, pack_convolutions,
                                       sub_pixel_weight)

pytestmark = pytest.mark.usefixtures("fast_paths_on")  # these tests compare the fast paths with their references
needs_onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch was built without oneDNN")


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                         nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.ReLU()),
                         nn.Conv2d(16, 16, 1), nn.Conv2d(16, 4, 3, padding="same"), nn.Flatten()).eval()


def inputs(n: int = 4) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(1)).contiguous(
        memory_format=torch.channels_last)


def test_packing_replaces_each_convolution_and_its_activation():
    packed = pack_convolutions(conv_net())
    kinds = [type(layer) for layer in packed]
    assert kinds == [PackedConv2d, nn.Sequential, PackedConv2d, nn.Conv2d, nn.Flatten]  # "same" padding: as it was
    assert [layer.post_op for layer in packed.modules() if isinstance(layer, PackedConv2d)] == [
        "leaky_relu", "relu", "none"]
    assert packed[0].post_op_scalars == [0.2]


def test_outside_autocast_a_packed_net_is_its_reference_exactly():
    net = conv_net()
    packed = pack_convolutions(copy.deepcopy(net))
    with torch.inference_mode():
        assert torch.equal(packed(inputs()), net(inputs()))


@needs_onednn
def test_under_autocast_packed_convolutions_compute_what_autocast_does():
    net = conv_net()
    packed = pack_convolutions(copy.deepcopy(net))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast, autocast = packed(inputs()), net(inputs())
        assert fast.dtype == torch.bfloat16 and packed[0].runs_packed(inputs())
        assert len(packed[0].kernels) == 1
        packed(inputs(2))  # another batch size: weights packed for it
        assert len(packed[0].kernels) == 2
        with switch.plain():
            assert not packed[0].runs_packed(inputs())
    assert torch.allclose(fast.float(), autocast.float(), atol=0.02, rtol=0.02)
    with torch.inference_mode():
        assert (fast.float() - net(inputs())).abs().max() < 0.05  # bf16 against fp32


@needs_onednn
def test_packed_weights_are_dropped_when_copied_moved_or_loaded():
    packed = pack_convolutions(conv_net())
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = packed(inputs())
    for copied in (copy.deepcopy(packed), pickle.loads(pickle.dumps(packed))):
        assert not copied[0].kernels
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(copied(inputs()), expected)
    packed.float()
    assert not packed[0].kernels
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        packed(inputs())
    packed.load_state_dict(packed.state_dict())
    assert not packed[0].kernels


@needs_onednn
def test_packed_weights_follow_an_in_place_change_of_the_weights():
    net = conv_net()
    packed = pack_convolutions(copy.deepcopy(net))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        before = packed(inputs())
    with torch.no_grad():  # as an optimiser step does
        for model in (net, packed):
            model[0].weight.mul_(-1) if isinstance(model[0], nn.Conv2d) else model[0].conv.weight.mul_(-1)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        after, autocast = packed(inputs()), net(inputs())
    assert not torch.allclose(after.float(), before.float(), atol=0.02)
    assert torch.allclose(after.float(), autocast.float(), atol=0.02, rtol=0.02)
    assert len(packed[0].kernels) == 1  # the stale packing is dropped


def test_with_gradients_a_packed_convolution_trains_as_its_layers():
    packed = pack_convolutions(conv_net())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        packed(inputs()).float().sum().backward()
    assert packed[0].conv.weight.grad is not None


def deconv_net() -> nn.Module:
    """A small decoder: 1 -> 4 px (a product), 4 -> 8 px (oneDNN's transposed kernel), 8 -> 16 px with 3 outputs
    (sub-pixel), BatchNorms with running statistics of their own."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(12, 32, 4, 1, 0, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                        nn.ConvTranspose2d(32, 16, 4, 2, 1, bias=False), nn.BatchNorm2d(16), nn.LeakyReLU(0.2),
                        nn.ConvTranspose2d(16, 3, 4, 2, 1), nn.Tanh())
    for norm in (net[1], net[4]):
        norm.running_mean.uniform_(-0.5, 0.5), norm.running_var.uniform_(0.5, 2.0), norm.weight.data.uniform_(0.5, 2)
    return net.eval()


def codes(n: int = 6) -> torch.Tensor:
    return torch.randn(n, 12, 1, 1, generator=torch.Generator().manual_seed(2))


def test_sub_pixel_weight_turns_a_transposed_convolution_into_a_pixel_shuffled_convolution():
    generator = torch.Generator().manual_seed(3)
    weight = torch.randn(5, 2, 4, 4, generator=generator, dtype=torch.float64)
    x = torch.randn(2, 5, 6, 7, generator=generator, dtype=torch.float64)
    shuffled = F.pixel_shuffle(F.conv2d(x, sub_pixel_weight(weight), padding=1), 2)
    torch.testing.assert_close(shuffled, F.conv_transpose2d(x, weight, stride=2, padding=1), rtol=0, atol=1e-12)


@needs_onednn
def test_a_folded_packed_decoder_decodes_as_its_layers_in_fp32():
    net = deconv_net()
    fast = pack_convolutions(fold_batch_norms(copy.deepcopy(net)))
    assert [type(layer) for layer in fast] == [PackedConvTranspose2d] * 3
    assert [layer.post_op for layer in fast] == ["relu", "leaky_relu", "tanh"]
    assert fast[0].from_one_pixel(codes().shape) and fast[2].sub_pixel and not fast[1].sub_pixel
    with torch.inference_mode():
        z = codes()
        assert fast[0].runs_packed(z)
        expected = net(z)
        torch.testing.assert_close(fast(z), expected, rtol=0, atol=2e-6)
        for n in (1, 2, 3, 5):  # alone or in any batch, to fp32 rounding (the same bits only for the same shapes)
            for i in range(0, len(z) - n + 1, n):
                torch.testing.assert_close(fast(z[i:i + n]), fast(z)[i:i + n], rtol=0, atol=2e-6)
        with switch.plain():
            assert not fast[0].runs_packed(z)
            torch.testing.assert_close(fast(z), expected, rtol=0, atol=2e-6)  # the folded layers, unpacked


@needs_onednn
def test_under_autocast_packed_transposed_convolutions_run_bf16():
    net = deconv_net()
    fast = pack_convolutions(fold_batch_norms(copy.deepcopy(net)))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = fast(codes())
        assert out.dtype == torch.bfloat16 and fast[1].kernels and next(iter(fast[1].kernels))[0] == torch.bfloat16
    with torch.inference_mode():
        assert (out.float() - net(codes())).abs().max() < 0.05


def test_with_gradients_a_packed_transposed_convolution_runs_its_layers():
    net = deconv_net()
    fast = pack_convolutions(copy.deepcopy(net))
    z = codes().requires_grad_()
    assert not fast[0].runs_packed(z)
    fast(z).sum().backward()
    assert z.grad is not None and not fast[0].kernels
    torch.testing.assert_close(fast(codes()), net(codes()))


def test_batch_norms_in_training_mode_are_not_folded():
    net = deconv_net().train()
    assert [type(layer) for layer in fold_batch_norms(copy.deepcopy(net))] == [type(layer) for layer in net]
    net.eval()[0].train()  # a convolution in training mode before an eval-mode BatchNorm: that pair stays
    assert [type(layer) for layer in fold_batch_norms(net)][:3] == [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU]


@needs_onednn
@pytest.mark.parametrize("layer, side", [
    (nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1), 5),
    (nn.ConvTranspose2d(6, 4, (3, 5), stride=(1, 2), padding=(1, 2), bias=False), 6),
    (nn.ConvTranspose2d(6, 4, 3, stride=1, padding=2, dilation=2), 5),
    (nn.ConvTranspose2d(6, 4, 4, stride=2, padding=1, groups=2), 5),
    (nn.ConvTranspose2d(6, 5, 4, stride=2, padding=1, bias=False), 5),  # sub-pixel, no bias
    (nn.ConvTranspose2d(6, 4, 4, stride=3, padding=0), 1),  # one pixel, stride 3
    (nn.ConvTranspose2d(6, 4, (2, 3), stride=2, padding=0, bias=False), 1),  # one pixel, no bias
])
@pytest.mark.parametrize("activation", [None, nn.ReLU(inplace=True), nn.Tanh()])
def test_a_packed_transposed_convolution_of_any_geometry_is_its_layers(layer, side, activation):
    torch.manual_seed(0)
    layer = layer.eval()
    packed = PackedConvTranspose2d(layer, activation)
    x = torch.randn(3, 6, side, side)
    with torch.inference_mode():
        expected = packed.reference(x.clone())
        assert packed.runs_packed(x)
        torch.testing.assert_close(packed(x), expected, rtol=0, atol=1e-5)
        torch.testing.assert_close(packed(x[:1]), expected[:1], rtol=0, atol=1e-5)


@needs_onednn
def test_packed_weights_are_kept_for_a_bounded_number_of_input_shapes():
    from evoface.kernels.packed_convs import PACKED_SHAPES

    packed = pack_convolutions(fold_batch_norms(deconv_net()))
    with torch.inference_mode():
        for n in range(1, PACKED_SHAPES + 4):
            packed(codes(n))
    assert len(packed[1].kernels) == PACKED_SHAPES and (torch.float32, (PACKED_SHAPES + 3, 32, 4, 4)) == \
        next(reversed(packed[1].kernels))[:2]
