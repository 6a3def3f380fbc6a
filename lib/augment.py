"""Image augmentations from scratch in NumPy, on batches of images shaped (N, H, W) or
(N, C, H, W) (they act on the last two axes). Each transform has a deterministic kernel (its
parameters given) and a random version that draws the parameters from an explicit
``np.random.Generator``; the kernels match `torchvision.transforms.v2` (tests check it).

    hflip(x)                                  mirror left-right (v2.RandomHorizontalFlip)
    crop_padded(x, top, left, padding)        pad with `fill`, cut an H×W window
                                              (v2.RandomCrop(padding=…))
    rotate(x, degrees)                        bilinear rotation about the centre, counter-clockwise
                                              (v2.RandomRotation)
    erase(x, i, j, h, w, value)               fill a rectangle (v2.RandomErasing; cutout = a square)
    mixup_pairs(x, y, lam)                    λ·x + (1 − λ)·x rolled by one (v2.MixUp)
    cutmix_pairs(x, y, lam, cx, cy)           paste a box of the rolled batch (v2.CutMix)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "hflip", "random_hflip", "crop_padded", "random_crop", "rotate", "random_rotation",
    "erase", "erasing_params", "random_erasing", "cutout", "one_hot", "mixup_pairs", "mixup",
    "cutmix_box", "cutmix_pairs", "cutmix", "AugmentedLoader",
]


def _images(x):
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"x must be a batch of images (N, H, W) or (N, C, H, W), got {x.shape}")
    return x


def _rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator, got {type(rng).__name__}")
    return rng


def _prob(name, p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")


# ------------------------------------------------------------------------------------- flips


def hflip(x):
    """Mirror every image left-right: y[..., i, j] = x[..., i, W − 1 − j]."""
    return _images(x)[..., ::-1].copy()


def random_hflip(x, rng, p=0.5):
    """Flip each image independently with probability p."""
    x, rng = _images(x), _rng(rng)
    _prob("p", p)
    flip = rng.random(len(x)) < p
    out = x.copy()
    out[flip] = x[flip][..., ::-1]
    return out


# ------------------------------------------------------------------------- crop with padding


def crop_padded(x, top, left, padding=4, fill=0.0):
    """Pad every side by ``padding`` pixels of value ``fill``, then cut the H×W window whose
    top-left corner is (top, left) in the padded image; 0 ≤ top, left ≤ 2·padding. (top, left) =
    (padding, padding) gives the image back; otherwise it is shifted, with `fill` coming in."""
    x = _images(x)
    h, w = x.shape[-2:]
    if not (0 <= top <= 2 * padding and 0 <= left <= 2 * padding):
        raise ValueError(f"top and left must be in [0, 2·padding] = [0, {2 * padding}], "
                         f"got {top}, {left}")
    pad = [(0, 0)] * (x.ndim - 2) + [(padding, padding), (padding, padding)]
    padded = np.pad(x, pad, constant_values=fill)
    return padded[..., top:top + h, left:left + w].copy()


def random_crop(x, rng, padding=4, fill=0.0):
    """A random shift per image of up to ``padding`` pixels in each direction (the usual CIFAR
    augmentation: pad 4, crop 32×32): `crop_padded` with (top, left) drawn per image."""
    x, rng = _images(x), _rng(rng)
    offsets = rng.integers(0, 2 * padding + 1, size=(len(x), 2))
    n, (h, w) = len(x), x.shape[-2:]
    pad = [(0, 0)] * (x.ndim - 2) + [(padding, padding), (padding, padding)]
    padded = np.pad(x, pad, constant_values=fill).reshape(n, -1, h + 2 * padding, w + 2 * padding)
    rows = (offsets[:, 0, None] + np.arange(h))[:, None, :, None]  # (N, 1, H, 1)
    cols = (offsets[:, 1, None] + np.arange(w))[:, None, None, :]  # (N, 1, 1, W)
    img, chan = np.arange(n)[:, None, None, None], np.arange(padded.shape[1])[None, :, None, None]
    return padded[img, chan, rows, cols].reshape(x.shape)


# ---------------------------------------------------------------------------------- rotation


def rotate(x, degrees, fill=0.0):
    """Rotate every image counter-clockwise by ``degrees`` (one angle, or one per image) about its
    centre, bilinear interpolation, ``fill`` outside: y(p) = x(R⁻¹(p − c) + c) with
    c = ((W − 1)/2, (H − 1)/2)."""
    x = _images(x).astype(np.float64)
    n, h, w = len(x), *x.shape[-2:]
    t = np.radians(np.asarray(degrees, dtype=np.float64))
    if t.ndim > 1 or t.size not in (1, n):
        raise ValueError(f"degrees must be one angle or one per image ({n}), got shape {t.shape}")
    t = np.broadcast_to(t.reshape(-1), (n,))[:, None, None]  # (N, 1, 1)
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                             indexing="ij")
    cy, cx = (h - 1) / 2, (w - 1) / 2
    u, v = cols - cx, rows - cy  # x to the right, y downwards
    # counter-clockwise on screen (y down) = inverse map with the transposed matrix
    src_x = np.cos(t) * u - np.sin(t) * v + cx  # (N, H, W)
    src_y = np.sin(t) * u + np.cos(t) * v + cy
    x0, y0 = np.floor(src_x).astype(int), np.floor(src_y).astype(int)
    fx, fy = src_x - x0, src_y - y0
    images = x.reshape(n, -1, h, w)  # (N, C, H, W)
    img, chan = np.arange(n)[:, None, None, None], np.arange(images.shape[1])[None, :, None, None]
    out = np.zeros_like(images)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = (y0 + dy)[:, None], (x0 + dx)[:, None]  # (N, 1, H, W)
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            vals = images[img, chan, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
            out += (wy * wx)[:, None] * np.where(inside, vals, fill)
    return out.reshape(x.shape)


def random_rotation(x, rng, degrees=15.0, fill=0.0):
    """Rotate each image by an angle drawn uniformly from [−degrees, degrees]."""
    x, rng = _images(x), _rng(rng)
    return rotate(x, rng.uniform(-degrees, degrees, len(x)), fill)


# ------------------------------------------------------------------------ erasing and cutout


def erase(x, i, j, h, w, value=0.0):
    """Set the h×w rectangle with top-left pixel (i, j) of every image to ``value``."""
    out = _images(x).copy()
    out[..., i:i + h, j:j + w] = value
    return out


def erasing_params(height, width, rng, scale=(0.02, 0.33), ratio=(0.3, 3.3)):
    """torchvision's RandomErasing rule: area ~ U(scale)·H·W, log aspect ratio ~ U(log ratio),
    h = round(√(area·r)), w = round(√(area/r)); retry (up to 10 times) until h < H and w < W;
    position uniform. Returns (i, j, h, w), or None if no box fitted."""
    rng = _rng(rng)
    for _ in range(10):
        area = height * width * rng.uniform(*scale)
        r = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        h, w = int(round(math.sqrt(area * r))), int(round(math.sqrt(area / r)))
        if h < height and w < width:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    return None


def random_erasing(x, rng, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0):
    """Random erasing (Zhong et al. 2020; v2.RandomErasing): with probability p per image,
    erase one random rectangle (erasing_params)."""
    x, rng = _images(x), _rng(rng)
    _prob("p", p)
    out = x.copy()
    h_img, w_img = x.shape[-2:]
    for k in range(len(x)):
        if rng.random() < p:
            box = erasing_params(h_img, w_img, rng, scale, ratio)
            if box is not None:
                out[k:k + 1] = erase(x[k:k + 1], *box, value=value)
    return out


def cutout(x, rng, size=8, value=0.0):
    """Cutout (DeVries & Taylor 2017): a size×size square centred on a uniformly random pixel of
    each image, clipped at the border (so near an edge less than size² pixels are erased)."""
    x, rng = _images(x), _rng(rng)
    h, w = x.shape[-2:]
    out = x.copy()
    for k in range(len(x)):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        y1, y2 = max(cy - size // 2, 0), min(cy + size - size // 2, h)
        x1, x2 = max(cx - size // 2, 0), min(cx + size - size // 2, w)
        out[k, ..., y1:y2, x1:x2] = value
    return out


# ----------------------------------------------------------------------------- mixup, cutmix


def one_hot(y, num_classes):
    y = np.asarray(y)
    if y.ndim != 1 or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"y must be class indices in [0, {num_classes}), got shape {y.shape}")
    return np.eye(num_classes)[y]


def mixup_pairs(x, y_soft, lam):
    """Mixup (Zhang et al. 2018) of each example with the previous one in the batch (torchvision
    pairs by rolling the batch by one): x̃ = λx + (1 − λ)·roll(x), ỹ the same mix of the labels."""
    x = _images(x)
    _prob("lam", lam)
    return (lam * x + (1 - lam) * np.roll(x, 1, axis=0),
            lam * y_soft + (1 - lam) * np.roll(y_soft, 1, axis=0))


def mixup(x, y, num_classes, rng, alpha=1.0):
    """λ ~ Beta(α, α), then `mixup_pairs`. Returns (x̃, soft labels ỹ, λ)."""
    lam = float(_rng(rng).beta(alpha, alpha))
    xm, ym = mixup_pairs(x, one_hot(y, num_classes), lam)
    return xm, ym, lam


def cutmix_box(height, width, lam, cx, cy):
    """torchvision's CutMix box: half-sides ⌊½√(1 − λ)·W⌋, ⌊½√(1 − λ)·H⌋ around the centre
    (cx, cy), clipped to the image; returns (x1, y1, x2, y2) and the adjusted
    λ = 1 − box area/(HW)."""
    r = 0.5 * math.sqrt(1.0 - lam)
    rw, rh = int(r * width), int(r * height)
    x1, y1 = max(cx - rw, 0), max(cy - rh, 0)
    x2, y2 = min(cx + rw, width), min(cy + rh, height)
    return (x1, y1, x2, y2), 1.0 - (x2 - x1) * (y2 - y1) / (width * height)


def cutmix_pairs(x, y_soft, lam, cx, cy):
    """CutMix (Yun et al. 2019): paste the box of the batch rolled by one into each image; the
    labels are mixed by the *area* actually pasted (λ adjusted for clipping)."""
    x = _images(x)
    _prob("lam", lam)
    (x1, y1, x2, y2), lam_adj = cutmix_box(x.shape[-2], x.shape[-1], lam, cx, cy)
    out = x.copy()
    out[..., y1:y2, x1:x2] = np.roll(x, 1, axis=0)[..., y1:y2, x1:x2]
    return out, lam_adj * y_soft + (1 - lam_adj) * np.roll(y_soft, 1, axis=0), lam_adj


def cutmix(x, y, num_classes, rng, alpha=1.0):
    """λ ~ Beta(α, α), a uniformly random box centre, then `cutmix_pairs`: (x̃, ỹ, adjusted λ)."""
    x, rng = _images(x), _rng(rng)
    lam = float(rng.beta(alpha, alpha))
    cx, cy = int(rng.integers(0, x.shape[-1])), int(rng.integers(0, x.shape[-2]))
    return cutmix_pairs(x, one_hot(y, num_classes), lam, cx, cy)


# ------------------------------------------------------------------- augmenting batch loader


class AugmentedLoader:
    """An iterable of (x, y) torch batches for `lib.train.fit` that reshuffles and re-augments the
    training images at every epoch: ``transform(images, rng) -> images`` on a NumPy batch
    (N, H, W); then, if given, ``mix(images, labels, rng) -> (images, soft labels)`` (mixup,
    cutmix: the targets become float32 class probabilities, which `F.cross_entropy` accepts);
    ``flatten=True`` gives (N, H·W) for an MLP, else (N, 1, H, W) for a CNN."""

    def __init__(self, x, y, batch_size=100, transform=None, seed=0, flatten=True, mix=None):
        self.x, self.y = _images(x), np.asarray(y)
        if len(self.x) != len(self.y):
            raise ValueError(f"x and y must have the same length, got {len(self.x)}, {len(self.y)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if transform is not None and not callable(transform):
            raise TypeError("transform must be callable: transform(images, rng) -> images")
        if mix is not None and not callable(mix):
            raise TypeError("mix must be callable: "
                            "mix(images, labels, rng) -> (images, soft labels)")
        self.batch_size, self.transform, self.flatten = batch_size, transform, flatten
        self.mix = mix
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self):
        import torch

        order = self.rng.permutation(len(self.x))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            xb, yb = self.x[idx], self.y[idx]
            if self.transform is not None:
                xb = self.transform(xb, self.rng)
            if self.mix is not None:
                xb, yb = self.mix(xb, yb, self.rng)
                yb = np.asarray(yb, dtype=np.float32)
            xb = torch.from_numpy(np.ascontiguousarray(xb, dtype=np.float32))
            xb = xb.flatten(1) if self.flatten else xb.unsqueeze(1)
            yield xb, torch.from_numpy(yb)
