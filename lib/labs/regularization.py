"""Plain functions behind chapter 04 (overfitting and regularization): polynomial fits, the
bias–variance measurement, regularization paths, dropout variants and the chapter's experiments.

Every figure function returns a `matplotlib.figure.Figure` and has defaults for all parameters
(the chapter's widgets are thin wrappers made with `lib.widgets`). Randomness comes from explicit
seeds; nothing here touches a global RNG.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from matplotlib.colors import Normalize
from numpy.polynomial import legendre

from lib import experiments, plots, widgets
from lib.proximal import count_zeros, soft_threshold_
from lib.train import Callback

__all__ = [
    "true_function",
    "sample_points",
    "fit_polynomial",
    "predict_polynomial",
    "poly_fit_figure",
    "fits_figure",
    "bias_variance",
    "bias_variance_figure",
    "mlp_loss_and_grads",
    "mlp_bias_variance",
    "ridge_path",
    "lasso_ista",
    "lasso_path",
    "path_figure",
    "l1_sgd_vs_proximal",
    "L1Subgradient",
    "ProximalL1",
    "weight_zeros",
    "fit_spec",
    "scored_runs",
    "repeated_subset",
    "accuracy",
    "probs",
    "ensemble_accuracy",
    "Snapshots",
    "ensemble_figure",
    "data_size_figure",
    "augmentation_table_figure",
    "shrink_factors",
    "early_stopping_l2_figure",
    "vanilla_dropout",
    "training_recipes",
    "curves_figure",
]


# ----------------------------------------------------------------------- polynomial regression


def true_function(x):
    """The smooth curve every polynomial experiment tries to recover: f(x) = sin(πx)."""
    return np.sin(np.pi * np.asarray(x, dtype=np.float64))


def sample_points(n=12, noise=0.3, seed=0):
    """(x, y): x ~ U[−1, 1] sorted, y = sin(πx) + noise·N(0, 1), from default_rng(seed)."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1, 1, n))
    return x, true_function(x) + noise * rng.standard_normal(n)


def fit_polynomial(x, y, degree, lam=0.0):
    """Least squares in the Legendre basis P₀…P_degree (well conditioned on [−1, 1]), with an
    optional ridge penalty λ‖c‖² on the coefficients: c = argmin ‖Φc − y‖² + λ‖c‖²."""
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    phi = legendre.legvander(np.asarray(x, dtype=np.float64), degree)
    if lam > 0:  # ridge = least squares on the stacked system [Φ; √λ I] c ≈ [y; 0]
        phi = np.vstack([phi, np.sqrt(lam) * np.eye(degree + 1)])
        y = np.concatenate([y, np.zeros(degree + 1)])
    coef, *_ = np.linalg.lstsq(phi, y, rcond=None)
    return coef


def predict_polynomial(coef, x):
    return legendre.legval(np.asarray(x, dtype=np.float64), coef)


GRID = np.linspace(-1, 1, 201)


def _noisy_sets(n_sets, n_points, noise, seed):
    """(rng, x, ys): n_sets noisy samples y = sin(πx) + noise·N(0, 1) sharing the inputs x
    (n_points evenly spaced on [−1, 1]); rng = default_rng(seed), to be used on afterwards."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-1, 1, n_points)
    return rng, x, true_function(x)[None, :] + noise * rng.standard_normal((n_sets, n_points))


def _mse(a, b):
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


def _poly_fit_update(fig, degree=3, n_points=12, noise=0.3, lam=1e-8, seed=0):
    """Redraw `poly_fit_figure`'s figure in place (the fit, the points and the title: the legend
    and the limits stay, so a slider step redraws only these)."""
    x, y = sample_points(n_points, noise, seed)
    coef = fit_polynomial(x, y, degree, lam)
    x_test, y_test = sample_points(1000, noise, seed + 10_000)
    train_mse = _mse(predict_polynomial(coef, x), y)
    test_mse = _mse(predict_polynomial(coef, x_test), y_test)
    (ax,) = fig.axes
    ax.lines[1].set_ydata(predict_polynomial(coef, GRID))
    ax.collections[0].set_offsets(np.column_stack([x, y]))
    ax.set_title(f"degree {degree}, {n_points} points, λ = {lam:.0e}: train MSE {train_mse:.3f}, "
                 f"test MSE {test_mse:.3f}", fontsize=10)


@widgets.register_widget(update=_poly_fit_update, controls={
    "degree": (0, 15, 1), "n_points": (5, 60, 1), "noise": (0.0, 1.0, 0.05),
    "lam": widgets.LogRange(1e-8, 10.0, 0.5), "seed": (0, 20, 1)})
def poly_fit_figure(degree=3, n_points=12, noise=0.3, lam=1e-8, seed=0):
    """One noisy sample of sin(πx), its polynomial fit, and the fit's training and test MSE
    (test: 1000 fresh points from the same distribution)."""
    fig, ax = plots.new_figure(size=(6, 4))
    fig.set_layout_engine("constrained")
    ax.plot(GRID, true_function(GRID), color="0.6", lw=2, label="true curve sin(πx)")
    ax.plot(GRID, np.zeros_like(GRID), color="C3", lw=2, label="polynomial fit")
    ax.scatter([], [], color="C0", zorder=3, label="training points")
    ax.set(xlim=(-1.1, 1.1), ylim=(-2.5, 2.5), xlabel="x", ylabel="y")
    ax.legend(loc="lower right", fontsize=8)
    _poly_fit_update(fig, degree, n_points, noise, lam, seed)
    return fig


def fits_figure(degrees=(1, 3, 11), n_points=12, noise=0.3, seed=0):
    """Under-, good and over-fitting side by side on the same sample."""
    x, y = sample_points(n_points, noise, seed)
    fig, axes = plots.new_figure(ncols=len(degrees), size=(4 * len(degrees), 3.4))
    fig.set_layout_engine("constrained")
    names = {0: "underfits", 1: "fits", 2: "overfits"}
    for i, (ax, d) in enumerate(zip(axes, degrees, strict=True)):
        coef = fit_polynomial(x, y, d)
        ax.plot(GRID, true_function(GRID), color="0.6", lw=2, label="sin(πx)")
        ax.plot(GRID, predict_polynomial(coef, GRID), color="C3", lw=2, label=f"degree {d}")
        ax.scatter(x, y, color="C0", zorder=3, s=18, label="training points")
        ax.set_ylim(-2.5, 2.5)
        ax.set_xlabel("x")
        ax.set_title(f"degree {d} {names.get(i, '')}: train MSE "
                     f"{_mse(predict_polynomial(coef, x), y):.3f}", fontsize=10)
    axes[0].set_ylabel("y")
    axes[0].legend(loc="lower right", fontsize=8)
    return fig


def bias_variance(degrees=tuple(range(0, 13)), n_sets=500, n_points=15, noise=0.3, lam=0.0,
                  seed=0):
    """Fit each degree on ``n_sets`` data sets that share the inputs x (n_points evenly spaced on
    [−1, 1]) and differ in their noise. On a grid of x: bias² = mean_x (f̄(x) − f(x))²,
    variance = mean_x mean_sets (f̂(x) − f̄(x))², f̄ the average fit; expected test MSE (for a
    fresh noisy y at a grid point) = mean (f̂ − f)² + noise², which equals
    bias² + variance + noise²."""
    _, x, ys = _noisy_sets(n_sets, n_points, noise, seed)
    f = true_function(GRID)
    out = {"degree": np.array(degrees), "bias2": [], "variance": [], "test_mse": [],
           "train_mse": []}
    for d in degrees:
        phi = legendre.legvander(x, d)
        lhs, rhs = phi, ys.T
        if lam > 0:
            lhs = np.vstack([phi, np.sqrt(lam) * np.eye(d + 1)])
            rhs = np.vstack([rhs, np.zeros((d + 1, n_sets))])
        coefs, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)  # all data sets at once
        preds = legendre.legvander(GRID, d) @ coefs  # (grid, sets)
        mean_fit = preds.mean(axis=1)
        out["bias2"].append(float(np.mean((mean_fit - f) ** 2)))
        out["variance"].append(float(np.mean((preds - mean_fit[:, None]) ** 2)))
        out["test_mse"].append(float(np.mean((preds - f[:, None]) ** 2)) + noise**2)
        out["train_mse"].append(float(np.mean((phi @ coefs - ys.T) ** 2)))
    return {k: np.asarray(v) for k, v in out.items()}


def mlp_loss_and_grads(params, x, y):
    """Many one-hidden-layer ReLU nets at once, one per data set s (params shaped (S, 1, h),
    (S, 1, h), (S, h, 1), (S, 1, 1)): f_s(x) = relu(x·w1 + b1)·w2 + b2. Returns the per-set mean
    squared errors (S,) on x (n,), y (S, n), and the gradients of their sum, by hand."""
    x = np.asarray(x, dtype=np.float64)[None, :, None]  # (1, n, 1)
    z = x * params["w1"] + params["b1"]  # (S, n, h)
    a = np.maximum(z, 0)
    err = (a @ params["w2"] + params["b2"])[..., 0] - y  # (S, n)
    g = 2 * err[..., None] / y.shape[1]  # d mse_s / d f_s, (S, n, 1)
    gz = g @ params["w2"].transpose(0, 2, 1) * (z > 0)  # (S, n, h)
    grads = {"w1": (x * gz).sum(1, keepdims=True), "b1": gz.sum(1, keepdims=True),
             "w2": a.transpose(0, 2, 1) @ g, "b2": g.sum(1, keepdims=True)}
    return np.mean(err**2, axis=1), grads


def mlp_bias_variance(widths=(1, 2, 4, 8, 16, 32, 64, 256), n_sets=20, n_points=15, noise=0.3,
                      steps=1500, lr=0.03, seed=0):
    """`bias_variance` for 1-h-1 ReLU nets instead of polynomials: per width h, ``n_sets`` nets,
    each with its own data set (the same n_points evenly spaced x, fresh noise) and its own
    initialisation (PyTorch's default: U(±1/√fan_in)), trained full-batch with Adam for ``steps``
    steps. Returns {"width", "bias2", "variance", "test_mse", "train_mse"}, with the variance
    across sets unbiased (÷ (S − 1)) and bias² = mean_x (f̄ − f)² − variance/S (the average f̄ of
    S fits is itself noisy), so that test MSE = bias² + variance + noise² still holds exactly."""
    from lib.numpy_ref.optim import Adam

    rng, x, ys = _noisy_sets(n_sets, n_points, noise, seed)
    f = true_function(GRID)
    out = {"width": np.array(widths), "bias2": [], "variance": [], "test_mse": [],
           "train_mse": []}
    for h in widths:
        b = 1 / np.sqrt(h)
        params = {"w1": rng.uniform(-1, 1, (n_sets, 1, h)),
                  "b1": rng.uniform(-1, 1, (n_sets, 1, h)),
                  "w2": rng.uniform(-b, b, (n_sets, h, 1)),
                  "b2": rng.uniform(-b, b, (n_sets, 1, 1))}
        opt = Adam(params, lr=lr)
        for _ in range(steps):
            opt.step(mlp_loss_and_grads(params, x, ys)[1])
        preds = (np.maximum(GRID[None, :, None] * params["w1"] + params["b1"], 0)
                 @ params["w2"] + params["b2"])[..., 0]  # (sets, grid)
        mean_fit = preds.mean(axis=0)
        variance = float(np.mean((preds - mean_fit) ** 2)) * n_sets / (n_sets - 1)
        out["bias2"].append(float(np.mean((mean_fit - f) ** 2)) - variance / n_sets)
        out["variance"].append(variance)
        out["test_mse"].append(float(np.mean((preds - f) ** 2)) + noise**2)
        out["train_mse"].append(float(mlp_loss_and_grads(params, x, ys)[0].mean()))
    return {k: np.asarray(v) for k, v in out.items()}


def bias_variance_figure(bv, noise=0.3):
    """Bias², variance, expected test MSE and training MSE against the polynomial degree (log
    MSE axis) or, for `mlp_bias_variance`'s result, the hidden width (log₂ axis, linear MSE: the
    corrected bias² may be slightly negative)."""
    fig, ax = plots.new_figure(size=(6.5, 4))
    fig.set_layout_engine("constrained")
    key = "degree" if "degree" in bv else "width"
    d = bv[key]
    plot = ax.semilogy if key == "degree" else ax.plot
    plot(d, bv["bias2"], "o-", label="bias²")
    plot(d, bv["variance"], "s-", label="variance")
    plot(d, bv["test_mse"], "^-", color="k", label="expected test MSE")
    plot(d, bv["train_mse"], "v--", color="0.5", label="training MSE")
    ax.axhline(noise**2, color="C2", ls=":", label=f"noise σ² = {noise**2:.2f}")
    best = int(d[np.argmin(bv["test_mse"])])
    ax.axvline(best, color="C3", ls="--", lw=1, label=f"best {key} {best}")
    if key == "width":
        ax.set_xscale("log", base=2)
        ax.set_xticks(d, [str(w) for w in d])
    ax.set_xlabel("polynomial degree" if key == "degree" else "hidden units (log scale)")
    ax.set_ylabel("mean squared error" + (" (log scale)" if key == "degree" else ""))
    ax.legend(fontsize=8, ncol=2)
    return fig


# ------------------------------------------------------------------ training curves of a run


def curves_figure(histories, title=None):
    """Training (dashed) and validation (solid) accuracy and loss per epoch, {label: History}."""
    fig, (ax_acc, ax_loss) = plots.new_figure(ncols=2, size=(10, 3.6))
    fig.set_layout_engine("constrained")
    for i, (label, h) in enumerate(histories.items()):
        e = h.epoch["epoch"]
        ax_acc.plot(e, h.epoch["train_acc"], "--", color=f"C{i}", label=f"{label}: train")
        ax_acc.plot(e, h.epoch["val_acc"], "-", color=f"C{i}", label=f"{label}: validation")
        ax_loss.plot(e, h.epoch["train_loss"], "--", color=f"C{i}")
        ax_loss.plot(e, h.epoch["val_loss"], "-", color=f"C{i}")
    ax_acc.set_ylabel("accuracy")
    ax_loss.set_ylabel("cross-entropy loss")
    for ax in (ax_acc, ax_loss):
        ax.set_xlabel("epoch")
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# ----------------------------------------------------------------- regularization paths (L2/L1)


def sparse_regression(n=60, n_features=8, n_informative=3, noise=0.5, seed=0):
    """(X, y, w_true): correlated Gaussian features (corr 0.5 between neighbours), standardised;
    only the first ``n_informative`` true weights are non-zero."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, n_features + 1))
    X = z[:, :-1] + z[:, 1:]  # neighbouring columns share one Gaussian: correlation 0.5
    X = (X - X.mean(0)) / X.std(0)
    w_true = np.zeros(n_features)
    w_true[:n_informative] = [3.0, -2.0, 1.5, 1.0, -1.0][:n_informative]
    y = X @ w_true + noise * rng.standard_normal(n)
    return X, y - y.mean(), w_true


def ridge_path(X, y, alphas):
    """Closed form of min (1/2n)‖y − Xw‖² + (α/2)‖w‖²: w = (XᵀX/n + αI)⁻¹ Xᵀy/n, per α."""
    n, p = X.shape
    gram, xty = X.T @ X / n, X.T @ y / n
    return np.array([np.linalg.solve(gram + a * np.eye(p), xty) for a in alphas])


def lasso_ista(X, y, alpha, l1_ratio=1.0, w0=None, iters=5000, tol=1e-12):
    """ISTA (proximal gradient) for scikit-learn's elastic-net objective
    (1/2n)‖y − Xw‖² + α·r‖w‖₁ + (α(1 − r)/2)‖w‖², r = l1_ratio (r = 1: the lasso).
    Step 1/L with L = λ_max(XᵀX/n) + α(1 − r); each step: gradient step, then soft-threshold."""
    from lib.proximal import soft_threshold

    n, p = X.shape
    gram, xty = X.T @ X / n, X.T @ y / n
    l2 = alpha * (1 - l1_ratio)
    step = 1.0 / (np.linalg.eigvalsh(gram)[-1] + l2)
    w = np.zeros(p) if w0 is None else np.array(w0, dtype=np.float64)
    for _ in range(iters):
        grad = gram @ w - xty + l2 * w
        w_new = soft_threshold(w - step * grad, step * alpha * l1_ratio)
        if np.max(np.abs(w_new - w)) < tol:
            return w_new
        w = w_new
    return w


def lasso_path(X, y, alphas, l1_ratio=1.0):
    """Warm-started ISTA along ``alphas`` (largest first works best): one row per α."""
    out, w = [], None
    for a in alphas:
        w = lasso_ista(X, y, a, l1_ratio, w0=w)
        out.append(w)
    return np.array(out)


def path_figure(alphas, paths, w_true=None):
    """Weights against the penalty strength α (log scale), one panel per penalty {name: path}."""
    fig, axes = plots.new_figure(ncols=len(paths), size=(4.2 * len(paths), 3.6))
    fig.set_layout_engine("constrained")
    axes = np.atleast_1d(axes)
    for ax, (name, path) in zip(axes, paths.items(), strict=True):
        for j in range(path.shape[1]):
            style = "-" if w_true is None or w_true[j] != 0 else ":"
            ax.semilogx(alphas, path[:, j], style, color=f"C{j}", label=f"w{j + 1}")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel("penalty strength α (log scale)")
        ax.set_title(name, fontsize=10)
    axes[0].set_ylabel("weight")
    axes[-1].legend(fontsize=7, ncol=2, title="dotted: true weight 0", title_fontsize=7)
    return fig


def l1_sgd_vs_proximal(X, y, alpha=0.1, lr=0.01, epochs=200, batch_size=10, seed=0):
    """Mini-batch SGD on (1/2n)‖y − Xw‖² + α‖w‖₁, twice from the same start and the same batches:
    with the subgradient α·sign(w) added to the gradient, and with a soft-threshold step after
    the data-gradient step (proximal SGD). Returns {"subgradient": w, "proximal": w}."""
    from lib.proximal import proximal_l1_step

    n, p = X.shape
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(n) for _ in range(epochs)]
    out = {}
    for method in ("subgradient", "proximal"):
        w = np.zeros(p)
        for order in orders:
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                grad = X[idx].T @ (X[idx] @ w - y[idx]) / len(idx)
                if method == "subgradient":
                    w = w - lr * (grad + alpha * np.sign(w))
                else:
                    w = proximal_l1_step(w, grad, lr, alpha)
        out[method] = w
    return out


# ----------------------------------------------------------------- L1 on a real net (callbacks)


class L1Subgradient(Callback):
    """lib.train callback: add λ·sign(w) to the gradient of every weight matrix (not biases)
    after backward — plain (sub)gradient descent on loss + λ Σ|w|."""

    def __init__(self, lam):
        self.lam = lam

    def on_after_backward(self, state):
        for name, w in state.model.named_parameters():
            if name.endswith("weight") and w.grad is not None:
                w.grad.add_(self.lam * w.detach().sign())


class ProximalL1(Callback):
    """lib.train callback: after each optimizer step, soft-threshold every weight matrix by
    lr·λ (proximal SGD on loss + λ Σ|w|)."""

    def __init__(self, lam):
        self.lam = lam

    def on_batch_end(self, state):
        lr = state.optimizer.param_groups[0]["lr"]
        for name, w in state.model.named_parameters():
            if name.endswith("weight"):
                soft_threshold_(w.data, lr * self.lam)


def weight_zeros(model):
    """(exact zeros, total) over the model's weight matrices."""
    ws = [w for n, w in model.named_parameters() if n.endswith("weight")]
    return sum(count_zeros(w) for w in ws), sum(w.numel() for w in ws)


# ------------------------------------------------------------------------- training helpers


def fit_spec(spec, data, transform=None, mix=None, validate=True):
    """`lib.experiments.fit_spec` (returns (model, History)) with this chapter's augmentation:
    ``transform(images, rng)`` augments the (N, 28, 28) training images anew at every epoch;
    ``mix(images, labels, rng) -> (images, soft labels)``: mixup / cutmix
    (`lib.augment.AugmentedLoader`, seeded with spec.seed). Images of data.x_train shaped
    (N, 784) feed an MLP, (N, 1, 28, 28) a CNN. ``validate=False`` skips the per-epoch
    validation pass (score the returned model instead)."""
    from lib.augment import AugmentedLoader

    loader = None
    if transform is not None or mix is not None:
        images = np.asarray(data.x_train).reshape(len(data.y_train), 28, 28)
        loader = AugmentedLoader(images, data.y_train, spec.batch_size, transform, spec.seed,
                                 flatten=np.ndim(data.x_train) == 2, mix=mix)
    return experiments.fit_spec(spec, data, train_loader=loader, validate=validate)


def scored_runs(spec, data, seeds, transform=None, mix=None, validate=True):
    """Train ``spec`` once per seed (`fit_spec`); per run: the model, its History, validation and
    test accuracy (of the returned weights) and the training time in seconds."""
    import time

    out = []
    for seed in seeds:
        start = time.perf_counter()
        model, history = fit_spec(dataclasses.replace(spec, seed=seed), data, transform, mix,
                                  validate)
        seconds = time.perf_counter() - start
        out.append({"model": model, "history": history, "seconds": seconds,
                    "val": accuracy(model, data.x_val, data.y_val),
                    "test": accuracy(model, data.x_test, data.y_test)})
    return out


def repeated_subset(data, n, rows):
    """``data`` with its training set cut to the first n examples and tiled to ``rows`` rows
    (⌊rows/n⌋ copies): one epoch is then ⌊rows/n⌋ passes, so training sets of every size get the
    same number of steps per epoch."""
    if not 1 <= n <= len(data.y_train):
        raise ValueError(f"n must be in [1, {len(data.y_train)}], got {n}")
    copies = max(1, rows // n)
    x = np.asarray(data.x_train)[:n]
    return dataclasses.replace(data, x_train=np.tile(x, (copies,) + (1,) * (x.ndim - 1)),
                               y_train=np.tile(np.asarray(data.y_train)[:n], copies))


def probs(model, x):
    """Softmax outputs of ``model`` in eval mode (no grad), as a NumPy array."""
    import torch

    model.eval()
    with torch.no_grad():
        return torch.softmax(model(torch.as_tensor(x)), dim=1).numpy()


def ensemble_accuracy(prob_list, y, how="average"):
    """Accuracy of an ensemble: "average" = argmax of the mean probabilities; "vote" = the most
    frequent argmax (ties broken by the lowest class index, like np.argmax of the counts)."""
    prob_list = np.asarray(prob_list)
    if how == "average":
        pred = prob_list.mean(0).argmax(1)
    elif how == "vote":
        votes = prob_list.argmax(2)  # (models, n)
        counts = np.apply_along_axis(np.bincount, 0, votes, minlength=prob_list.shape[2])
        pred = counts.argmax(0)
    else:
        raise ValueError(f"how must be 'average' or 'vote', got {how!r}")
    return float((pred == np.asarray(y)).mean())


class Snapshots(Callback):
    """lib.train callback: keep a copy of the model's weights at the end of every ``every``-th
    epoch (the ends of the cosine cycles for a snapshot ensemble)."""

    def __init__(self, every):
        self.every, self.states = every, []

    def on_epoch_end(self, state):
        import copy

        if state.epoch % self.every == 0:
            self.states.append(copy.deepcopy(state.model.state_dict()))


def accuracy(model, x, y) -> float:
    """Accuracy of ``model`` (eval mode, no grad) on arrays/tensors x, y."""
    import torch

    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(x)).argmax(1)
    return float((pred == torch.as_tensor(y)).float().mean())


# ---------------------------------------------------------------------------------- dropout


def vanilla_dropout(x, p_keep, rng, train=True):
    """The original ("vanilla") dropout of Srivastava et al. 2014 and the CS231n notes, where
    ``p_keep`` is the probability of KEEPING a unit (PyTorch's p is the drop probability,
    1 − p_keep):
    train: y = x·m, m ~ Bernoulli(p_keep) (no rescaling); test: y = p_keep·x (scale at test time).
    E[train output] = p_keep·x = test output. Inverted dropout moves the factor to training instead:
    train y = x·m/p_keep, test y = x (what `torch.nn.Dropout` and `lib.*.layers.Dropout` do)."""
    if not 0.0 < p_keep <= 1.0:
        raise ValueError(f"p_keep (the keep probability) must be in (0, 1], got {p_keep!r}")
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return p_keep * x
    return x * (rng.random(x.shape) < p_keep)


def mc_dropout_probs(model, x, n_samples=50, seed=0):
    """Average of softmax outputs over ``n_samples`` forward passes with dropout ON (train mode),
    masks drawn from a fork of the global torch RNG seeded with ``seed`` (the global state is
    left as it was). Returns (n, classes) probabilities."""
    import torch

    x = torch.as_tensor(x)
    model.train()
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        probs = sum(torch.softmax(model(x), dim=1) for _ in range(n_samples)) / n_samples
    model.eval()
    return probs


def eval_probs(model, x):
    """Softmax outputs of the deterministic (eval-mode, weight-scaled) network."""
    import torch

    model.eval()
    with torch.no_grad():
        return torch.softmax(model(torch.as_tensor(x)), dim=1)


# ----------------------------------------------------------------------------- augmentation

AUGMENTATIONS = ("flip", "crop", "rotation", "erasing", "cutout", "mixup", "cutmix")


def augmenter(name, strength=0.5, fill=0.0):
    """transform(images, rng) for one augmentation at a strength in [0, 1]: crop padding
    round(6·s) px, rotation ±45·s degrees, erasing area up to 0.4·s of the image (p = 1), cutout
    side round(16·s) px, mixup/cutmix Beta(α, α) with α = 2·s (labels ignored here: images only);
    flip ignores the strength (p = 0.5)."""
    from lib import augment as A

    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; allowed: {', '.join(AUGMENTATIONS)}")
    if not 0 <= strength <= 1:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    s = strength
    if name == "flip":
        return lambda x, rng: A.random_hflip(x, rng)
    if name == "crop":
        return lambda x, rng: A.random_crop(x, rng, padding=int(round(6 * s)), fill=fill)
    if name == "rotation":
        return lambda x, rng: A.random_rotation(x, rng, degrees=45 * s, fill=fill)
    if name == "erasing":
        if s == 0:
            return lambda x, rng: x.copy()
        return lambda x, rng: A.random_erasing(x, rng, p=1.0, scale=(0.02, max(0.02, 0.4 * s)),
                                               value=fill)
    if name == "cutout":
        return lambda x, rng: A.cutout(x, rng, size=int(round(16 * s)), value=fill)
    def mix(x, rng):  # pairs each image with its neighbour in the batch; labels not needed
        if s == 0:
            return x.copy()
        f = A.mixup if name == "mixup" else A.cutmix
        return f(x, np.zeros(len(x), dtype=int), 1, rng, alpha=2 * s)[0]

    return mix


def training_recipes(fill=0.0):
    """Section 8.3's training recipes {name: (transform(images, rng), mix(images, labels, rng) or
    None)}: nothing; a random shift (crop with padding 2) + horizontal flip; and that plus mixup
    (α = 0.4), CutMix (α = 1), random erasing (p = 0.5) or a rotation of up to ±10°.
    ``fill``: the value of a black pixel (after standardisation) for padding and erasing."""
    from lib import augment as A

    def crop_flip(x, rng):
        return A.random_hflip(A.random_crop(x, rng, padding=2, fill=fill), rng)

    return {
        "none": (None, None),
        "crop + flip": (crop_flip, None),
        "+ mixup": (crop_flip, lambda x, y, rng: A.mixup(x, y, 10, rng, alpha=0.4)[:2]),
        "+ cutmix": (crop_flip, lambda x, y, rng: A.cutmix(x, y, 10, rng, alpha=1.0)[:2]),
        "+ erasing": (lambda x, rng: A.random_erasing(crop_flip(x, rng), rng, p=0.5, value=fill),
                      None),
        "+ rotation": (lambda x, rng: A.random_rotation(crop_flip(x, rng), rng, degrees=10,
                                                        fill=fill), None),
    }


@functools.lru_cache(maxsize=2)
def _grid_images(n):
    from lib.data import fashion_mnist

    d = fashion_mnist(n_train=n, n_val=1, n_test=1, flatten=False, standardize=None)
    x, y = d.x_train, d.y_train
    rows = np.array([x[np.flatnonzero(y == c)[0]] for c in (0, 3, 7, 9)])  # shirt, dress, shoes
    rows.setflags(write=False)
    return rows


def _augment_grid_update(fig, transform="crop", strength=0.5, seed=0):
    """Redraw `augment_grid_figure`'s figure in place (the images of columns 2-6, the title)."""
    rows = _grid_images(100)
    f = augmenter(transform, strength, fill=0.5 if transform in ("erasing", "cutout") else 0.0)
    rng = np.random.default_rng(seed)
    for c in range(1, 6):
        draw = f(rows, rng)
        for r in range(4):
            fig.axes[6 * r + c].images[0].set_data(draw[r])
    fig.texts[0].set_text(f"{transform}, strength {strength:.2f}")


@widgets.register_widget(update=_augment_grid_update, controls={
    "transform": list(AUGMENTATIONS), "strength": (0.0, 1.0, 0.05), "seed": (0, 20, 1)})
def augment_grid_figure(transform="crop", strength=0.5, seed=0):
    """Rows: four Fashion-MNIST images (pixels x/255, erased areas grey); columns: the original,
    then five augmented draws."""
    rows = _grid_images(100)
    fig, axes = plots.new_figure(ncols=6, nrows=4, size=(7, 4.9))
    fig.set_layout_engine("constrained")
    for r in range(4):
        for c in range(6):
            ax = axes[r, c]
            ax.imshow(rows[r], cmap="gray_r", norm=Normalize(0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("original" if c == 0 else f"draw {c}", fontsize=9)
    fig.suptitle("", fontsize=10)
    _augment_grid_update(fig, transform, strength, seed)
    return fig


def ensemble_figure(ens, single):
    """Ensemble accuracy against the number of members K (averaging vs voting), with the single
    members' mean ± std as a band."""
    fig, ax = plots.new_figure(size=(6, 3.8))
    fig.set_layout_engine("constrained")
    ks = np.arange(1, len(ens["average"]) + 1)
    ax.axhspan(single.mean() - single.std(), single.mean() + single.std(), color="0.85",
               label="single nets: mean ± std")
    ax.plot(ks, ens["average"], "o-", label="average probabilities")
    ax.plot(ks, ens["vote"], "s--", label="majority vote")
    ax.set_xticks(ks)
    ax.set_xlabel("number of nets K")
    ax.set_ylabel("validation accuracy")
    ax.legend(fontsize=8)
    return fig


def data_size_figure(sizes, errors):
    """Test error against the training-set size (log axes), one line per {label: errors}
    (Srivastava et al. 2014, Fig. 10, in small)."""
    fig, ax = plots.new_figure(size=(6, 3.8))
    fig.set_layout_engine("constrained")
    for (label, err), marker in zip(errors.items(), "os^v", strict=False):
        ax.loglog(sizes, 100 * np.asarray(err), marker + "-", label=label)
    lo, hi = ax.get_ylim()
    ticks = [t for t in (1, 2, 3, 5, 7, 10, 12, 15, 20, 25, 30, 40, 50, 70, 100) if lo <= t <= hi]
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.set_yticks([], minor=True)
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("training images (log scale)")
    ax.set_ylabel("validation error, % (log scale: gaps are ratios)")
    ax.legend(fontsize=8)
    return fig


def augmentation_table_figure(table):
    """Validation accuracy per training recipe {name: accuracies over seeds}: mean ± std as a
    point with an error bar, each seed as a small grey dot beside it (points, not bars: the axis
    does not start at 0)."""
    fig, ax = plots.new_figure(size=(7, 3.6))
    fig.set_layout_engine("constrained")
    names = list(table)
    for i, name in enumerate(names):
        acc = 100 * np.asarray(table[name])
        ax.errorbar(i, acc.mean(), yerr=acc.std(), fmt="o", color=f"C{i}", ms=8, capsize=5,
                    lw=2)
        ax.plot(np.full(len(acc), i + 0.15), acc, ".", color="0.45", ms=6)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_xticks(range(len(names)), names, fontsize=9)
    ax.set_ylabel("validation accuracy, %")
    return fig


# ------------------------------------------------------------- early stopping ≈ L2 (quadratic)


def shrink_factors(eigenvalues, lr, steps=None, lam=None):
    """How much of the least-squares solution each eigen-direction of the Hessian (eigenvalue s)
    has reached, starting from w = 0: after ``steps`` of gradient descent with rate lr,
    1 − (1 − lr·s)^steps; for ridge with penalty (λ/2)‖w‖², s/(s + λ). Give steps or lam."""
    s = np.asarray(eigenvalues, dtype=np.float64)
    if (steps is None) == (lam is None):
        raise ValueError("give exactly one of steps (gradient descent) or lam (ridge)")
    if steps is not None:
        if np.any(lr * s >= 2):
            raise ValueError("lr·s must be < 2 for every eigenvalue "
                             "(else gradient descent diverges)")
        return 1 - (1 - lr * s) ** steps
    return s / (s + lam)


def early_stopping_l2_figure(lr=0.1, steps=(10, 100, 1000)):
    """Shrink factors of early-stopped gradient descent (solid) and of ridge with
    λ = 1/(lr·steps) (dashed) against the eigenvalue, one colour per number of steps."""
    s = np.logspace(-4, np.log10(1 / lr), 300)  # lr·s ≤ 1: no overshoot
    fig, ax = plots.new_figure(size=(6.5, 3.8))
    fig.set_layout_engine("constrained")
    for i, tau in enumerate(steps):
        ax.semilogx(s, shrink_factors(s, lr, steps=tau), "-", color=f"C{i}",
                    label=f"gradient descent, {tau} steps")
        ax.semilogx(s, shrink_factors(s, lr, lam=1 / (lr * tau)), "--", color=f"C{i}",
                    label=f"ridge, λ = 1/(η·{tau})")
    ax.set_xlabel("eigenvalue s of the Hessian (curvature of the direction)")
    ax.set_ylabel("fraction of the solution reached")
    ax.legend(fontsize=7, ncol=1, loc="upper left")
    return fig
