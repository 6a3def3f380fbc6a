"""lib.augment: each NumPy transform against torchvision.transforms.v2 (exact for fixed
parameters, same statistics for the random ones), plus its own invariants."""

import math

import numpy as np
import pytest
import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from lib import augment as A

X = np.random.default_rng(0).random((4, 1, 12, 10))  # N, C, H, W with H != W


def test_hflip_matches_torchvision_and_is_an_involution():
    np.testing.assert_array_equal(A.hflip(X), F.horizontal_flip(torch.from_numpy(X)).numpy())
    np.testing.assert_array_equal(A.hflip(A.hflip(X)), X)


def test_random_hflip_probability():
    ones = np.tile(np.arange(10.0), (2000, 1, 1))
    out = A.random_hflip(ones, np.random.default_rng(0), p=0.3)
    flipped = out[:, 0, 0] == 9
    assert abs(flipped.mean() - 0.3) < 0.03
    np.testing.assert_array_equal(A.random_hflip(ones[:5], np.random.default_rng(0), p=0), ones[:5])


@pytest.mark.parametrize("top,left", [(0, 0), (4, 4), (8, 1), (3, 7)])
def test_crop_padded_matches_torchvision(top, left):
    t = torch.from_numpy(X)
    ref = F.crop(F.pad(t, [4], fill=-1.0), top, left, 12, 10).numpy()
    np.testing.assert_array_equal(A.crop_padded(X, top, left, padding=4, fill=-1.0), ref)


def test_crop_center_is_identity_and_random_crop_shifts():
    np.testing.assert_array_equal(A.crop_padded(X, 4, 4, padding=4), X)
    out = A.random_crop(X, np.random.default_rng(1), padding=2)
    assert out.shape == X.shape


@pytest.mark.parametrize("degrees", [0.0, 10.0, -15.0, 90.0, 33.3])
def test_rotate_matches_torchvision_bilinear(degrees):
    ref = F.rotate(torch.from_numpy(X), degrees, interpolation=InterpolationMode.BILINEAR).numpy()
    np.testing.assert_allclose(A.rotate(X, degrees), ref, atol=1e-12)


def test_rotate_by_90_on_a_square_is_rot90():
    sq = X[..., :10, :10]
    np.testing.assert_allclose(A.rotate(sq, 90.0), np.rot90(sq, 1, axes=(-2, -1)), atol=1e-12)


def test_erase_matches_torchvision():
    ref = F.erase(torch.from_numpy(X), 2, 3, 5, 4, torch.tensor(0.5)).numpy()
    np.testing.assert_array_equal(A.erase(X, 2, 3, 5, 4, value=0.5), ref)


def test_random_erasing_statistics_match_torchvision():
    n, h, w = 3000, 28, 28
    ours = A.random_erasing(np.ones((n, h, w)), np.random.default_rng(0), p=1.0)
    torch.manual_seed(0)
    tv = v2.RandomErasing(p=1.0, value=0)
    theirs = np.stack([tv(torch.ones(1, h, w)).numpy()[0] for _ in range(n)])
    frac_ours, frac_theirs = (ours == 0).mean(axis=(1, 2)), (theirs == 0).mean(axis=(1, 2))
    assert abs(frac_ours.mean() - frac_theirs.mean()) < 0.01  # mean erased area (about 17 %)
    assert abs(np.median(frac_ours) - np.median(frac_theirs)) < 0.015
    assert 0.02 * 0.8 < frac_ours.min() and frac_ours.max() < 0.33 * 1.15


def test_cutout_square_size():
    out = A.cutout(np.ones((500, 28, 28)), np.random.default_rng(0), size=8)
    erased = (out == 0).sum(axis=(1, 2))
    assert erased.max() == 64 and erased.min() >= 16  # clipped at a corner: at least 4×4


def test_mixup_matches_torchvision():
    x = torch.from_numpy(X)
    y = torch.tensor([0, 2, 1, 2])
    torch.manual_seed(5)
    tx, ty = v2.MixUp(alpha=0.4, num_classes=3)(x, y)
    torch.manual_seed(5)
    lam = float(torch.distributions.Beta(torch.tensor([0.4]), torch.tensor([0.4])).sample(()))
    ox, oy = A.mixup_pairs(X, A.one_hot(y.numpy(), 3), lam)
    np.testing.assert_allclose(ox, tx.numpy(), atol=1e-12)
    np.testing.assert_allclose(oy, ty.numpy(), atol=1e-6)
    np.testing.assert_allclose(oy.sum(1), 1.0)


def test_cutmix_matches_torchvision():
    x = torch.from_numpy(X)
    y = torch.tensor([0, 2, 1, 2])
    for seed in range(5):
        torch.manual_seed(seed)
        tx, ty = v2.CutMix(alpha=1.0, num_classes=3)(x, y)
        torch.manual_seed(seed)
        lam = float(torch.distributions.Beta(torch.tensor([1.0]), torch.tensor([1.0])).sample(()))
        cx, cy = int(torch.randint(10, (1,))), int(torch.randint(12, (1,)))
        ox, oy, lam_adj = A.cutmix_pairs(X, A.one_hot(y.numpy(), 3), lam, cx, cy)
        np.testing.assert_array_equal(ox, tx.numpy())
        np.testing.assert_allclose(oy, ty.numpy(), atol=1e-6)
        pasted = (ox != X).any(axis=(0, 1)).sum() / (12 * 10)
        assert pasted <= 1 - lam_adj + 1e-12  # label weight = area actually pasted


def test_random_versions_are_reproducible_and_label_safe():
    y = np.array([0, 1, 2, 1])
    for f in (A.mixup, A.cutmix):
        a = f(X, y, 3, np.random.default_rng(3))
        b = f(X, y, 3, np.random.default_rng(3))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_allclose(a[1].sum(1), 1.0)
    r = A.random_rotation(X, np.random.default_rng(0), degrees=10)
    assert r.shape == X.shape and math.isfinite(r.sum())


def test_bad_input():
    with pytest.raises(ValueError, match="batch of images"):
        A.hflip(np.ones(5))
    with pytest.raises(TypeError, match="rng"):
        A.random_hflip(X, rng=0)
    with pytest.raises(ValueError, match="p must be"):
        A.random_erasing(X, np.random.default_rng(0), p=1.5)
    with pytest.raises(ValueError, match="top and left"):
        A.crop_padded(X, 9, 0, padding=4)
    with pytest.raises(ValueError, match="class indices"):
        A.one_hot(np.array([0, 3]), 3)


def test_rotate_one_angle_per_image_matches_one_by_one():
    angles = np.array([0.0, 12.0, -30.0, 90.0])
    per_image = np.stack([A.rotate(X[k:k + 1], a)[0] for k, a in enumerate(angles)])
    np.testing.assert_allclose(A.rotate(X, angles), per_image, atol=1e-12)
    np.testing.assert_allclose(A.rotate(X[:, 0], angles), per_image[:, 0], atol=1e-12)  # (N, H, W)
    with pytest.raises(ValueError, match="one angle or one per image"):
        A.rotate(X, [1.0, 2.0])


def test_augmented_loader_mix_gives_soft_targets():
    x, y = np.random.default_rng(0).random((10, 28, 28)), np.arange(10) % 3
    mix = lambda xb, yb, rng: A.mixup(xb, yb, 3, rng)[:2]  # noqa: E731
    batches = list(A.AugmentedLoader(x, y, batch_size=4, seed=0, flatten=False, mix=mix))
    assert [tuple(b[0].shape) for b in batches] == [(4, 1, 28, 28), (4, 1, 28, 28), (2, 1, 28, 28)]
    for _, yb in batches:
        assert yb.dtype == torch.float32 and yb.shape[1] == 3
        torch.testing.assert_close(yb.sum(1), torch.ones(len(yb)))
    loss = torch.nn.functional.cross_entropy(torch.zeros(4, 3), batches[0][1])
    assert abs(loss.item() - math.log(3)) < 1e-6  # soft targets work with F.cross_entropy
    plain = next(iter(A.AugmentedLoader(x, y, batch_size=4, seed=0)))
    assert plain[1].dtype == torch.int64 and plain[0].shape == (4, 784)
    with pytest.raises(TypeError, match="mix must be callable"):
        A.AugmentedLoader(x, y, mix=3)
