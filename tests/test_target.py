"""evolve --target IMAGE: likeness to a given face in the fitness, kept in the run folder for resume."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from conftest import assert_one_line_error, run_cli, synthetic_faces
from evoface.core.checkpoints import load_checkpoint
from evoface.scoring import BatchScorer
from neural.face_space import load_face_space
from neural.faceness_store import load_faceness
from neural.target_likeness import target_likeness


def chw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2)


def test_each_space_puts_the_target_at_zero_and_other_faces_further():
    faces = synthetic_faces(6, 64, seed=3)
    for space in ("face-space", "faceness"):
        likeness = target_likeness(space, chw(faces[:1])[0], load_face_space(), load_faceness(None).eval())
        with torch.inference_mode():
            distance = likeness(chw(faces))
        assert float(distance[0]) < 1e-3 < float(distance[1:].min()), space


def test_the_scorer_subtracts_the_weighted_distance():
    faces = synthetic_faces(8, 64, seed=4)
    likeness = target_likeness("face-space", chw(faces[:1])[0], load_face_space())
    model = load_faceness(None)
    plain = BatchScorer(model, torch.device("cpu"), precision="fp32")
    aimed = BatchScorer(model, torch.device("cpu"), precision="fp32", target=likeness, target_weight=0.5)
    genes = faces.reshape(8, -1)
    with torch.inference_mode():
        distance = likeness(chw(faces)).double().numpy()
    assert np.allclose(plain(genes) - aimed(genes), 0.5 * distance, atol=1e-5)


def _best_distance(run, likeness) -> float:
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt", "evolve")
    best = ckpt["hof_genes"].numpy()[:1].reshape(1, 64, 64, 3)
    with torch.inference_mode():
        return float(likeness(chw(best))[0])


def test_a_run_with_a_target_ends_nearer_it_and_resumes_from_its_own_copy(tmp_path, capsys):
    target = tmp_path / "target.png"
    face = synthetic_faces(1, 64, seed=9)[0]
    Image.fromarray(face).save(target)
    common = ["--generations", "150", "--seed", "1", "--checkpoint-every", "50"]
    code, err = run_cli(["evolve", "--out", str(tmp_path / "free"), *common], capsys)
    assert code == 0, err
    code, err = run_cli(["evolve", "--out", str(tmp_path / "aimed"), "--target", str(target), "--target-weight", "0.5",
                         *common], capsys)
    assert code == 0, err
    likeness = target_likeness("face-space", chw(face[None])[0], load_face_space())
    assert _best_distance(tmp_path / "aimed", likeness) < 0.8 * _best_distance(tmp_path / "free", likeness)
    stored = np.asarray(Image.open(tmp_path / "aimed" / "target.png"))
    assert np.array_equal(stored, face)
    target.unlink()  # the run keeps its own copy
    code, err = run_cli(["evolve", "--resume", str(tmp_path / "aimed"), "--generations", "160"], capsys)
    assert code == 0, err


def test_a_target_that_is_not_an_image_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    code, err = run_cli(["evolve", "--out", str(tmp_path / "run"), "--target", str(bad), "--generations", "5"], capsys)
    assert_one_line_error(code, err, "--target")
    assert not (tmp_path / "run").exists()
    code, err = run_cli(["evolve", "--out", str(tmp_path / "run"), "--target", str(tmp_path / "missing.png")], capsys)
    assert code == 2 and "missing.png" in err and "Traceback" not in err
