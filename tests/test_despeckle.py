"""Stray dots: the compiled dot finder and despeckle against a plain reference, and the hall of fame's polish, which
keeps a clean copy only where the fitness does not drop."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evoface.ga.despeckle import count_dots, despeckle, polisher


def reference_despeckle(image: np.ndarray, threshold: int) -> tuple[np.ndarray, int]:
    """The definition, plainly: a channel value more than ``threshold`` from each of its neighbours becomes their
    (lower) median, judged on the image as it was; returns the image and how many pixels had a dot."""
    side = image.shape[0]
    out, dotted = image.copy(), 0
    for y in range(side):
        for x in range(side):
            found = False
            for c in range(3):
                neighbours = [int(image[y + dy, x + dx, c]) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                              if (dy or dx) and 0 <= y + dy < side and 0 <= x + dx < side]
                if all(abs(int(image[y, x, c]) - n) > threshold for n in neighbours):
                    found = True
                    out[y, x, c] = sorted(neighbours)[(len(neighbours) - 1) // 2]
            dotted += found
    return out, dotted


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), side=st.integers(2, 9), threshold=st.integers(0, 128), smooth=st.booleans())
def test_despeckle_matches_the_reference(seed, side, threshold, smooth):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (2, side, side, 3), dtype=np.uint8)
    if smooth:  # a flat field with a few resets, as the GA makes them
        images[:] = rng.integers(0, 256, 3, dtype=np.uint8)
        rows, cols = rng.integers(0, side, 3), rng.integers(0, side, 3)
        images[:, rows, cols, rng.integers(0, 3, 3)] = rng.integers(0, 256, 3, dtype=np.uint8)
    expected = [reference_despeckle(image, threshold) for image in images]
    assert np.array_equal(despeckle(images, threshold), np.stack([e[0] for e in expected]))
    assert count_dots(images, threshold).tolist() == [e[1] for e in expected]


def test_a_reset_on_a_flat_face_is_removed_and_an_edge_is_kept():
    image = np.full((1, 8, 8, 3), 120, np.uint8)
    image[0, :, 4:] = 30  # a sharp edge: every pixel has neighbours on its own side
    image[0, 2, 1, 0] = 250  # one channel of one pixel reset
    clean = despeckle(image)
    assert count_dots(image).tolist() == [1] and count_dots(clean).tolist() == [0]
    assert clean[0, 2, 1, 0] == 120 and np.array_equal(np.delete(clean.reshape(-1), 2 * 24 + 3),
                                                         np.delete(image.reshape(-1), 2 * 24 + 3))


def test_the_polish_keeps_a_clean_copy_only_where_the_fitness_does_not_drop():
    images = np.full((3, 6, 6, 3), 100, np.uint8)
    images[:, 3, 3, 1] = 240  # a dot in each
    images[2, 3, 3, 1] = 100  # the third has none
    genes = images.reshape(3, -1)

    def score(block):  # a fitness that rewards the dot: the clean copy of a row scores 0.4
        return np.where(block[:, 3 * 18 + 3 * 3 + 1] == 240, 0.5, 0.4)

    fitness = np.array([0.45, 0.3, 0.4])
    polished, values = polisher(score, 6)(genes, fitness)
    assert np.array_equal(polished[0], genes[0]) and values[0] == 0.45  # its clean copy scored 0.4 < 0.45: kept
    assert polished[1, 3 * 18 + 3 * 3 + 1] == 100 and values[1] == 0.4  # 0.4 >= 0.3: the clean copy
    assert np.array_equal(polished[2], genes[2]) and values[2] == 0.4  # nothing to clean
