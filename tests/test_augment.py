import torch

from fitness_data.augment import AugmentConfig, augment, random_warps, warp
from fitness_data.batches import to_nchw

OFF = AugmentConfig(flip=False, crop_scale=1.0, rotate_degrees=0.0, perspective=0.0)


def test_identity_warp_keeps_the_image(faces32):
    images = to_nchw(faces32[:4])
    assert torch.equal(augment(images, OFF), images)
    same = warp(images, torch.eye(3).expand(4, 3, 3))
    assert (same.int() - images.int()).abs().max() <= 1


def test_flip_only_gives_mirror_or_identity(faces32):
    images = to_nchw(faces32[:32])
    out = augment(images, AugmentConfig(flip=True, crop_scale=1.0, rotate_degrees=0, perspective=0),
                  torch.Generator().manual_seed(0))
    mirrored = [bool((o.int() - i.flip(-1).int()).abs().max() <= 1) for o, i in zip(out, images)]
    unchanged = [bool((o.int() - i.int()).abs().max() <= 1) for o, i in zip(out, images)]
    assert all(m or u for m, u in zip(mirrored, unchanged))
    assert 4 < sum(mirrored) < 28


def test_each_image_gets_its_own_draw(faces32):
    maps = random_warps(16, AugmentConfig(), torch.Generator().manual_seed(0))
    assert maps.shape == (16, 3, 3) and len({round(float(m[0, 1]), 6) for m in maps}) == 16
    out = augment(to_nchw(faces32[:16]), AugmentConfig(), torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8 and out.shape == (16, 3, 32, 32)
