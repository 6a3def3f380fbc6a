"""Input preprocessing as fit-on-train / apply-to-any transforms (float64).

Every transform learns its statistics with ``fit(x_train)`` and applies them, unchanged, with
``transform(x)`` to training, validation and test data alike. Rows are samples.

- ``Standardizer``: x̂ = (x − μ) / √(σ² + ε)   (``scale=False``: zero-centring x − μ only)
- ``PCA``:          z = (x − μ) U_k            (rotate onto the top-k principal axes)
- ``PCA(whiten=True)``: z = (x − μ) U_k (Λ_k + ε)^(−1/2)   (PCA whitening)
- ``ZCAWhitener``:  z = (x − μ) U (Λ + ε)^(−1/2) Uᵀ         (ZCA whitening)

with μ the training mean, Σ = (x − μ)ᵀ(x − μ) / N the training covariance and Σ = U Λ Uᵀ its
eigendecomposition, eigenvalues in decreasing order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Standardizer", "PCA", "ZCAWhitener"]


def _as_float64(x, name: str = "x") -> np.ndarray:
    """x as a float64 array; rejects non-numeric input and NaN/inf."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}") from err
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values")
    return arr


def _check_eps(eps: float) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    return float(eps)


class _Transform:
    """Base class: ``fit(x_train)`` learns statistics, ``transform(x)`` applies them."""

    def fit(self, x) -> _Transform:
        raise NotImplementedError

    def transform(self, x) -> np.ndarray:
        raise NotImplementedError

    def fit_transform(self, x) -> np.ndarray:
        """fit(x) then transform(x): only ever call this on the training set."""
        return self.fit(x).transform(x)

    def _check_fitted(self) -> None:
        if self.mean_ is None:
            raise RuntimeError(
                f"{type(self).__name__} is not fitted yet: call fit(x_train) before transform(x)"
            )


class Standardizer(_Transform):
    """x̂ = (x − μ) / √(σ² + ε) with μ, σ² the training mean and (biased) variance over ``axis``.

    ``axis=0``: per feature (per pixel for images); ``axis=(0, 2, 3)`` on (N, C, H, W): per channel;
    ``axis=None``: one mean and std for everything. ``scale=False`` only subtracts the mean.
    """

    def __init__(self, axis=0, scale: bool = True, eps: float = 1e-8):
        self.axis = axis
        self.scale = bool(scale)
        self.eps = _check_eps(eps)
        self.mean_ = None
        self.std_ = None

    def fit(self, x) -> Standardizer:
        x = _as_float64(x)
        if x.ndim == 0 or x.shape[0] < 2:
            raise ValueError(f"fit needs an array of at least 2 samples, got shape {x.shape}")
        try:
            self.mean_ = x.mean(axis=self.axis, keepdims=True)
        except (ValueError, TypeError) as err:  # numpy's AxisError is a ValueError
            raise ValueError(
                f"axis={self.axis!r} is not valid for an array of shape {x.shape}; "
                "allowed: None, an int or a tuple of ints below x.ndim"
            ) from err
        self.std_ = x.std(axis=self.axis, keepdims=True)
        self._shape = x.shape
        return self

    def transform(self, x) -> np.ndarray:
        self._check_fitted()
        x = _as_float64(x)
        kept = [i for i, n in enumerate(self.mean_.shape) if n != 1]
        if x.ndim != len(self._shape) or any(x.shape[i] != self._shape[i] for i in kept):
            raise ValueError(
                f"x has shape {x.shape} but the statistics were fitted on shape {self._shape}; "
                "all axes except the reduced ones must match"
            )
        out = x - self.mean_
        if self.scale:
            out = out / np.sqrt(self.std_**2 + self.eps)
        return out


class PCA(_Transform):
    """z = (x − μ) U_k, or with ``whiten=True`` z = (x − μ) U_k (Λ_k + ε)^(−1/2).

    U_k: the top-k eigenvectors of the training covariance Σ = (x − μ)ᵀ(x − μ) / N (columns,
    each with its largest-magnitude entry made positive so the result is deterministic), Λ_k their
    eigenvalues (``explained_variance_``). ``n_components=None`` keeps all of them.
    """

    def __init__(self, n_components: int | None = None, whiten: bool = False, eps: float = 1e-5):
        if n_components is not None and (
            isinstance(n_components, bool)
            or not isinstance(n_components, (int, np.integer))
            or n_components < 1
        ):
            raise ValueError(
                f"n_components must be a positive integer or None, got {n_components!r}"
            )
        self.n_components = n_components
        self.whiten = bool(whiten)
        self.eps = _check_eps(eps)
        self.mean_ = None

    def fit(self, x) -> PCA:
        x = _as_float64(x)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"fit needs a 2-D array (samples, features) with N ≥ 2, got {x.shape}")
        k = x.shape[1] if self.n_components is None else self.n_components
        if k > x.shape[1]:
            raise ValueError(f"n_components={k} exceeds the number of features {x.shape[1]}")
        self.mean_ = x.mean(axis=0)
        xc = x - self.mean_
        eigvals, eigvecs = np.linalg.eigh(xc.T @ xc / x.shape[0])
        order = np.argsort(eigvals)[::-1][:k]
        eigvals, eigvecs = np.clip(eigvals[order], 0.0, None), eigvecs[:, order]
        signs = np.sign(eigvecs[np.abs(eigvecs).argmax(axis=0), np.arange(k)])
        self.components_ = (eigvecs * signs).T  # (k, features): rows are principal axes
        self.explained_variance_ = eigvals
        return self

    def _scale(self) -> np.ndarray:
        return np.sqrt(self.explained_variance_ + self.eps) if self.whiten else 1.0

    def transform(self, x) -> np.ndarray:
        self._check_fitted()
        x = _as_float64(x)
        if x.ndim != 2 or x.shape[1] != self.mean_.shape[0]:
            raise ValueError(
                f"x must have shape (N, {self.mean_.shape[0]}) like the training data, "
                f"got {x.shape}"
            )
        return (x - self.mean_) @ self.components_.T / self._scale()

    def inverse_transform(self, z) -> np.ndarray:
        """x ≈ μ + z (Λ_k + ε)^(1/2) U_kᵀ (exact when all components are kept)."""
        self._check_fitted()
        z = _as_float64(z, "z")
        if z.ndim != 2 or z.shape[1] != self.components_.shape[0]:
            raise ValueError(f"z must have shape (N, {self.components_.shape[0]}), got {z.shape}")
        return self.mean_ + (z * self._scale()) @ self.components_


class ZCAWhitener(PCA):
    """z = (x − μ) U (Λ + ε)^(−1/2) Uᵀ: whitened like PCA whitening, then rotated back, so z stays
    as close as possible to the centred input (Bell & Sejnowski 1997; Krizhevsky 2009)."""

    def __init__(self, eps: float = 1e-5):
        super().__init__(n_components=None, whiten=True, eps=eps)

    def transform(self, x) -> np.ndarray:
        return super().transform(x) @ self.components_

    def inverse_transform(self, z) -> np.ndarray:
        """x = μ + z U (Λ + ε)^(1/2) Uᵀ."""
        self._check_fitted()
        return super().inverse_transform(_as_float64(z, "z") @ self.components_.T)
