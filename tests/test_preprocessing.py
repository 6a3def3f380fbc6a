"""Tests for lib.preprocessing: statistics from the training set, applied unchanged to any set."""

import numpy as np
import pytest

from lib.preprocessing import PCA, Standardizer, ZCAWhitener


def correlated(n=2000, seed=0, shift=(3.0, -2.0, 5.0)):
    """n samples of a correlated, shifted, badly scaled 3-D Gaussian."""
    rng = np.random.default_rng(seed)
    mix = np.array([[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [0.3, -0.2, 10.0]])
    return rng.standard_normal((n, 3)) @ mix.T + np.array(shift)


def cov(z):
    zc = z - z.mean(axis=0)
    return zc.T @ zc / len(z)


def test_standardizer_train_output_has_zero_mean_unit_std():
    x = correlated()
    z = Standardizer().fit_transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-8)
    assert z.dtype == np.float64


def test_standardizer_applies_training_statistics_to_other_data():
    train, val = correlated(seed=0), correlated(n=50, seed=1, shift=(0.0, 0.0, 0.0))
    st = Standardizer().fit(train)
    expected = (val - train.mean(axis=0)) / train.std(axis=0)
    np.testing.assert_allclose(st.transform(val), expected, rtol=1e-7)
    # val's own mean is not removed: it was shifted relative to the training data
    assert np.abs(st.transform(val).mean(axis=0)).max() > 0.5


def test_standardizer_centre_only_and_per_channel_axis():
    rng = np.random.default_rng(0)
    imgs = rng.uniform(0, 255, size=(20, 3, 4, 5)) * np.array([1.0, 0.5, 0.1])[:, None, None]
    centred = Standardizer(axis=(0, 2, 3), scale=False).fit_transform(imgs)
    np.testing.assert_allclose(centred.mean(axis=(0, 2, 3)), 0, atol=1e-10)
    np.testing.assert_allclose(centred.std(axis=(0, 2, 3)), imgs.std(axis=(0, 2, 3)))
    st = Standardizer(axis=(0, 2, 3)).fit(imgs)
    assert st.mean_.shape == (1, 3, 1, 1)
    np.testing.assert_allclose(st.transform(imgs).std(axis=(0, 2, 3)), 1, atol=1e-8)
    # a different number of images is fine, a different number of channels is not
    assert st.transform(imgs[:2]).shape == (2, 3, 4, 5)
    with pytest.raises(ValueError, match="fitted on shape"):
        st.transform(imgs[:, :2])


def test_pca_decorrelates_with_eigenvalues_in_decreasing_order():
    x = correlated()
    pca = PCA().fit(x)
    z = pca.transform(x)
    c = cov(z)
    np.testing.assert_allclose(c, np.diag(np.diag(c)), atol=1e-9)
    np.testing.assert_allclose(np.diag(c), pca.explained_variance_, rtol=1e-9)
    assert np.all(np.diff(pca.explained_variance_) < 0)
    # the same variances as the singular values of the centred data
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(pca.explained_variance_, s**2 / len(x), rtol=1e-9)
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(3), atol=1e-12)


def test_pca_inverse_and_truncation():
    x = correlated()
    full = PCA().fit(x)
    np.testing.assert_allclose(full.inverse_transform(full.transform(x)), x, atol=1e-9)
    two = PCA(n_components=2).fit(x)
    z = two.transform(x)
    assert z.shape == (len(x), 2)
    # the reconstruction error of the best rank-2 projection is the dropped eigenvalue
    err = ((two.inverse_transform(z) - x) ** 2).sum(axis=1).mean()
    np.testing.assert_allclose(err, full.explained_variance_[2], rtol=1e-8)


def test_pca_components_are_deterministic_in_sign():
    x = correlated()
    a, b = PCA().fit(x), PCA().fit(x[::-1].copy())
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-10)
    rows = np.abs(a.components_).argmax(axis=1)
    assert np.all(a.components_[np.arange(3), rows] > 0)


@pytest.mark.parametrize("whitener", [PCA(whiten=True, eps=0.0), ZCAWhitener(eps=0.0)])
def test_whitening_gives_identity_covariance(whitener):
    x = correlated()
    z = whitener.fit_transform(x)
    np.testing.assert_allclose(cov(z), np.eye(3), atol=1e-9)
    np.testing.assert_allclose(whitener.inverse_transform(z), x, atol=1e-8)


def test_whitening_eps_damps_small_directions():
    x = correlated()
    z = PCA(whiten=True, eps=1.0).fit(x).transform(x)
    lam = PCA().fit(x).explained_variance_
    np.testing.assert_allclose(np.diag(cov(z)), lam / (lam + 1.0), rtol=1e-9)


def test_zca_is_symmetric_and_closer_to_the_input_than_pca_whitening():
    x = correlated()
    zca, pcaw = ZCAWhitener(eps=0.0).fit(x), PCA(whiten=True, eps=0.0).fit(x)
    matrix = zca.transform(np.eye(3) + zca.mean_)  # rows: images of the unit vectors
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-12)
    xc = x - x.mean(axis=0)
    d_zca = ((zca.transform(x) - xc) ** 2).sum(axis=1).mean()
    d_pca = ((pcaw.transform(x) - xc) ** 2).sum(axis=1).mean()
    assert d_zca < d_pca


def test_bad_input_raises_clear_errors():
    x = correlated(n=10)
    with pytest.raises(RuntimeError, match="not fitted"):
        Standardizer().transform(x)
    with pytest.raises(RuntimeError, match="not fitted"):
        PCA().transform(x)
    with pytest.raises(ValueError, match="NaN"):
        Standardizer().fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(TypeError, match="numeric"):
        Standardizer().fit([["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError, match="at least 2 samples"):
        Standardizer().fit(x[:1])
    with pytest.raises(ValueError, match="axis"):
        Standardizer(axis=5).fit(x)
    with pytest.raises(ValueError, match="eps"):
        Standardizer(eps=-1.0)
    with pytest.raises(ValueError, match="n_components"):
        PCA(n_components=0)
    with pytest.raises(ValueError, match="exceeds"):
        PCA(n_components=4).fit(x)
    with pytest.raises(ValueError, match="2-D"):
        PCA().fit(x[:, 0])
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        PCA().fit(x).transform(x[:, :2])
