"""Tests of lib.data: bundled datasets (hashes, splits, errors), loaders and toy generators."""

import hashlib
import re
import shutil

import numpy as np
import pytest
import torch

from lib import data

LOADERS = {"fashion_mnist.npz": data.load_fashion_mnist, "mnist.npz": data.load_mnist}
PARTS = ("train", "val", "test")
TOYS = [data.make_moons, data.make_circles, data.make_spirals, data.make_xor, data.make_blobs]


@pytest.fixture(scope="module", params=sorted(LOADERS))
def bundled(request):
    """(file name, Splits) for each bundled file, loaded once per module."""
    return request.param, LOADERS[request.param]()


# ----------------------------------------------------------------------------- bundled files


def test_hashes_match_files_readme_and_constants():
    readme = (data.DATA_DIR / "README.md").read_text()
    readme_hashes = dict(re.findall(r"`([\w.]+\.npz)`.*?`([0-9a-f]{64})`", readme))
    assert readme_hashes == data.SHA256
    for name, expected in data.SHA256.items():
        actual = hashlib.sha256((data.DATA_DIR / name).read_bytes()).hexdigest()
        assert actual == expected, name


def test_bundled_datasets_take_at_most_25_mb():
    assert sum((data.DATA_DIR / name).stat().st_size for name in data.SHA256) <= 25e6


def test_shapes_dtypes_and_values(bundled):
    _, splits = bundled
    assert len(splits.classes) == 10
    for part in PARTS:
        x, y = getattr(splits, f"x_{part}"), getattr(splits, f"y_{part}")
        assert x.dtype == np.uint8 and x.ndim == 3 and x.shape[1:] == (28, 28)
        assert y.dtype == np.int64 and y.shape == (len(x),)
        assert set(np.unique(y)) == set(range(10))
        assert x.max() == 255 and x.min() == 0  # full uint8 range, not rescaled 0-1 floats


def test_sizes_are_the_documented_ones():
    fashion, mnist = data.load_fashion_mnist(), data.load_mnist()
    assert [len(getattr(fashion, f"y_{p}")) for p in PARTS] == [20000, 5000, 5000]
    assert [len(getattr(mnist, f"y_{p}")) for p in PARTS] == [6000, 2000, 2000]


def test_pixel_statistics_are_those_of_the_real_datasets():
    # Published pixel mean/std of the full sets: Fashion-MNIST 0.2860/0.3530, MNIST 0.1307/0.3081.
    for splits, mean, std in [
        (data.load_fashion_mnist(), 0.2860, 0.3530),
        (data.load_mnist(), 0.1307, 0.3081),
    ]:
        x = splits.x_train / 255.0
        assert abs(x.mean() - mean) < 0.005 and abs(x.std() - std) < 0.005


def test_splits_are_disjoint(bundled):
    _, splits = bundled
    seen = {}
    for part in PARTS:
        for img in getattr(splits, f"x_{part}"):
            key = hashlib.sha1(img.tobytes()).digest()
            assert key not in seen, f"an image of {part} is also in {seen.get(key)}"
            seen[key] = part


def test_splits_are_stratified(bundled):
    name, splits = bundled
    counts = {p: np.bincount(getattr(splits, f"y_{p}"), minlength=10) for p in PARTS}
    total = sum(counts.values())
    for p in PARTS:
        share = len(getattr(splits, f"y_{p}")) / total.sum()
        assert np.all(np.abs(counts[p] - share * total) <= 1), (name, p, counts[p])
    if name == "fashion_mnist.npz":
        assert all(len(set(counts[p])) == 1 for p in PARTS)  # exactly equal per class


def test_two_loads_are_identical(bundled):
    name, first = bundled
    second = LOADERS[name]()
    for part in PARTS:
        np.testing.assert_array_equal(getattr(first, f"x_{part}"), getattr(second, f"x_{part}"))
        np.testing.assert_array_equal(getattr(first, f"y_{part}"), getattr(second, f"y_{part}"))


def test_corrupted_file_raises_a_clear_error(tmp_path):
    for name, loader in LOADERS.items():
        copy = tmp_path / name
        shutil.copy(data.DATA_DIR / name, copy)
        loader(root=tmp_path)  # the intact copy loads
        raw = bytearray(copy.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        copy.write_bytes(raw)
        actual = hashlib.sha256(raw).hexdigest()
        with pytest.raises(data.DataError) as err:
            loader(root=tmp_path)
        message = str(err.value)
        for text in (name, data.SHA256[name], actual, "python scripts/build_data.py"):
            assert text in message


def test_missing_file_raises_a_clear_error(tmp_path):
    for name, loader in LOADERS.items():
        with pytest.raises(data.DataError, match=rf"{re.escape(name)} is missing.*build_data\.py"):
            loader(root=tmp_path)


def test_bad_source_lists_the_allowed_values():
    with pytest.raises(
        ValueError, match=r"source must be one of \('bundled', 'torchvision'\), got 'web'"
    ):
        data.load_mnist(source="web")


def test_torchvision_source_without_the_files_raises_a_clear_error(tmp_path):
    pytest.importorskip("torchvision")
    with pytest.raises(data.DataError, match=r"MNIST not found under .*download=True"):
        data.load_mnist(source="torchvision", root=tmp_path)


def _write_idx(path, array):
    """Write an array in the IDX format of the original MNIST files (uint8, big-endian sizes)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_torchvision_source_reads_official_files_and_splits_train_into_train_val(tmp_path):
    pytest.importorskip("torchvision")
    bundled = data.load_fashion_mnist()
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    x_tr, y_tr, x_te, y_te = (
        bundled.x_train[:1200],
        bundled.y_train[:1200],
        bundled.x_val[:100],
        bundled.y_val[:100],
    )
    _write_idx(raw / "train-images-idx3-ubyte", x_tr)
    _write_idx(raw / "train-labels-idx1-ubyte", y_tr)
    _write_idx(raw / "t10k-images-idx3-ubyte", x_te)
    _write_idx(raw / "t10k-labels-idx1-ubyte", y_te)
    splits = data.load_fashion_mnist(source="torchvision", root=tmp_path)
    train_idx, val_idx = data.stratified_split(y_tr, (5 / 6, 1 / 6), seed=0)
    np.testing.assert_array_equal(splits.x_train, x_tr[train_idx])
    np.testing.assert_array_equal(splits.y_val, y_tr[val_idx])
    np.testing.assert_array_equal(splits.x_test, x_te)
    assert splits.y_test.dtype == np.int64 and splits.classes == data.FASHION_CLASSES


# ----------------------------------------------------------------------------- stratified_split


def test_stratified_split_is_disjoint_complete_stratified_and_seeded():
    y = np.repeat(np.arange(3), [50, 31, 19])
    parts = data.stratified_split(y, (0.6, 0.2, 0.2), seed=1)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(len(y)))
    for part, f in zip(parts[1:], (0.2, 0.2), strict=True):
        np.testing.assert_array_equal(np.bincount(y[part]), [round(f * n) for n in (50, 31, 19)])
    again = data.stratified_split(y, (0.6, 0.2, 0.2), seed=1)
    other = data.stratified_split(y, (0.6, 0.2, 0.2), seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    assert not np.array_equal(parts[0], other[0])


@pytest.mark.parametrize("fractions", [(0.5, 0.6), (1.0,), (1.2, -0.2)])
def test_stratified_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions must be"):
        data.stratified_split(np.zeros(10), fractions)


# ---------------------------------------------------------------------- to_float, make_loader


def test_to_float_scales_standardises_and_flattens():
    x = np.array([[[0, 51], [204, 255]]], dtype=np.uint8)
    out = data.to_float(x)
    assert out.dtype == np.float32 and out.shape == (1, 2, 2)
    np.testing.assert_allclose(out, x / 255.0, rtol=1e-6)
    std = data.to_float(x, mean=0.5, std=0.25, flatten=True)
    assert std.dtype == np.float32 and std.shape == (1, 4)
    np.testing.assert_allclose(std, (x.reshape(1, 4) / 255.0 - 0.5) / 0.25, rtol=1e-5)


def test_to_float_rejects_bad_input():
    x = np.zeros((2, 28, 28), dtype=np.uint8)
    with pytest.raises(TypeError, match="expects uint8 images, got dtype float64"):
        data.to_float(x.astype(np.float64))
    with pytest.raises(ValueError, match="both mean and std"):
        data.to_float(x, mean=0.5)
    with pytest.raises(ValueError, match="std must be > 0"):
        data.to_float(x, mean=0.5, std=0.0)


def _order(loader):
    return torch.cat([yb for _, yb in loader])


def test_make_loader_is_deterministic_per_seed():
    x = np.random.default_rng(0).standard_normal((100, 3)).astype(np.float32)
    y = np.arange(100)
    a = _order(data.make_loader(x, y, batch_size=16, seed=3))
    b = _order(data.make_loader(x, y, batch_size=16, seed=3))
    c = _order(data.make_loader(x, y, batch_size=16, seed=4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert sorted(a.tolist()) == list(range(100))  # a permutation: every example once per epoch
    assert torch.equal(_order(data.make_loader(x, y, shuffle=False)), torch.arange(100))
    xb, yb = next(iter(data.make_loader(x, y, batch_size=16, seed=3)))
    assert xb.shape == (16, 3) and xb.dtype == torch.float32 and yb.dtype == torch.int64
    torch.testing.assert_close(xb, torch.from_numpy(x)[yb])  # pairs stay together


def test_make_loader_rejects_bad_input():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        data.make_loader(np.zeros((4, 2)), np.zeros(4), batch_size=0)
    with pytest.raises(ValueError, match="same length, got 4 and 3"):
        data.make_loader(np.zeros((4, 2)), np.zeros(3))


# ----------------------------------------------------------------------------- toy generators


@pytest.mark.parametrize("make", TOYS)
def test_toy_sets_are_deterministic_shaped_and_balanced(make):
    X, y = make(n=201)
    X2, y2 = make(n=201)
    X3, _ = make(n=201, seed=1)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, X3)
    assert X.shape == (201, 2) and X.dtype == np.float64 and y.dtype == np.int64
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 201
    assert y[:20].min() != y[:20].max()  # shuffled, not sorted by class
    np.testing.assert_array_equal(make(n=201, seed=np.random.default_rng(0))[0], X)


def test_toy_sets_without_noise_lie_on_their_curves():
    X, y = data.make_circles(n=100, noise=0.0, factor=0.3)
    np.testing.assert_allclose(np.hypot(*X.T), np.where(y == 0, 1.0, 0.3))
    X, y = data.make_moons(n=100, noise=0.0)
    centre = np.where(y[:, None] == 0, [0.0, 0.0], [1.0, 0.5])
    np.testing.assert_allclose(np.hypot(*(X - centre).T), 1.0)
    X, y = data.make_xor(n=100, noise=0.0)
    np.testing.assert_array_equal(y, (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int))
    X, y = data.make_spirals(n=300, classes=3, noise=0.0)
    assert np.all(np.hypot(*X.T) <= 1.0 + 1e-12) and np.bincount(y).tolist() == [100, 100, 100]
    X, y = data.make_blobs(n=3000, centers=[[5.0, 0.0], [-5.0, 0.0]], std=0.5)
    np.testing.assert_allclose([X[y == 0].mean(0), X[y == 1].mean(0)], [[5, 0], [-5, 0]], atol=0.05)


def test_polynomial_regression():
    x, y, coef = data.make_polynomial_regression(n=30, degree=3, noise=0.0)
    assert x.shape == y.shape == (30,) and coef.shape == (4,)
    assert np.all(np.diff(x) >= 0) and x.min() >= -1 and x.max() <= 1
    np.testing.assert_allclose(y, sum(c * x**k for k, c in enumerate(coef)))
    x, y, coef = data.make_polynomial_regression(n=500, degree=1, noise=0.1, coef=[1.0, 2.0])
    np.testing.assert_array_equal(coef, [1.0, 2.0])
    assert abs(np.std(y - (1 + 2 * x)) - 0.1) < 0.01
    again = data.make_polynomial_regression(n=500, degree=1, noise=0.1, coef=[1.0, 2.0])
    np.testing.assert_array_equal(again[1], y)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: data.make_moons(n=0), "n must be an integer >= 2, got 0"),
        (lambda: data.make_moons(n=2.5), "n must be an integer >= 2, got 2.5"),
        (lambda: data.make_moons(noise=-0.1), "noise must be a finite number >= 0, got -0.1"),
        (lambda: data.make_circles(factor=1.0), r"factor must be in \[0, 1\), got 1.0"),
        (lambda: data.make_spirals(classes=1), "classes must be an integer >= 2, got 1"),
        (lambda: data.make_xor(n=3), "n must be an integer >= 4, got 3"),
        (lambda: data.make_blobs(centers=0), "centers must be >= 1, got 0"),
        (lambda: data.make_blobs(centers=[[1, 2, 3]]), r"\(k, 2\) array, got shape \(1, 3\)"),
        (lambda: data.make_blobs(std=-1), "std must be a finite number >= 0, got -1"),
        (lambda: data.make_polynomial_regression(degree=-1), "degree must be an integer >= 0"),
        (
            lambda: data.make_polynomial_regression(degree=2, coef=[1, 2]),
            "degree \\+ 1 = 3 entries",
        ),
    ],
)
def test_toy_generators_reject_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------- the prepared entry point


def test_pixel_stats_exact_and_equal_to_float64():
    x = data.load_fashion_mnist().x_train
    mean, std = data.pixel_stats(x)
    pixels = x.astype(np.float64) / 255
    assert mean == pytest.approx(pixels.mean(), rel=1e-12)
    assert std == pytest.approx(pixels.std(), rel=1e-12)
    with pytest.raises(ValueError, match="uint8"):
        data.pixel_stats(pixels)


@pytest.mark.parametrize("prepare", [data.fashion_mnist, data.mnist])
def test_prepared_subsets_standardised_with_whole_training_split(prepare):
    full = prepare()
    part = prepare(n_train=100, n_val=50, n_test=10, flatten=False)
    assert part.x_train.shape == (100, 28, 28) and part.x_val.shape == (50, 28, 28)
    assert part.x_test.shape == (10, 28, 28) and part.x_train.dtype == np.float32
    assert (part.mean, part.std) == (full.mean, full.std)  # statistics never depend on n_train
    np.testing.assert_array_equal(part.x_train.reshape(100, -1), full.x_train[:100])
    np.testing.assert_array_equal(part.y_val, full.y_val[:50])
    assert abs(full.x_train.mean()) < 1e-3 and abs(full.x_train.std() - 1) < 1e-3
    raw = prepare(n_train=5, standardize=None)
    assert raw.mean is None and 0 <= raw.x_train.min() and raw.x_train.max() <= 1


def test_prepared_arrays_are_fresh_and_tensors_work():
    torch = pytest.importorskip("torch")
    a = data.fashion_mnist(n_train=10)
    a.x_train[:] = 0
    a.y_train[:] = 0
    b = data.fashion_mnist(n_train=10)
    assert b.x_train.any() and b.y_train.any()  # mutating one result never reaches another
    t = data.fashion_mnist(n_train=10, tensors=True)
    assert isinstance(t.x_train, torch.Tensor) and t.x_train.dtype == torch.float32
    assert t.y_train.dtype == torch.int64


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_train": 0}, "n_train"),
        ({"n_val": 10**9}, "n_val"),
        ({"n_test": 2.5}, "n_test"),
        ({"standardize": "val"}, "standardize"),
    ],
)
def test_prepared_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.fashion_mnist(**kwargs)
