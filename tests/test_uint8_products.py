"""The exact int8 products of uint8 pixels (evoface.core.uint8_products) against float64 and their fp32 reference,
and the realism prior's fast path built on them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import synthetic_faces
from evoface.core import onednn, uint8_products
from evoface.core.uint8_products import Uint8Product
from neural.face_space import FaceSpaceConfig, fit_face_space


@pytest.fixture
def int8_tiles(monkeypatch):
    """The int8 path on any CPU: ``torch._int_mm`` runs everywhere, fast only on AMX."""
    monkeypatch.setattr(uint8_products, "cpu_has_int8_tiles", lambda: True)


def genes_and_weight(rows: int, dims: int, columns: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    genes = torch.randint(0, 256, (rows, dims), dtype=torch.uint8, generator=generator)
    weight = torch.randn(dims, columns, generator=generator) * torch.logspace(-3, 0, columns)  # columns of any scale
    return genes, weight


@pytest.mark.parametrize("shape", [(80, 12288, 64), (1, 48, 3), (7, 300, 17)])
def test_the_int8_product_is_as_accurate_as_fp32(int8_tiles, shape):
    genes, weight = genes_and_weight(*shape)
    product = Uint8Product(weight)
    assert product.fast(genes)
    exact = genes.double() @ weight.double()
    fast_error = (product(genes).double() - exact).abs().amax(0)
    fp32_error = (genes.float() @ weight - exact).double().abs().amax(0)
    # the three int8 pieces resolve each column to 1 / (127 * 2 * 254^2) of its largest weight; then the result is
    # rounded to fp32
    pieces_bound = (genes.double() - 128).abs().sum(1).max() * weight.double().abs().amax(0) / (127 * 2 * 254**2)
    assert (fast_error <= pieces_bound + 2**-24 * exact.abs().amax(0)).all()
    assert fast_error.max() <= max(fp32_error.max(), 1e-6)


def test_the_int8_product_falls_back_to_its_reference(int8_tiles):
    genes, weight = genes_and_weight(5, 64, 8)
    product = Uint8Product(weight)
    with onednn.plain():
        assert not product.fast(genes)
        assert torch.equal(product(genes), genes.float() @ weight)
    floats = genes.float() / 255
    assert not product.fast(floats) and torch.equal(product(floats), onednn.matmul(floats, weight))


def test_the_int8_product_of_no_rows_is_empty(int8_tiles):
    genes, weight = genes_and_weight(0, 32, 4)
    assert Uint8Product(weight)(genes).shape == (0, 4)


def test_the_int8_product_is_off_without_int8_tiles(monkeypatch):
    monkeypatch.setattr(uint8_products, "cpu_has_int8_tiles", lambda: False)
    genes, weight = genes_and_weight(3, 32, 4)
    assert not Uint8Product(weight).fast(genes)


def test_the_prior_fast_path_matches_float64_and_its_reference(int8_tiles):
    faces = synthetic_faces(120, 32, seed=2)
    model = fit_face_space(torch.from_numpy(faces[:100]), FaceSpaceConfig(32, 16))
    noise = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    genes = torch.from_numpy(np.concatenate([faces[100:], noise]))  # near face space and far from it
    images = genes.permute(0, 3, 1, 2)  # the scorer's channels-last view of HWC genes
    centred = genes.reshape(len(genes), -1).double() / 255 - model.mean.double()
    explained = (centred @ model.components.double()).pow(2).sum(1)
    exact = ((centred.pow(2).sum(1) - explained).clamp_min(0) / centred.shape[1]).sqrt()
    assert model.uint8_product().fast(genes.reshape(len(genes), -1))
    fast, plain = model(images), model.plain_forward(images)
    assert fast.dtype == torch.float32 and fast.shape == (30,)
    assert torch.allclose(fast.double(), exact, rtol=1e-5, atol=1e-7)
    assert torch.allclose(fast, plain, rtol=1e-4, atol=1e-6)
    with onednn.plain():
        assert torch.equal(model(images), plain)
    model.components.mul_(-1)  # changed in place: the product is made again
    assert torch.allclose(model(images), plain, rtol=1e-4, atol=1e-6)


def test_the_prior_loaded_in_inference_mode_takes_the_fast_path(int8_tiles):
    faces = synthetic_faces(60, 32, seed=3)
    with torch.inference_mode():  # its buffers are inference tensors: no version counter to key a cache on
        model = fit_face_space(torch.from_numpy(faces), FaceSpaceConfig(32, 8))
        images = torch.from_numpy(faces[:5]).permute(0, 3, 1, 2)
        assert torch.allclose(model(images), model.plain_forward(images), rtol=1e-4, atol=1e-6)
