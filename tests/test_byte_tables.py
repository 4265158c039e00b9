"""uint8 tensors through a 256-entry table (evoface.core.byte_tables) against ``table[x]``, and the faceness net's
bf16 input made by one, against the fp32 scaling and autocast's cast."""

from __future__ import annotations

import pytest
import torch

from evoface.core import byte_tables
from evoface.core.byte_tables import mapped, mapped_reference
from evoface.scoring import fuse_for_inference
from neural import faceness
from neural.faceness import FacenessConfig, FacenessNet
from neural.precision import at_precision


@pytest.fixture
def gathers(monkeypatch) -> list:
    """Counts the compiled gather's calls: the fast pass ran, not the reference."""
    calls, gather = [], byte_tables._gather
    monkeypatch.setattr(byte_tables, "_gather", lambda *args: calls.append(1) or gather(*args))
    return calls


def pixels(*shape: int) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.int64, torch.int8])
def test_every_width_of_entry_gives_the_reference_bits(dtype, gathers):
    table = (torch.randn(256, generator=torch.Generator().manual_seed(1)) * 50).to(dtype)
    x = pixels(7, 33)
    assert torch.equal(mapped(x, table), mapped_reference(x, table)) and gathers == [1]


def test_the_layout_is_kept_and_strided_views_fall_back_to_the_reference(gathers):
    table = torch.arange(256, dtype=torch.float32) * 0.5
    channels_last = pixels(4, 16, 16, 3).permute(0, 3, 1, 2)
    out = mapped(channels_last, table)
    assert out.stride() == channels_last.stride() and torch.equal(out, mapped_reference(channels_last, table))
    assert gathers == [1]
    every_other, repeated = pixels(6, 10)[:, ::2], pixels(1, 5).expand(4, 5)
    assert torch.equal(mapped(every_other, table), mapped_reference(every_other, table))
    assert torch.equal(mapped(repeated, table), mapped_reference(repeated, table))
    assert mapped(pixels(0, 3), table).shape == (0, 3)
    assert gathers == [1]  # the strided, overlapping and empty ones took the reference
    learned = table.clone().requires_grad_()
    assert mapped(pixels(3, 4), learned).requires_grad and gathers == [1]


def test_not_bytes_or_not_256_entries_is_refused():
    with pytest.raises(ValueError, match="256 entries"):
        mapped(pixels(3).float(), torch.zeros(256))
    with pytest.raises(ValueError, match="256 entries"):
        mapped(pixels(3), torch.zeros(255))


def test_under_bf16_autocast_the_faceness_input_is_the_fp32_scaling_cast_to_bf16():
    images = pixels(5, 32, 32, 3).permute(0, 3, 1, 2)
    with torch.inference_mode():
        fp32 = FacenessNet.scaled_input(images, cast_to_bf16=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = FacenessNet.scaled_input(images, cast_to_bf16=True)
            assert FacenessNet.scaled_input(images).dtype == torch.float32  # only for a first layer that casts
    assert fp32.dtype == torch.float32 and bf16.dtype == torch.bfloat16
    assert torch.equal(bf16, fp32.to(torch.bfloat16)) and bf16.stride() == fp32.stride()


def test_under_bf16_autocast_the_features_are_those_of_the_fp32_input_the_first_convolution_casts():
    torch.manual_seed(0)
    net = FacenessNet(FacenessConfig(size=32)).eval()
    images = pixels(6, 32, 32, 3).permute(0, 3, 1, 2)
    with torch.inference_mode():
        fp32_input = FacenessNet.scaled_input(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(net.feature_maps(images), net.features(fp32_input))


def test_the_scorers_bf16_model_scores_as_it_did_with_the_fp32_input(monkeypatch, gathers):
    torch.manual_seed(0)
    model = at_precision(fuse_for_inference(FacenessNet(FacenessConfig(size=32)).eval()), torch.device("cpu"), "bf16")
    images = pixels(6, 32, 32, 3).permute(0, 3, 1, 2)
    with torch.inference_mode():
        fast = model(images)
        assert gathers == [1]
        monkeypatch.setattr(faceness.byte_tables, "mapped", lambda x, table: faceness._scaled(x.float()))
        assert torch.equal(fast, model(images))  # the fp32 scaling, cast by the (packed) first convolution
