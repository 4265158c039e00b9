import numpy as np
import pytest

from evoface.core.errors import InputError
from fitness_data.folder import load_folder
from tests.conftest import FACES, NON_FACES, copy_images


def test_loads_recursively_and_skips_corrupt_and_text_files(tmp_path, capsys):
    copy_images(FACES, tmp_path / "a", 5)
    copy_images(FACES, tmp_path / "b" / "deeper", 3)
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (tmp_path / "notes.txt").write_text("not an image")
    loaded = load_folder(tmp_path, 48)
    assert loaded.images.shape == (8, 48, 48, 3) and loaded.images.dtype == np.uint8
    assert loaded.skipped == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "skipped 2" in err[0]


def test_center_crop_and_upsampling_of_small_images():
    loaded = load_folder(NON_FACES / "textures", 64, limit=4, quiet=True)  # 32 px
    assert loaded.images.shape == (4, 64, 64, 3)
    assert loaded.images.std() > 10  # real content, not a blank


def test_limit_takes_a_seeded_subset():
    a = load_folder(FACES, 32, limit=5, seed=1, quiet=True).images
    b = load_folder(FACES, 32, limit=5, seed=1, quiet=True).images
    c = load_folder(FACES, 32, limit=5, seed=2, quiet=True).images
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_cache_returns_the_same_array(tmp_path):
    copy_images(FACES, tmp_path / "faces", 4)
    first = load_folder(tmp_path / "faces", 32, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    second = load_folder(tmp_path / "faces", 32, cache_dir=tmp_path / "cache")
    assert np.array_equal(first.images, second.images)


@pytest.mark.parametrize("make", ["missing", "empty", "text-only"])
def test_folders_without_images_are_input_errors(tmp_path, make):
    folder = tmp_path / "data"
    if make != "missing":
        folder.mkdir()
    if make == "text-only":
        (folder / "a.txt").write_text("hello")
    with pytest.raises(InputError):
        load_folder(folder, 32, quiet=True)


def test_size_out_of_range_is_an_input_error():
    with pytest.raises(InputError, match="between 32 and 128"):
        load_folder(FACES, 16)
