"""The fitness-robustness levers of evolve: coarse genomes, total variation, blur, coarse-to-fine starts."""

import numpy as np
import pytest
import torch

from evoface.core.checkpoints import load_checkpoint
from evoface.evolve import EvolveConfig, evolve
from evoface.rendering import gaussian_blur, genes_to_tensor, render, total_variation
from evoface.scoring import BatchScorer
from neural.faceness_store import load_faceness
from evoface.sampling import evolve_run_images


def test_render_upsamples_coarse_genomes_smoothly():
    genes = np.random.default_rng(0).integers(0, 256, (3, 16 * 16 * 3), dtype=np.uint8)
    images = render(genes, 64)
    assert images.shape == (3, 64, 64, 3)
    same = render(np.ascontiguousarray(images.reshape(3, -1)), 64)
    assert np.array_equal(same, images)  # rendering at its own size is the identity
    assert total_variation(genes_to_tensor(genes, 64)).mean() < total_variation(genes_to_tensor(genes, 16)).mean()


def test_total_variation_orders_noise_above_flat_images():
    flat = torch.full((1, 3, 32, 32), 0.5)
    noise = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert total_variation(flat).item() == 0
    assert total_variation(noise).item() == pytest.approx(2 / 3, abs=0.03)


def test_blur_keeps_flat_images_and_smooths_noise():
    flat = torch.full((2, 3, 16, 16), 0.3)
    assert torch.allclose(gaussian_blur(flat, 1.0), flat, atol=1e-6)
    noise = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert gaussian_blur(noise, 1.0).std() < 0.5 * noise.std()


def test_scorer_with_levers_subtracts_the_tv_penalty():
    model = load_faceness()
    genes = np.random.default_rng(1).integers(0, 256, (4, 64 * 64 * 3), dtype=np.uint8)
    plain = BatchScorer(model, torch.device("cpu"))(genes)
    penalised = BatchScorer(model, torch.device("cpu"), tv_weight=0.5)(genes)
    tv = total_variation(genes_to_tensor(genes, 64)).double().numpy()
    assert np.allclose(penalised, plain - 0.5 * tv, atol=1e-5)


def test_coarse_genome_run_and_coarse_to_fine_start(tmp_path):
    evolve(EvolveConfig(out=str(tmp_path / "coarse"), mu=10, q=2, generations=20, genome_size=16, device="cpu",
                        mutation="reset"))
    ckpt = load_checkpoint(tmp_path / "coarse" / "checkpoints" / "last.pt", "evolve")
    assert ckpt["genes"].shape == (10, 16 * 16 * 3) and ckpt["image_size"] == 64
    assert evolve_run_images(tmp_path / "coarse", 2).shape == (2, 64, 64, 3)
    coarse_best = float(ckpt["fitness"].max())
    evolve(EvolveConfig(out=str(tmp_path / "fine"), mu=10, q=2, generations=2, genome_size=32, device="cpu",
                        mutation="reset", init_from=str(tmp_path / "coarse")))
    fine = load_checkpoint(tmp_path / "fine" / "checkpoints" / "last.pt", "evolve")
    assert fine["genes"].shape == (10, 32 * 32 * 3)
    # the fine run starts from the coarse run's images, so it starts near the coarse run's best fitness
    assert float(fine["fitness"].max()) > coarse_best - 0.1


def test_lever_validation(tmp_path):
    from evoface.core.errors import InputError

    with pytest.raises(InputError, match="--genome-size"):
        evolve(EvolveConfig(out=str(tmp_path / "x"), generations=1, genome_size=2))
    with pytest.raises(InputError, match="--tv-weight"):
        evolve(EvolveConfig(out=str(tmp_path / "y"), generations=1, tv_weight=-1))


def test_ensemble_scores_are_the_min_or_mean_of_its_models():
    from neural.faceness import FacenessConfig, FacenessNet

    torch.manual_seed(0)
    models = [load_faceness(), FacenessNet(FacenessConfig(size=64)).eval()]
    genes = np.random.default_rng(2).integers(0, 256, (5, 64 * 64 * 3), dtype=np.uint8)
    single = np.stack([BatchScorer(m, torch.device("cpu"))(genes) for m in models])
    assert not np.allclose(single[0], single[1])
    for rule, combine in (("min", np.min), ("mean", np.mean)):
        both = BatchScorer(models, torch.device("cpu"), ensemble_rule=rule)(genes)
        assert np.allclose(both, combine(single, axis=0), atol=1e-6)


def test_evolve_with_an_ensemble_and_its_errors(tmp_path, capsys):
    from neural.faceness import FacenessConfig, FacenessNet
    from neural.faceness_store import save_faceness
    from tests.conftest import assert_one_line_error, run_cli

    save_faceness(FacenessNet(FacenessConfig(size=64)).eval(), tmp_path / "other.pt")
    save_faceness(FacenessNet(FacenessConfig(size=32)).eval(), tmp_path / "small.pt")
    code, _ = run_cli(["evolve", "--out", str(tmp_path / "run"), "--ensemble", str(tmp_path / "other.pt"),
                       "--ensemble-rule", "mean", "--mu", "6", "--q", "2", "--generations", "3", "--device", "cpu"],
                      capsys)
    assert code == 0
    config = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", "evolve")["config"]
    assert config["ensemble"] == [str(tmp_path / "other.pt")] and config["ensemble_rule"] == "mean"
    code, err = run_cli(["evolve", "--out", str(tmp_path / "bad"), "--ensemble", str(tmp_path / "small.pt"),
                         "--generations", "2"], capsys)
    assert_one_line_error(code, err, "different image sizes")
