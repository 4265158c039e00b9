import json

import numpy as np
import pytest
import torch

from evoface.evolve import EvolveConfig, evolve
from fitness_data.folder import load_folder
from neural import fid as fid_module
from neural.fid import cached_features, frechet_distance, inception_features, inception_model, kernel_inception_distance
from neural.gan_training import DcganTrainer, GanTrainConfig
from tests.conftest import CELEBA, CIFAR10, FACES, assert_one_line_error, requires_shared, run_cli
from tests.conftest import FID_WEIGHTS as WEIGHTS


@pytest.fixture(scope="module")
def inception():
    return inception_model(WEIGHTS)


@pytest.fixture(scope="module")
def features(inception):
    celeba = load_folder(CELEBA, 64, limit=160, seed=4, quiet=True).images
    cifar = load_folder(CIFAR10, 64, limit=80, seed=4, quiet=True).images
    return inception_features(inception, celeba), inception_features(inception, cifar)


@requires_shared
def test_fid_of_a_set_against_itself_is_zero(features):
    celeba, _ = features
    assert abs(frechet_distance(celeba, celeba)) < 1e-3


@requires_shared
def test_features_do_not_depend_on_the_batch_size(inception, features):
    celeba = load_folder(CELEBA, 64, limit=160, seed=4, quiet=True).images[:12]  # the fixture's first 12 images
    assert fid_module.CPU_BATCH < 12
    np.testing.assert_allclose(inception_features(inception, celeba, batch_size=12), features[0][:12], rtol=0,
                               atol=1e-5)


@requires_shared
def test_fid_separates_faces_from_objects(features):
    celeba, cifar = features
    halves = frechet_distance(celeba[:80], celeba[80:])
    across = frechet_distance(celeba[:80], cifar)
    assert across > 2 * halves and across > 150


@requires_shared
def test_kid_is_near_zero_for_two_halves_and_large_across(features):
    celeba, cifar = features
    halves, _ = kernel_inception_distance(celeba[:80], celeba[80:], subset_size=80)
    across, _ = kernel_inception_distance(celeba[:80], cifar, subset_size=80)
    assert abs(halves) < 0.02 and across > 0.1


@requires_shared
def test_a_cache_hit_skips_recomputation(tmp_path, inception, monkeypatch):
    images = load_folder(CELEBA, 64, limit=4, quiet=True).images
    first = cached_features(inception, images, tmp_path, "key-1")
    calls = []
    monkeypatch.setattr(fid_module, "inception_features", lambda *a, **k: calls.append(1))
    second = cached_features(inception, images, tmp_path, "key-1")
    assert calls == [] and np.array_equal(first, second)


def test_missing_weights_without_download_is_an_input_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    from evoface.core.errors import InputError

    with pytest.raises(InputError, match="--inception-weights"):
        inception_model(None, allow_download=False)


def test_local_weights_load_without_links_or_temporary_folders(tmp_path, monkeypatch):
    import os
    import tempfile
    from pathlib import Path

    from evoface.core.errors import InputError

    def no_links(*args, **kwargs):  # as on Windows without developer mode
        raise OSError("symbolic links are not allowed")

    monkeypatch.setattr(os, "symlink", no_links)
    monkeypatch.setattr(Path, "symlink_to", no_links)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    garbage = tmp_path / "weights.pth"
    garbage.write_bytes(b"not a state dict")
    with pytest.raises(InputError, match="not the FID Inception state dict"):
        inception_model(garbage)
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.fixture(scope="module")
def methods(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    for seed in (1, 2):
        evolve(EvolveConfig(out=str(root / f"ga{seed}"), mu=8, q=2, generations=5, device="cpu", seed=seed))
    DcganTrainer(GanTrainConfig(data=[str(FACES)], out=str(root / "gan"), size=32, max_images=64, batch_size=32,
                                epochs=1, ngf=8, ndf=8, device="cpu"), resume=False).train()
    return root


@pytest.mark.slow
@requires_shared
def test_compare_writes_figure_tables_and_sheet(tmp_path, methods, capsys):
    code, _ = run_cli(["compare", "--ga", str(methods / "ga1"), "--ga", str(methods / "ga2"), "--gan",
                       str(methods / "gan" / "checkpoints" / "last.pt"), "--real", str(CELEBA), "-n", "10",
                       "--inception-weights", str(WEIGHTS), "--out", str(tmp_path / "report"), "--meqfi-sheet",
                       "--device", "cpu"], capsys)
    assert code == 0
    report = json.loads((tmp_path / "report" / "compare.json").read_text())
    rows = {row["method"]: row for row in report["rows"]}
    assert set(rows) == {"GA (pixel)", "GAN", "Real"} and rows["GA (pixel)"]["n"] == 2 and rows["GAN"]["n"] == 10
    assert rows["GAN"]["fid"] > rows["Real"]["fid"] > 0
    # real faces pass the independent detector and the faceness model; a GAN after one epoch makes blobs
    assert rows["Real"]["detector_face_rate"] >= 0.8 > rows["GAN"]["detector_face_rate"]
    assert rows["Real"]["faceness"] > rows["GAN"]["faceness"] + 0.2
    assert rows["GA (pixel)"]["detector_face_rate"] in (0.0, 0.5, 1.0)  # the share of its 2 images
    for name in ("compare.png", "compare.md", "config.json", "meqfi_sheet.csv"):
        assert (tmp_path / "report" / name).is_file()
    assert "| GAN | 10 |" in (tmp_path / "report" / "compare.md").read_text()
    sheet_lines = (tmp_path / "report" / "meqfi_sheet.csv").read_text().splitlines()
    assert len(sheet_lines) == 1 + 2 + 8 + 8  # header, 2 GA images, 8 GAN, 8 real


@pytest.mark.slow
@requires_shared
def test_compare_errors(tmp_path, methods, capsys):
    base = ["compare", "--real", str(CELEBA), "--out", str(tmp_path / "r"), "--inception-weights", str(WEIGHTS)]
    code, err = run_cli(base, capsys)
    assert_one_line_error(code, err, "no methods given")
    code, err = run_cli(base + ["--gan", str(tmp_path / "missing.pt")], capsys)
    assert_one_line_error(code, err, "checkpoint not found")
    code, err = run_cli(base + ["--vae", str(methods / "gan" / "checkpoints" / "last.pt")], capsys)
    assert_one_line_error(code, err, "'gan' checkpoint")
    few = tmp_path / "few"
    few.mkdir()
    for src in sorted(CELEBA.glob("*.jpg"))[:3]:
        (few / src.name).write_bytes(src.read_bytes())
    code, err = run_cli(["compare", "--real", str(few), "--out", str(tmp_path / "r2"), "-n", "5",
                         "--ga", str(methods / "ga1"), "--inception-weights", str(WEIGHTS)], capsys)
    assert_one_line_error(code, err, "fewer than -n 5")
