import json

import pytest
import torch

from evoface.core.checkpoints import load_checkpoint
from evoface.core.errors import InputError
from fitness_data.batches import to_nchw
from fitness_data.noising import noise_images
from neural.faceness import FacenessConfig, FacenessNet, flops
from neural.faceness_store import load_faceness, save_faceness, score_images
from neural.fitness_training import FitnessTrainConfig, train_fitness
from tests.conftest import FACES, NON_FACES


def small_config(out, **overrides) -> FitnessTrainConfig:
    options = dict(faces=[str(FACES)], negatives=[str(NON_FACES)], out=str(out), size=32, epochs=4,
                   max_images=400, batch_size=64, lr=2e-3, patience=10, device="cpu", seed=3)
    options.update(overrides)
    return FitnessTrainConfig(**options)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "run"
    best = train_fitness(small_config(out))
    return out, best


@pytest.mark.slow
def test_training_lowers_validation_loss_and_ranks_by_noise(trained_run, faces32):
    out, best = trained_run
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert min(r["val_loss"] for r in rows[1:]) < rows[0]["val_loss"]
    assert best["val_spearman"] > 0.6 and best["val_auc"] > 0.8
    # less-noised faces rank above more-noised versions of the same faces
    model = load_faceness(out)
    faces = to_nchw(faces32[-50:])
    gen = torch.Generator().manual_seed(0)
    light = score_images(model, noise_images(faces, torch.full((50,), 0.1), gen))
    heavy = score_images(model, noise_images(faces, torch.full((50,), 0.7), gen))
    assert (light > heavy).float().mean() > 0.9
    for name in ("config.json", "plots/loss.png", "plots/validation.png", "checkpoints/best.pt",
                 "checkpoints/last.pt"):
        assert (out / name).is_file()


@pytest.mark.slow
def test_resume_continues_to_the_same_result_as_a_straight_run(tmp_path):
    straight = tmp_path / "straight"
    train_fitness(small_config(straight, epochs=3, max_images=150))
    split_run = tmp_path / "split"
    train_fitness(small_config(split_run, epochs=2, max_images=150))
    train_fitness(small_config(split_run, epochs=3, max_images=150), resume=True)
    rows_a = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(line) for line in (split_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows_b] == [1, 2, 3]
    assert rows_a[-1]["val_loss"] == pytest.approx(rows_b[-1]["val_loss"], rel=1e-6)
    last = load_checkpoint(split_run / "checkpoints" / "last.pt", "faceness-train")
    assert last["epoch"] == 3 and "state" in last["optimizer"]


@pytest.mark.slow
def test_existing_run_needs_resume(trained_run):
    out, _ = trained_run
    with pytest.raises(InputError, match="--resume"):
        train_fitness(small_config(out))


def test_checkpoint_round_trip(tmp_path):
    model = FacenessNet(FacenessConfig(size=32)).eval()
    save_faceness(model, tmp_path / "m.pt", metrics={"val_loss": 0.1})
    loaded = load_faceness(tmp_path / "m.pt")
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(score_images(model, x), score_images(loaded, x))
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.slow
def test_wrong_kind_and_corrupt_checkpoints_are_input_errors(tmp_path, trained_run):
    out, _ = trained_run
    with pytest.raises(InputError, match="faceness-train"):
        load_faceness(out / "checkpoints" / "last.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x04 this is not a checkpoint")
    with pytest.raises(InputError, match="cannot read"):
        load_faceness(corrupt)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(InputError, match="not an evoface checkpoint"):
        load_faceness(tmp_path / "foreign.pt")


def test_shipped_model_is_cheaper_than_the_original_classifier():
    model = load_faceness()
    assert model.config.size == 64
    assert flops(model, 64) < 32e6 / 3  # the original architecture costs about 32 MFLOP at 64 px
    assert flops(model, 100) < 96e6 / 3
