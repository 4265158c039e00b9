import numpy as np
import pytest

from cli import main
from evoface.evolve import EvolveConfig, evolve
from evoface.refinement import EXPORT_FOLDER
from fitness_data.sources import oversample
from fitness_data.batches import to_nchw
from fitness_data.folder import load_folder
from neural.faceness_store import load_faceness, score_images
from tests.conftest import FACES, NON_FACES


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
