"""The fitness models' precision: bf16 runs against its plain fp32 reference, and "auto" keeps fp32 where bf16 would
reorder a GA population's scores."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn

from evoface.core.errors import InputError
from evoface.evolve_build import build_evolution
from evoface.evolve_config import EvolveConfig
from evoface.scoring import BatchScorer, ranking_probe
from fitness_data.folder import load_folder
from neural import precision
from neural.faceness import FacenessNet
from neural.faceness_store import load_faceness
from neural.precision import Compiled, Float32, at_precision, rank_correlation, resolve_precision
from tests.conftest import CELEBA, CIFAR10

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def shipped() -> FacenessNet:
    return load_faceness(None)


def spread_images(n: int = 48, size: int = 64) -> np.ndarray:
    """(n, size*size*3) uint8 noise images from dark to bright: scores spread widely, as validation images do."""
    noise = np.random.default_rng(0).integers(0, 256, (n, size * size * 3))
    return (noise * np.linspace(0.05, 1.0, n)[:, None]).astype(np.uint8)


def test_bf16_ranks_spread_images_as_the_fp32_reference(shipped):
    fast, plain = BatchScorer(shipped, CPU, precision="bf16"), BatchScorer(shipped, CPU, precision="fp32")
    images = spread_images()
    scores, reference = fast(images), plain(images)
    assert fast.precision == "bf16" and reference.std() > 0.02
    assert np.abs(scores - reference).max() < 0.01  # bf16 keeps about 3 significant digits
    assert rank_correlation(scores, reference) >= 0.999


def test_the_bf16_wrapper_keeps_the_modules_interface(shipped):
    model = shipped.eval()
    fast = at_precision(model, CPU, "bf16")
    images = torch.from_numpy(spread_images(8)).view(-1, 64, 64, 3).permute(0, 3, 1, 2)
    with torch.inference_mode():
        out, reference = fast(images), model(images)
    assert (out - reference).abs().max() < 0.01  # bf16 keeps about 3 significant digits
    assert out.dtype == torch.float32 and not fast.training  # in eval mode, as the module it wraps
    assert any(isinstance(m, Float32) for m in fast.modules())  # the one-output head runs in fp32
    assert fast.config == model.config  # the wrapped model's attributes stay reachable


def test_fp32_leaves_the_module_untouched(shipped):
    assert at_precision(shipped, CPU, "fp32") is shipped
    with pytest.raises(InputError, match="--precision"):
        resolve_precision("fp16", CPU)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile needs a C++ compiler")
def test_compiled_fp32_matches_its_eager_reference_at_any_batch_size():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(36, 1)).eval()
    fast = at_precision(model, CPU, "fp32-compiled")
    assert isinstance(fast, Compiled)
    with torch.inference_mode():
        for batch in (5, 3):
            images = torch.rand(batch, 3, 8, 8)
            torch.testing.assert_close(fast(images), model(images), rtol=1e-5, atol=1e-6)


def test_auto_falls_back_to_fp32_where_bf16_reorders_a_population(shipped, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16_tiles", lambda: True)
    auto, plain = BatchScorer(shipped, CPU), BatchScorer(shipped, CPU, precision="fp32")
    probe = ranking_probe(auto.genome_length)
    bf16 = BatchScorer(shipped, CPU, precision="bf16")
    # children this close to their parent: bf16's rounding reorders them (the bench measures it on real runs)
    assert rank_correlation(bf16(probe), plain(probe)) < 0.999
    assert auto.precision == "fp32"
    np.testing.assert_array_equal(auto(probe), plain(probe))


def test_auto_tries_bf16_on_children_of_the_runs_own_mutation(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16_tiles", lambda: True)
    default = build_evolution(EvolveConfig(out=str(tmp_path / "default"), generations=1))
    reset = build_evolution(EvolveConfig(out=str(tmp_path / "reset"), generations=1, prior="none", mutation="reset"))
    # face-space moves spread the children's scores as far as in a real run: bf16 ranks them as fp32 does (0.99995
    # here); children one 0.1% reset apart it reorders (0.9986-0.9990), so the original method's mutation keeps fp32
    assert default.scorer.precision == "bf16"
    assert reset.scorer.precision == "fp32"
    # evolve says what it chose once the run starts
    assert default.scoring.precision_note.startswith("precision auto: bf16 (bf16 ranks")
    assert reset.scoring.precision_note.startswith("precision auto: fp32 (bf16 did not rank")


def test_auto_is_fp32_without_bf16_tiles(shipped, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16_tiles", lambda: False)
    assert resolve_precision("auto", CPU) == "fp32"
    assert BatchScorer(shipped, CPU).precision == "fp32"


@pytest.mark.skipif(not (CELEBA.is_dir() and CIFAR10.is_dir()), reason="needs ../shared/data celeba and cifar10")
def test_bf16_ranks_real_faces_and_non_faces_as_fp32(shipped):
    images = np.concatenate([load_folder(folder, 64, limit=100, quiet=True).images for folder in (CELEBA, CIFAR10)])
    genes = images.reshape(len(images), -1)
    fast, plain = BatchScorer(shipped, CPU, precision="bf16"), BatchScorer(shipped, CPU, precision="fp32")
    assert rank_correlation(fast(genes), plain(genes)) >= 0.999


def test_a_probe_that_scores_alike_keeps_fp32_without_a_warning(recwarn):
    from neural.precision import keeps_ranking

    ranks = lambda probe: np.arange(len(probe), dtype=float)  # noqa: E731
    assert not keeps_ranking(lambda probe: np.full(len(probe), 0.5), lambda probe: np.full(len(probe), 0.5),
                             np.zeros((8, 3)))
    assert keeps_ranking(ranks, ranks, np.zeros((8, 3)))
    assert not keeps_ranking(lambda probe: -ranks(probe), ranks, np.zeros((8, 3)))
    assert not [w for w in recwarn if "constant" in str(w.message)]
