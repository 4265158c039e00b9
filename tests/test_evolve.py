import json

import numpy as np
import pytest
import torch

from cli import main
from evoface.core.checkpoints import load_checkpoint
from evoface.evolve import EvolveConfig, evolve, resume_config
from tests.conftest import assert_one_line_error, run_cli


def config(out, **overrides) -> EvolveConfig:
    options = dict(out=str(out), mu=16, q=4, generations=24, checkpoint_every=8, snapshot_every=8,
                   device="cpu", seed=5, indpb=0.002)
    options.update(overrides)
    return EvolveConfig(**options)


def test_a_short_run_raises_max_fitness_and_writes_its_outputs(tmp_path):
    summary = evolve(config(tmp_path / "run", detector_every=8))
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in rows] == list(range(1, 25))
    assert rows[-1]["max"] > rows[0]["max"]
    assert all(b["max"] >= a["max"] for a, b in zip(rows, rows[1:]))  # elitism: the best never drops
    assert {"max", "mean", "min", "std", "diversity", "generations_per_s"} <= set(rows[0])
    from PIL import Image

    from neural.face_detector import detect_faces

    best_at_8 = np.asarray(Image.open(run / "samples" / "best_0000008.png"))[::4, ::4]  # the snapshot is 4x enlarged
    assert rows[7]["best_face_detected"] == bool(detect_faces(best_at_8[None], "cnn")[0])  # the run judges with dlib CNN
    assert "best_face_detected" not in rows[6]
    assert summary["reason"] == "reached 24 generations"
    for name in ("config.json", "top_grid.png", "timelapse.gif", "plots/fitness.png", "checkpoints/last.pt",
                 "samples/best_0000000.png", "samples/best_0000024.png"):
        assert (run / name).is_file(), name
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt", "evolve")
    assert ckpt["generation"] == 24 and ckpt["genes"].shape == (16, 64 * 64 * 3)
    assert set(ckpt["rng"]) >= {"python", "numpy", "numpy_legacy", "torch"} and ckpt["seed_stream"] > 0


def test_interrupted_and_resumed_run_ends_identical_to_an_uninterrupted_one(tmp_path):
    evolve(config(tmp_path / "straight"))
    evolve(config(tmp_path / "split", generations=11))  # stops between two checkpoints
    evolve(resume_config(tmp_path / "split", generations=24), resume=True)
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt", "evolve")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt", "evolve")
    assert torch.equal(a["genes"], b["genes"]) and torch.equal(a["fitness"], b["fitness"])
    assert torch.equal(a["hof_genes"], b["hof_genes"])
    rows = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["generation"] for r in rows] == list(range(1, 25))


def test_a_checkpoint_from_before_the_seed_stream_resumes(tmp_path):
    evolve(config(tmp_path / "run", generations=8))
    path = tmp_path / "run" / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(path, "evolve")
    del ckpt["seed_stream"], ckpt["elites_first"], ckpt["format"], ckpt["evoface_version"]  # as written by
    # evoface 0.1 (no format number): operators drew from numpy, and the elites were copied to the first rows
    torch.save(ckpt, path)
    summary = evolve(resume_config(tmp_path / "run", generations=12), resume=True)
    assert summary["generation"] == 12
    assert load_checkpoint(path, "evolve")["seed_stream"] > 0


@pytest.mark.parametrize("args, fragment", [
    (["--mu", "10", "--q", "10"], "--q"),
    (["--mu", "1", "--q", "0"], "--mu"),
    (["--indpb", "1.5"], "--indpb"),
    (["--cxpb", "-0.1"], "--cxpb"),
    (["--selection", "tournament", "--tournsize", "0"], "--tournsize"),
    (["--size", "32"], "does not match"),
])
def test_evolve_bad_parameters(tmp_path, capsys, args, fragment):
    code, err = run_cli(["evolve", "--out", str(tmp_path / "run"), "--generations", "1", *args], capsys)
    assert_one_line_error(code, err, fragment)


def test_evolve_unreadable_checkpoint_or_run_dir(tmp_path, capsys):
    code, err = run_cli(["evolve", "--resume", str(tmp_path / "nothing")], capsys)
    assert_one_line_error(code, err, "not a run directory")
    evolve(config(tmp_path / "run", generations=2))
    (tmp_path / "run" / "checkpoints" / "last.pt").write_bytes(b"broken")
    code, err = run_cli(["evolve", "--resume", str(tmp_path / "run"), "--generations", "4"], capsys)
    assert_one_line_error(code, err, "cannot read checkpoint")
    code, err = run_cli(["evolve", "--out", str(tmp_path / "x"), "--fitness", str(tmp_path / "run" / "config.json"),
                         "--generations", "1"], capsys)
    assert_one_line_error(code, err, "cannot read checkpoint")


def test_evolve_cli_runs_and_resumes(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["evolve", "--out", str(tmp_path / "run"), "--mu", "8", "--q", "2", "--generations", "3",
              "--device", "cpu"])
    assert done.value.code in (None, 0)
    main_args = ["evolve", "--resume", str(tmp_path / "run"), "--generations", "5"]
    with pytest.raises(SystemExit) as done:
        main(main_args)
    assert done.value.code in (None, 0)
    assert "at generation 5" in capsys.readouterr().out
    genes = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", "evolve")["genes"]
    assert genes.shape[0] == 8 and np.asarray(genes).dtype == np.uint8


def test_stopping_rules_given_on_resume_replace_the_stored_ones(tmp_path):
    evolve(config(tmp_path / "run", generations=None, time_limit=1.0))
    resumed = resume_config(tmp_path / "run", generations=50)
    assert resumed.generations == 50 and resumed.time_limit is None
    kept = resume_config(tmp_path / "run", indpb=0.01)
    assert kept.time_limit == 1.0 and kept.indpb == 0.01
