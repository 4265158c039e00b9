import numpy as np
import torch

from fitness_data.batches import to_nchw
from fitness_data.noising import NEGATIVE_CEILING, faceness_labels, noise_images, noised_batch


def test_share_of_changed_values_follows_p(faces32):
    images = to_nchw(faces32[:40])
    p = torch.linspace(0, 1, 40)
    noised = noise_images(images, p, torch.Generator().manual_seed(0))
    changed = (noised != images).float().mean(dim=(1, 2, 3))
    # a reset value equals the old one with probability 1/256
    expected = p * 255 / 256
    assert torch.allclose(changed, expected, atol=0.02)
    assert torch.equal(noised[0], images[0])  # p = 0 leaves the image clean


def test_noise_is_uniform_over_the_value_range():
    images = torch.zeros(8, 3, 32, 32, dtype=torch.uint8)
    noised = noise_images(images, torch.ones(8), torch.Generator().manual_seed(1))
    counts = torch.bincount(noised.flatten().long(), minlength=256).float()
    assert counts.min() > 0.6 * counts.mean() and counts.max() < 1.4 * counts.mean()


def test_labels_faces_one_minus_p_negatives_below_ceiling():
    p = torch.tensor([0.0, 0.25, 1.0, 0.0, 0.5, 1.0])
    is_face = torch.tensor([True, True, True, False, False, False])
    labels = faceness_labels(p, is_face)
    assert torch.allclose(labels, torch.tensor([1.0, 0.75, 0.0, NEGATIVE_CEILING, 0.1, 0.0]))


def test_noised_batch_is_deterministic_under_a_seed(faces32):
    images = to_nchw(faces32[:16])
    is_face = torch.ones(16, dtype=torch.bool)
    a = noised_batch(images, is_face, torch.Generator().manual_seed(7))
    b = noised_batch(images, is_face, torch.Generator().manual_seed(7))
    c = noised_batch(images, is_face, torch.Generator().manual_seed(8))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    assert np.all((a[1] >= 0).numpy() & (a[1] <= 1).numpy())
