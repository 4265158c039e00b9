import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cli import main
from evoface.core.checkpoints import load_checkpoint
from evoface.evolve import EvolveConfig, evolve
from evoface.refine_rounds import RefineRoundsConfig, fine_tune_round, refine_rounds, round_fit_config
from evoface.refinement import EXPORT_FOLDER
from fitness_data.sources import oversample
from fitness_data.batches import to_nchw
from fitness_data.folder import load_folder
from neural.faceness_store import load_faceness, resolve_faceness_path, score_images
from tests.conftest import FACES, NON_FACES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_refining_on_evolved_images_lowers_their_score(tmp_path):
    run = tmp_path / "ga"
    evolve(EvolveConfig(out=str(run), mu=16, q=4, generations=200, device="cpu", seed=1, indpb=0.002))
    with pytest.raises(SystemExit) as done:
        main(["train-fitness", "--refine", str(run), "--faces", str(FACES), "--negatives", str(NON_FACES),
              "--max-images", "120", "--epochs", "3", "--out", str(tmp_path / "refined"), "--device", "cpu"])
    assert done.value.code == 0
    exported = load_folder(run / EXPORT_FOLDER, 64, quiet=True).images
    assert 3 <= len(exported) <= 16 + 16
    evolved = to_nchw(exported)
    before = score_images(load_faceness(), evolved).mean()
    after = score_images(load_faceness(tmp_path / "refined"), evolved).mean()
    assert before > 0.3  # the premise: the shipped model over-rates these noise images
    assert after < before - 0.1, (float(before), float(after))


def test_oversample_brings_few_images_to_a_tenth():
    extra = np.zeros((7, 4, 4, 3), np.uint8)
    assert len(oversample(extra, 1000)) >= 100
    assert len(oversample(extra, 10)) == 7


@pytest.mark.slow
def test_refine_rounds_alternate_and_resume(tmp_path, capsys):
    from evoface.refine_rounds import RefineRoundsConfig, refine_rounds

    config = RefineRoundsConfig(faces=[str(FACES)], negatives=[str(NON_FACES)], out=str(tmp_path / "loop"), rounds=2,
                                generations=200, epochs=2, max_images=80, evolve_options={"mu": 16, "q": 4},
                                device="cpu")
    rows = refine_rounds(config)
    assert [r["round"] for r in rows] == [0, 1]
    assert rows[1]["model"].endswith("round0/fit/checkpoints/best.pt")  # round 1 evolved against round 0's model
    assert all(r["best_fitness_after"] < r["best_fitness_before"] for r in rows)
    # round 1 refines with both rounds' images
    assert (tmp_path / "loop" / "round1" / "ga" / "refine-negatives").is_dir()
    again = refine_rounds(config)  # finished rounds are skipped
    assert again == rows


ROUNDS_GENERATIONS = 300
ROUNDS_SCRIPT = """
import sys
from evoface.refine_rounds import refine_rounds
from tests.test_refinement import tiny_rounds
rows = refine_rounds(tiny_rounds(*sys.argv[1:]))
print(f"rounds done: {len(rows)}")
"""


def tiny_rounds(faces: str, negatives: str, out: str) -> RefineRoundsConfig:
    """Two rounds of a few hundred generations of a tiny pixel GA and one epoch of fine-tuning on 12 images."""
    return RefineRoundsConfig(faces=[faces], negatives=[negatives], out=out, rounds=2,
                              generations=ROUNDS_GENERATIONS, epochs=1, max_images=12, genome_size=8, device="cpu",
                              evolve_options={"mu": 6, "q": 2, "prior": "none", "checkpoint_every": 10,
                                              "snapshot_every": 100})


def evolved_generations(run: Path) -> list[int]:
    return [json.loads(line)["generation"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_ctrl_c_in_a_rounds_evolve_resumes_it_to_its_budget_before_fine_tuning(tmp_path, capsys):
    out = tmp_path / "loop"
    ga = out / "round1" / "ga"
    process = subprocess.Popen([sys.executable, "-c", ROUNDS_SCRIPT, str(FACES), str(NON_FACES), str(out)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while process.poll() is None and not (ga / "metrics.jsonl").is_file() and time.time() < deadline:
        time.sleep(0.01)  # round 1's evolve loop has checkpointed once: Ctrl-C lands in it
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0 and "Traceback" not in stderr, stderr
    assert "round 1: its evolve run stopped at generation" in stdout and "rounds done: 1" in stdout, stdout
    stopped_at = load_checkpoint(ga / "checkpoints" / "last.pt", "evolve")["generation"]
    assert 0 < stopped_at < ROUNDS_GENERATIONS
    assert not (out / "round1" / "fit").exists() and not (ga / "refine-negatives").exists()  # nothing fine-tuned
    before, first_round = (ga / "metrics.jsonl").read_text().splitlines(), (out / "metrics.jsonl").read_text()

    rows = refine_rounds(tiny_rounds(str(FACES), str(NON_FACES), str(out)))  # the re-run
    assert [row["round"] for row in rows] == [0, 1] and rows[0] == json.loads(first_round)  # round 0 left as it was
    assert "round 1: best image" in capsys.readouterr().out
    assert load_checkpoint(ga / "checkpoints" / "last.pt", "evolve")["generation"] == ROUNDS_GENERATIONS
    assert evolved_generations(ga) == list(range(1, ROUNDS_GENERATIONS + 1))
    assert (ga / "metrics.jsonl").read_text().splitlines()[:len(before)] == before  # resumed, not started again
    exported = sorted(path.name for path in (ga / "refine-negatives").iterdir())
    assert exported and all(name.startswith(f"gen{ROUNDS_GENERATIONS:07d}_") for name in exported)
    fit = out / "round1" / "fit"
    assert str(ga / "refine-negatives") in json.loads((fit / "config.json").read_text())["extra_negatives"]
    assert load_checkpoint(fit / "checkpoints" / "last.pt", "faceness-train", for_resume=True)["epoch"] == 1


def test_a_rounds_fine_tuning_resumes_to_its_epochs_and_is_left_alone_once_done(tmp_path):
    rounds, fit = tiny_rounds(str(FACES), str(NON_FACES), str(tmp_path / "loop")), tmp_path / "fit"
    shipped = resolve_faceness_path(None)
    assert fine_tune_round(round_fit_config(rounds, shipped, [], fit)) is None  # one epoch: done
    started = (fit / "config.json").read_text()
    longer = round_fit_config(dataclasses.replace(rounds, epochs=2), shipped, [], fit)
    assert fine_tune_round(longer) is None
    assert [json.loads(line)["epoch"] for line in (fit / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert (fit / "config.json").read_text() == started  # resumed from epoch 1, not started again
    trained = (fit / "checkpoints" / "last.pt").stat().st_mtime_ns
    assert fine_tune_round(longer) is None and (fit / "checkpoints" / "last.pt").stat().st_mtime_ns == trained
