"""The face-space prior: its components, distances, fp16 storage and the train-prior command."""

from __future__ import annotations

import json

import numpy as np
import torch

from conftest import FACES, NON_FACES, assert_one_line_error, run_cli, synthetic_faces
from neural.face_space import DEFAULT_PRIOR, FaceRealism, FaceSpaceConfig, fit_face_space, load_face_space
from neural.face_space_training import distances, save_face_space


def test_components_are_orthonormal_and_explain_faces_better_than_noise():
    faces = synthetic_faces(300, 32, seed=0)
    model = fit_face_space(torch.from_numpy(faces[:250]), FaceSpaceConfig(32, 16))
    gram = model.components.T @ model.components
    assert torch.allclose(gram, torch.eye(16), atol=1e-4)
    noise = np.random.default_rng(0).integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    held, noisy = distances(model, faces[250:]), distances(model, noise)
    assert np.median(held) * 2 < np.median(noisy)


def test_a_point_of_face_space_is_at_distance_zero():
    faces = synthetic_faces(100, 32, seed=1)
    model = fit_face_space(torch.from_numpy(faces), FaceSpaceConfig(32, 8))
    point = model.project(torch.from_numpy(faces[:4]).permute(0, 3, 1, 2))  # (4, D) in [0, 1], HWC order
    images = point.view(4, 32, 32, 3).permute(0, 3, 1, 2)
    assert float(model(images).max()) < 1e-3 < float(model(torch.from_numpy(faces[:4]).permute(0, 3, 1, 2)).min())


def clipped_distance_reference(model, images: np.ndarray) -> np.ndarray:
    """The clipped distance in float64, as its formula: RMS of x - clip(mean + V V^T (x - mean), 0, 1)."""
    x = images.reshape(len(images), -1).astype(np.float64) / 255
    mean, components = model.mean.double().numpy(), model.components.double().numpy()
    projection = np.clip(mean + (x - mean) @ components @ components.T, 0, 1)
    return np.sqrt(((x - projection) ** 2).mean(1))


def test_the_clipped_distance_charges_nothing_for_pixels_saturated_past_the_projection():
    faces = synthetic_faces(200, 32, seed=3)
    model = fit_face_space(torch.from_numpy(faces), FaceSpaceConfig(32, 8))
    # a face pushed far along the first component: its projection runs past black and white, the image is clipped
    point = model.mean + 6 * model.std[0] * model.components[:, 0]
    saturated = point.clamp(0, 1).mul(255).round().byte().view(1, 32, 32, 3).numpy()
    images = np.concatenate([saturated, faces[:5]])
    chw = torch.from_numpy(images).permute(0, 3, 1, 2)
    clipped, linear = FaceRealism(model)(chw).numpy(), model(chw).numpy()
    assert np.allclose(clipped, clipped_distance_reference(model, images), atol=1e-5)
    assert clipped[0] < 0.97 * linear[0]  # its saturated pixels no longer count against it
    assert np.allclose(clipped[1:], linear[1:], atol=0.01)  # faces within range: nearly the plain distance
    assert FaceRealism(model).config == model.config


def test_train_prior_writes_a_run_of_the_usual_shape(tmp_path, capsys):
    out = tmp_path / "prior"
    code, err = run_cli(["train-prior", "--faces", str(FACES), "--negatives", str(NON_FACES), "--out", str(out),
                         "--size", "32", "--components", "16"], capsys)
    assert code == 0, err
    metrics = json.loads((out / "metrics.jsonl").read_text())
    assert metrics["held_out_faces"]["median"] < metrics["uniform_noise"]["median"]
    assert (out / "samples" / "mean_and_components.png").is_file() and (out / "config.json").is_file()
    assert load_face_space(out).config == FaceSpaceConfig(32, 16, mixture=8)
    nll = metrics["nll"]  # the mixture's: real held-out faces are more typical than the non-faces
    assert nll["held_out_faces"]["median"] < nll["negatives"]["median"]


def test_the_fp16_checkpoint_gives_the_fp32_distances(tmp_path):
    model = fit_face_space(torch.from_numpy(synthetic_faces(200, 32, seed=2)), FaceSpaceConfig(32, 16))
    save_face_space(model, tmp_path / "prior.pt")
    loaded = load_face_space(tmp_path / "prior.pt")
    images = torch.from_numpy(np.concatenate([synthetic_faces(20, 32, seed=5), np.random.default_rng(1).integers(
        0, 256, (20, 32, 32, 3), dtype=np.uint8)])).permute(0, 3, 1, 2)
    assert float((model(images) - loaded(images)).abs().max()) < 1e-3


def test_too_many_components_is_a_one_line_error(tmp_path, capsys):
    code, err = run_cli(["train-prior", "--faces", str(FACES), "--out", str(tmp_path / "p"), "--size", "32",
                         "--components", "4000"], capsys)
    assert_one_line_error(code, err, "--components")
    assert not (tmp_path / "p").exists()


def test_the_shipped_prior_loads_and_scores_noise_far_from_faces():
    model = load_face_space()
    assert model.config.size == 64 and DEFAULT_PRIOR.stat().st_size < 4_000_000
    noise = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (8, 3, 64, 64), dtype=np.uint8))
    flat = torch.full((8, 3, 64, 64), 128, dtype=torch.uint8)
    assert float(model(noise).min()) > 2 * float(model(flat).max())
