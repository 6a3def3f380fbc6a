"""Datasets of the book: bundled Fashion-MNIST / MNIST (sha256-verified), toy 2-D sets, loaders.

The bundled files in ``data/`` are made by ``scripts/build_data.py`` (provenance: data/README.md).
Nothing here touches the network.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DATA_DIR",
    "SHA256",
    "FASHION_CLASSES",
    "MNIST_CLASSES",
    "DataError",
    "Splits",
    "Prepared",
    "fashion_mnist",
    "mnist",
    "pixel_stats",
    "load_fashion_mnist",
    "load_mnist",
    "sha256_file",
    "stratified_split",
    "to_float",
    "make_loader",
    "make_moons",
    "make_circles",
    "make_spirals",
    "make_xor",
    "make_blobs",
    "make_polynomial_regression",
]

# The folder of the bundled .npz files; $BOOK_DATA_DIR overrides it (e.g. a shared read-only copy).
DATA_DIR = Path(os.environ.get("BOOK_DATA_DIR") or Path(__file__).resolve().parent.parent / "data")
REBUILD = "python scripts/build_data.py"
SOURCES = ("bundled", "torchvision")
SHA256 = {
    "fashion_mnist.npz": "50f56e18d32f331d3f21065c7fa1683724d8b4a34e2db1b2eb9d8f4bdf0a567e",
    "mnist.npz": "fe324be36470d166be9100fcdad7868cfbd864b1f326769e6ad2b4d4955d92c6",
}
# Same names and order as torchvision.datasets.FashionMNIST.classes / MNIST.classes.
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = (
    "0 - zero",
    "1 - one",
    "2 - two",
    "3 - three",
    "4 - four",
    "5 - five",
    "6 - six",
    "7 - seven",
    "8 - eight",
    "9 - nine",
)
VAL_FRACTION = (
    1 / 6
)  # torchvision source: share of each class of the official training part held out


class DataError(RuntimeError):
    """A bundled data file is missing or does not match its recorded sha256."""


@dataclass(frozen=True)
class Splits:
    """Train / validation / test images (uint8, N×28×28) and labels (int64), plus class names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple


# ----------------------------------------------------------------------------- real datasets


def sha256_file(path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stratified_split(y, fractions, seed=0):
    """Disjoint shuffled index arrays, one per fraction, stratified by the labels ``y``.

    Part k > 0 takes round(f_k·n_c) of the n_c examples of each class c, part 0 the rest;
    the same ``y`` and ``seed`` always give the same parts.
    """
    y = np.asarray(y)
    fractions = [float(f) for f in fractions]
    if len(fractions) < 2 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"fractions must be >= 2 non-negative numbers summing to 1, got {fractions}"
        )
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        sizes = [round(f * len(idx)) for f in fractions[1:]]
        bounds = np.cumsum([len(idx) - sum(sizes)] + sizes)[:-1]
        for part, chunk in zip(parts, np.split(idx, bounds), strict=True):
            part.append(chunk)
    return [rng.permutation(np.concatenate(part)) for part in parts]


def _load_bundled(name, root, classes):
    path = Path(DATA_DIR if root is None else root) / name
    if not path.is_file():
        raise DataError(f"bundled data file {path} is missing; rebuild it with `{REBUILD}`")
    actual = sha256_file(path)
    if actual != SHA256[name]:
        raise DataError(
            f"bundled data file {path} is corrupted: sha256 expected {SHA256[name]}, "
            f"got {actual}; rebuild it with `{REBUILD}`"
        )
    arrays = {}
    with np.load(path, allow_pickle=False) as f:
        for part in ("train", "val", "test"):
            arrays[f"x_{part}"] = f[f"x_{part}"]
            arrays[f"y_{part}"] = f[f"y_{part}"].astype(np.int64)
    return Splits(**arrays, classes=classes)


def _load_torchvision(dataset_name, root, classes):
    try:
        import torchvision
    except ImportError as err:
        raise DataError(
            "source='torchvision' needs torchvision installed (pip install torchvision)"
        ) from err
    root = Path(DATA_DIR / "raw" if root is None else root)
    dataset = getattr(torchvision.datasets, dataset_name)
    try:
        train = dataset(str(root), train=True, download=False)
        test = dataset(str(root), train=False, download=False)
    except RuntimeError as err:
        raise DataError(
            f"{dataset_name} not found under {root}; download it once with "
            f"torchvision.datasets.{dataset_name}({str(root)!r}, download=True), "
            f"or use source='bundled'"
        ) from err
    x, y = train.data.numpy(), train.targets.numpy().astype(np.int64)
    train_idx, val_idx = stratified_split(y, (1 - VAL_FRACTION, VAL_FRACTION), seed=0)
    return Splits(
        x[train_idx],
        y[train_idx],
        x[val_idx],
        y[val_idx],
        test.data.numpy(),
        test.targets.numpy().astype(np.int64),
        classes,
    )


def _load(name, dataset_name, classes, source, root):
    if source == "bundled":
        return _load_bundled(name, root, classes)
    if source == "torchvision":
        return _load_torchvision(dataset_name, root, classes)
    raise ValueError(f"source must be one of {SOURCES}, got {source!r}")


def load_fashion_mnist(source="bundled", root=None) -> Splits:
    """Fashion-MNIST: bundled 20k/5k/5k (root = folder of the .npz) or the full torchvision copy."""
    return _load("fashion_mnist.npz", "FashionMNIST", FASHION_CLASSES, source, root)


def load_mnist(source="bundled", root=None) -> Splits:
    """MNIST: bundled 6k/2k/2k digits (root = folder of the .npz) or the full torchvision copy."""
    return _load("mnist.npz", "MNIST", MNIST_CLASSES, source, root)


def to_float(x, mean=None, std=None, flatten=False) -> np.ndarray:
    """uint8 images → float32 x/255 in [0, 1], then (x − mean)/std if given, (N, H·W) if flatten."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"to_float expects uint8 images, got dtype {x.dtype}")
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    out = x.astype(np.float32) / np.float32(255)
    if mean is not None:
        if np.any(np.asarray(std) <= 0):
            raise ValueError(f"std must be > 0, got {std}")
        out = ((out - np.float32(mean)) / np.float32(std)).astype(np.float32)
    return out.reshape(len(out), -1) if flatten else out


STANDARDIZE = ("train", None)


@dataclass(frozen=True)
class Prepared:
    """Float images ready for a model (float32 arrays or tensors), labels (int64), class names, and
    the pixel mean/std used to standardise them (None when not standardised)."""

    x_train: object
    y_train: object
    x_val: object
    y_val: object
    x_test: object
    y_test: object
    classes: tuple
    mean: float | None
    std: float | None


@functools.lru_cache(maxsize=4)
def _cached_splits(loader, source, root):
    splits = loader(source=source, root=root)
    for part in ("train", "val", "test"):  # shared between callers: nobody may mutate them
        getattr(splits, f"x_{part}").flags.writeable = False
        getattr(splits, f"y_{part}").flags.writeable = False
    return splits


def pixel_stats(x) -> tuple[float, float]:
    """Mean and std of all pixel values x/255 of uint8 images, computed exactly from integer sums
    (S₁ = Σx, S₂ = Σx²; μ = S₁/(255n), σ² = S₂/(255²n) − μ²): the same bits on every machine and
    every NumPy release, unlike a float32 reduction."""
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.size == 0:
        raise ValueError(f"pixel_stats expects a non-empty uint8 array, got {x.dtype} {x.shape}")
    n = x.size
    s1 = int(x.sum(dtype=np.int64))
    s2 = int(np.square(x, dtype=np.int64).sum(dtype=np.int64))
    mean = s1 / (255 * n)
    var = s2 / (255**2 * n) - mean**2
    return mean, float(np.sqrt(var))


def _prepare(loader, n_train, n_val, n_test, flatten, standardize, tensors, source, root):
    if standardize not in STANDARDIZE:
        raise ValueError(f"standardize must be one of {STANDARDIZE}, got {standardize!r}")
    splits = _cached_splits(loader, source, None if root is None else str(root))
    counts = {"train": n_train, "val": n_val, "test": n_test}
    for part, n in counts.items():
        available = len(getattr(splits, f"y_{part}"))
        if n is not None and (
            isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= available
        ):
            raise ValueError(
                f"n_{part} must be None (all) or an integer in [1, {available}], got {n!r}"
            )
    # One policy for the whole book: statistics of the *whole* training split (never validation
    # or test data, chapter 02), one scalar mean and std over all pixels.
    mean, std = pixel_stats(splits.x_train) if standardize == "train" else (None, None)
    out = {}
    for part, n in counts.items():
        x, y = getattr(splits, f"x_{part}")[:n], getattr(splits, f"y_{part}")[:n]
        x, y = to_float(x, mean, std, flatten=flatten), y.copy()
        if tensors:
            import torch

            x, y = torch.from_numpy(x), torch.from_numpy(y)
        out[f"x_{part}"], out[f"y_{part}"] = x, y
    return Prepared(**out, classes=splits.classes, mean=mean, std=std)


def fashion_mnist(n_train=None, n_val=None, n_test=None, flatten=True, standardize="train",
                  tensors=False, source="bundled", root=None) -> Prepared:
    """The book's Fashion-MNIST, ready to train on: the first n_train/n_val/n_test images of each
    split (None: all), float32 (x/255 − μ)/σ with μ, σ of the whole training split
    (``standardize="train"``; None keeps x/255), flattened to (N, 784) unless ``flatten=False``
    (N, 28, 28), as NumPy arrays or CPU tensors (``tensors=True``). Each call returns fresh
    arrays."""
    return _prepare(load_fashion_mnist, n_train, n_val, n_test, flatten, standardize, tensors,
                    source, root)


def mnist(n_train=None, n_val=None, n_test=None, flatten=True, standardize="train",
          tensors=False, source="bundled", root=None) -> Prepared:
    """The book's MNIST digits, prepared exactly like :func:`fashion_mnist`."""
    return _prepare(load_mnist, n_train, n_val, n_test, flatten, standardize, tensors,
                    source, root)


def make_loader(x, y, batch_size=128, shuffle=True, seed=0, device=None):
    """DataLoader over TensorDataset(x, y), shuffled by torch.Generator().manual_seed(seed)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    x, y = torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=generator
    )


# ----------------------------------------------------------------------------- toy 2-D sets


def _check_n(n, minimum=1):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"n must be an integer >= {minimum}, got {n!r}")


def _check_nonneg(name, value):
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _class_sizes(n, k):
    """Split n into k counts that differ by at most 1."""
    return [n // k + (j < n % k) for j in range(k)]


def _shuffled(rng, X, y):
    order = rng.permutation(len(y))
    return X[order].astype(np.float64), y[order].astype(np.int64)


def make_moons(n=200, noise=0.1, seed=0):
    """Two half circles as in sklearn: class 0 (cos t, sin t), class 1 (1 − cos t, ½ − sin t)."""
    _check_n(n, 2)
    _check_nonneg("noise", noise)
    rng = np.random.default_rng(seed)
    n0, n1 = _class_sizes(n, 2)
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    X = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], np.c_[1 - np.cos(t1), 0.5 - np.sin(t1)]])
    y = np.repeat([0, 1], [n0, n1])
    return _shuffled(rng, X + noise * rng.standard_normal(X.shape), y)


def make_circles(n=200, noise=0.05, factor=0.5, seed=0):
    """A unit circle (class 0) around a circle of radius ``factor`` (class 1), + noise·N(0, I)."""
    _check_n(n, 2)
    _check_nonneg("noise", noise)
    if not 0 <= factor < 1:
        raise ValueError(f"factor must be in [0, 1), got {factor!r}")
    rng = np.random.default_rng(seed)
    n0, n1 = _class_sizes(n, 2)
    t0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0, 2 * np.pi, n1, endpoint=False)
    X = np.concatenate([np.c_[np.cos(t0), np.sin(t0)], factor * np.c_[np.cos(t1), np.sin(t1)]])
    y = np.repeat([0, 1], [n0, n1])
    return _shuffled(rng, X + noise * rng.standard_normal(X.shape), y)


def make_spirals(n=300, classes=3, noise=0.2, seed=0):
    """CS231n spirals: class j = (r sin θ, r cos θ), r ∈ [0, 1], θ ∈ [4j, 4j+4] + noise·N(0,1)."""
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 2:
        raise ValueError(f"classes must be an integer >= 2, got {classes!r}")
    _check_n(n, classes)
    _check_nonneg("noise", noise)
    rng = np.random.default_rng(seed)
    X, y = [], []
    for j, m in enumerate(_class_sizes(n, classes)):
        r = np.linspace(0.0, 1.0, m)
        theta = np.linspace(4 * j, 4 * (j + 1), m) + noise * rng.standard_normal(m)
        X.append(np.c_[r * np.sin(theta), r * np.cos(theta)])
        y.append(np.full(m, j))
    return _shuffled(rng, np.concatenate(X), np.concatenate(y))


def make_xor(n=200, noise=0.1, seed=0):
    """Uniform points in the 4 unit quadrants + noise·N(0, I); label 1 where sign x1 ≠ sign x2."""
    _check_n(n, 4)
    _check_nonneg("noise", noise)
    rng = np.random.default_rng(seed)
    signs = np.repeat([[1, 1], [1, -1], [-1, -1], [-1, 1]], _class_sizes(n, 4), axis=0)
    X = signs * rng.uniform(0, 1, (n, 2)) + noise * rng.standard_normal((n, 2))
    y = (signs[:, 0] != signs[:, 1]).astype(np.int64)
    return _shuffled(rng, X, y)


def make_blobs(n=200, centers=3, std=1.0, seed=0):
    """Gaussian blobs N(c_k, std²·I); ``centers``: a count (c_k ~ U[−10, 10]²) or a (k, 2) array."""
    rng = np.random.default_rng(seed)
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        if centers < 1:
            raise ValueError(f"centers must be >= 1, got {centers}")
        centers = rng.uniform(-10, 10, (centers, 2))
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2 or centers.shape[1] != 2 or len(centers) < 1:
        raise ValueError(
            f"centers must be a positive integer or a (k, 2) array, got shape {centers.shape}"
        )
    _check_n(n, len(centers))
    _check_nonneg("std", std)
    y = np.repeat(np.arange(len(centers)), _class_sizes(n, len(centers)))
    return _shuffled(rng, centers[y] + std * rng.standard_normal((n, 2)), y)


def make_polynomial_regression(n=30, degree=3, noise=0.1, seed=0, coef=None):
    """(x, y, coef): x ~ U[−1, 1] sorted, y = Σ_k coef[k]·x^k + noise·N(0,1); coef ~ N(0,1)."""
    _check_n(n)
    _check_nonneg("noise", noise)
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
        raise ValueError(f"degree must be an integer >= 0, got {degree!r}")
    rng = np.random.default_rng(seed)
    if coef is None:
        coef = rng.standard_normal(degree + 1)
    coef = np.asarray(coef, dtype=np.float64)
    if coef.shape != (degree + 1,):
        raise ValueError(
            f"coef must have degree + 1 = {degree + 1} entries (lowest power first), "
            f"got shape {coef.shape}"
        )
    x = np.sort(rng.uniform(-1, 1, n))
    y = np.polynomial.polynomial.polyval(x, coef) + noise * rng.standard_normal(n)
    return x, y, coef
