"""The mixture over face-space coordinates: its NLL against scikit-learn's, the atypicality that evolve's
--typicality-weight subtracts, and its storage in a face-space checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from conftest import assert_one_line_error, run_cli, synthetic_faces
from evoface.core.errors import InputError
from evoface.evolve_build import build_evolution
from evoface.evolve_config import EvolveConfig
from neural.face_mixture import fit_face_mixture
from neural.face_space import FaceRealism, FaceSpaceConfig, fit_face_space, load_face_space
from neural.face_space_training import save_face_space


def correlated(n: int, seed: int) -> np.ndarray:
    """(n, 6) coordinates from two clusters whose coordinates depend on each other."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 3))
    cluster = rng.random(n) < 0.5
    return np.concatenate([base, base @ [[1, 0.5, 0], [0, 1, 0.5], [0.5, 0, 1]] + 3 * cluster[:, None]], 1)


def test_the_nll_is_scikit_learns_and_the_typical_nll_the_held_out_median():
    train, held = correlated(2000, 0), correlated(500, 1)
    mixture = fit_face_mixture(train, 2, held, seed=0)
    reference = GaussianMixture(2, covariance_type="full", reg_covar=1e-3, max_iter=200, random_state=0).fit(train)
    probe = np.concatenate([held[:50], np.random.default_rng(2).normal(0, 3, (50, 6))])
    nll = mixture.nll(torch.from_numpy(probe).float()).numpy()
    assert np.allclose(nll, -reference.score_samples(probe), rtol=1e-4, atol=1e-3)
    assert mixture.typical_nll.item() == pytest.approx(np.median(-reference.score_samples(held)), abs=1e-3)


def test_atypicality_is_zero_for_typical_coordinates_and_grows_with_an_unusual_combination():
    mixture = fit_face_mixture(correlated(2000, 0), 2, correlated(500, 1), seed=0)
    typical = torch.tensor([[0.0, 0, 0, 0, 0, 0], [0, 0, 0, 3, 3, 3]])  # the two clusters' centres
    # each coordinate within the data's range, the combination against its correlations
    unusual = torch.tensor([[1.5, 1.5, 1.5, -1.5, -1.5, -1.5]])
    assert mixture.atypicality(typical).tolist() == [0.0, 0.0]
    assert mixture.atypicality(unusual).item() > 10


def faces_space(mixture: int, size: int = 32) -> tuple:
    """A face space of synthetic faces, and 10 held-out faces and 10 noise images to score."""
    faces = synthetic_faces(300, size, seed=0)
    model = fit_face_space(torch.from_numpy(faces[:250]), FaceSpaceConfig(size, 8, mixture),
                           held_out=torch.from_numpy(faces[250:]))
    return model, torch.from_numpy(np.concatenate([faces[250:260], np.random.default_rng(0).integers(
        0, 256, (10, size, size, 3), dtype=np.uint8)])).permute(0, 3, 1, 2)


@pytest.mark.parametrize("clipped", [True, False])
def test_face_realism_adds_the_weighted_atypicality_to_the_weighted_distance(clipped):
    model, images = faces_space(mixture=3)
    distance = model.clipped_distance(images) if clipped else model(images)
    atypicality = model.mixture.atypicality(model.coefficients(images))
    penalty = FaceRealism(model, clipped, distance_weight=2.0, typicality_weight=0.01)(images)
    assert torch.allclose(penalty, 2.0 * distance + 0.01 * atypicality, atol=1e-5)
    assert (atypicality > 0).any()
    assert torch.equal(FaceRealism(model, clipped, distance_weight=2.0)(images), 2.0 * distance)


def test_typicality_needs_a_face_space_with_a_mixture():
    model, _ = faces_space(mixture=0)
    assert model.mixture is None
    with pytest.raises(InputError, match="train-prior --mixture"):
        FaceRealism(model, typicality_weight=0.01)


def test_the_checkpoint_keeps_the_mixture_in_fp32(tmp_path):
    model, images = faces_space(mixture=3)
    save_face_space(model, tmp_path / "prior.pt")
    loaded = load_face_space(tmp_path / "prior.pt")
    assert loaded.config == FaceSpaceConfig(32, 8, 3)
    for name, value in model.mixture.state_dict().items():
        assert torch.equal(loaded.mixture.state_dict()[name], value)


def test_evolve_with_typicality_and_a_prior_without_a_mixture_is_a_one_line_error(tmp_path, capsys):
    model, _ = faces_space(mixture=0, size=64)
    save_face_space(model, tmp_path / "plain.pt")
    out = tmp_path / "run"
    code, err = run_cli(["evolve", "--generations", "1", "--prior-model", str(tmp_path / "plain.pt"),
                         "--typicality-weight", "0.01", "--out", str(out)], capsys)
    assert_one_line_error(code, err, "train-prior --mixture")
    assert not out.exists()  # nothing left that blocks a retry


def test_evolve_charges_atypical_coordinates_with_the_shipped_prior(tmp_path, capsys):
    code, err = run_cli(["evolve", "--generations", "2", "--mu", "6", "--q", "2", "--device", "cpu",
                         "--typicality-weight", "0.01", "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    configs = [EvolveConfig(out=str(tmp_path / f"w{weight}"), generations=1, device="cpu", precision="fp32",
                            typicality_weight=weight) for weight in (0.0, 0.01)]
    scorers = [build_evolution(config).scorer for config in configs]
    face_space = scorers[1].prior.face_space
    # every coordinate 1.5 real-face stds out: each typical, together far from any real face
    coordinates = torch.full((1, face_space.config.components), 1.5) * face_space.std
    image = (face_space.mean + coordinates @ face_space.components.T).clamp(0, 1).mul(255).round().byte()
    atypicality = face_space.mixture.atypicality(face_space.coefficients(image.view(1, 64, 64, 3).permute(0, 3, 1, 2)))
    plain, charged = (scorer(image.numpy()) for scorer in scorers)
    assert atypicality.item() > 10
    assert charged[0] == pytest.approx(plain[0] - 0.01 * atypicality.item(), abs=1e-4)
