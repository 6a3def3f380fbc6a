"""Checkers for the exercises of chapter 05 (normalization), written with the one exercise harness
(`lib.exercises.harness`): each returns True only when every check passes."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lib.exercises.harness import Wrong, checker, choices_answer
from lib.numpy_ref import norm

__all__ = ["check_bn_backward", "check_fold_linear", "check_norm_choice", "NORM_SCENARIOS"]


@checker
def check_bn_backward(your_backward):
    """``your_backward(dout, x, gamma, eps) -> (dx, dgamma, dbeta)`` for BatchNorm1d in training
    mode on x of shape (N, D), in closed form (compared with lib.numpy_ref.norm.BatchNorm1d)."""
    rng = np.random.default_rng(0)
    for n, d in ((4, 3), (16, 5), (2, 1)):
        x = rng.normal(1.5, 2.0, (n, d))
        gamma = rng.uniform(0.5, 2.0, d)
        dout = rng.standard_normal((n, d))  # a random upstream gradient: all-ones hides bugs
        bn = norm.BatchNorm1d(d)
        bn.params["weight"][...] = gamma
        bn.forward(x)
        want_dx = bn.backward(dout)
        got = your_backward(dout.copy(), x.copy(), gamma.copy(), 1e-5)
        if not isinstance(got, tuple) or len(got) != 3:
            raise Wrong("return a tuple (dx, dgamma, dbeta)")
        dx, dgamma, dbeta = (np.asarray(g, dtype=float) for g in got)
        for name, value, want in (("dbeta", dbeta, bn.grads["bias"]),
                                  ("dgamma", dgamma, bn.grads["weight"]),
                                  ("dx", dx, want_dx)):
            if value.shape != want.shape:
                raise Wrong(f"N={n}, D={d}: {name} has shape {value.shape}, expected {want.shape}")
            if not np.allclose(value, want, rtol=1e-6, atol=1e-9):
                hint = {"dbeta": "dβ = Σ_n dout", "dgamma": "dγ = Σ_n dout·x̂ (x̂ normalized "
                        "with the BIASED variance)", "dx": "dx = (γ/σ)(dout − mean(dout) − "
                        "x̂·mean(dout·x̂)), σ = √(var + ε)"}[name]
                raise Wrong(f"N={n}, D={d}: {name} is off by up to "
                            f"{np.abs(value - want).max():.2e}; {hint}")
    return "dx, dγ and dβ match the reference in every case"


@checker
def check_fold_linear(your_fold):
    """``your_fold(W, b, gamma, beta, running_mean, running_var, eps) -> (W2, b2)`` (NumPy) with
    x @ W2.T + b2 == BN_eval(x @ W.T + b) for every x."""
    rng = np.random.default_rng(1)
    for out_f, in_f in ((3, 4), (10, 7)):
        W, b = rng.standard_normal((out_f, in_f)), rng.standard_normal(out_f)
        gamma, beta = rng.uniform(0.5, 2, out_f), rng.standard_normal(out_f)
        mean, var = rng.standard_normal(out_f), rng.uniform(0.1, 3, out_f)
        got = your_fold(W.copy(), b.copy(), gamma, beta, mean, var, 1e-5)
        if not isinstance(got, tuple) or len(got) != 2:
            raise Wrong("return a tuple (W2, b2)")
        W2, b2 = (np.asarray(g, dtype=float) for g in got)
        if W2.shape != W.shape or b2.shape != b.shape:
            raise Wrong(f"shapes {W2.shape}, {b2.shape}; expected {W.shape}, {b.shape}")
        lin = nn.Linear(in_f, out_f).double()
        bn = nn.BatchNorm1d(out_f).double().eval()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
            bn.weight.copy_(torch.from_numpy(gamma))
            bn.bias.copy_(torch.from_numpy(beta))
            bn.running_mean.copy_(torch.from_numpy(mean))
            bn.running_var.copy_(torch.from_numpy(var))
            x = torch.from_numpy(rng.standard_normal((20, in_f)))
            want = bn(lin(x)).numpy()
        mine = x.numpy() @ W2.T + b2
        if not np.allclose(mine, want, rtol=1e-8, atol=1e-10):
            raise Wrong(f"outputs differ by up to {np.abs(mine - want).max():.2e}; with "
                        "a = γ/√(var + ε): W2 = a[:, None]·W and b2 = a·(b − mean) + β")
    return "x @ W2.T + b2 equals BatchNorm1d(eval)(Linear(x)) to 1e-8"


# scenario -> (the best answer, acceptable answers, why)
NORM_SCENARIOS = {
    "resnet_imagenet_batch_256": ("batch", {"batch"},
                                  "large batches of images: BatchNorm is the default and "
                                  "folds away at inference"),
    "detection_2_images_per_gpu": ("group", {"group"},
                                   "2 images per device: batch statistics are too noisy; "
                                   "GroupNorm does not depend on the batch (Wu & He 2018)"),
    "transformer_language_model": ("layer", {"layer"},
                                   "variable-length sequences, per-token features: LayerNorm"),
    "style_transfer": ("instance", {"instance"},
                       "per-image contrast should be removed: InstanceNorm (Ulyanov et al.)"),
    "rnn_one_sample_at_a_time": ("layer", {"layer"},
                                 "one sample, statistics per time step: LayerNorm (Ba et al.)"),
}


@checker
def check_norm_choice(your_choices):
    """``your_choices() -> {scenario: "batch" | "layer" | "instance" | "group"}`` for every key of
    NORM_SCENARIOS."""
    choices = choices_answer(your_choices(), NORM_SCENARIOS, ("batch", "layer", "instance", "group"),
                             what="scenario")
    for key, (_, ok, _why) in NORM_SCENARIOS.items():
        if choices[key] not in ok:
            raise Wrong(f"{key}: not {choices[key]!r}; think about the batch size and what the "
                        "statistics should be computed over")
    return "; ".join(f"{k}: {why}" for k, (_, _, why) in NORM_SCENARIOS.items())
