"""A multilayer-perceptron builder and a mini-batch training loop for the NumPy reference."""

from __future__ import annotations

import numpy as np

from lib.history import History
from lib.numpy_ref import init as init_
from lib.numpy_ref.activations import get_activation
from lib.numpy_ref.layers import Dropout, Linear
from lib.numpy_ref.losses import binary_cross_entropy_with_logits, cross_entropy
from lib.numpy_ref.module import Module, Sequential, as_float_array, check_rng
from lib.numpy_ref.norm import BatchNorm1d

__all__ = ["INITS", "make_mlp", "train_numpy"]

# name -> function(shape, rng) giving a Linear weight; "default" keeps nn.Linear's U(±1/√in).
INITS = {
    "default": None,
    "zeros": lambda shape, rng: init_.zeros(shape),
    "xavier_uniform": init_.xavier_uniform,
    "xavier_normal": init_.xavier_normal,
    "kaiming_uniform": init_.kaiming_uniform,
    "kaiming_normal": init_.kaiming_normal,
    "lecun_normal": init_.lecun_normal,
    "orthogonal": init_.orthogonal,
}


def make_mlp(
    sizes,
    activation="relu",
    init="default",
    batchnorm: bool = False,
    dropout: float = 0.0,
    *,
    rng=None,
) -> Sequential:
    """Linear → [BatchNorm1d] → activation → [Dropout] for each hidden layer, then a last Linear.

    ``sizes`` = [in, hidden…, out]; ``activation`` a name of ``ACTIVATIONS`` or a function returning
    a new Module (e.g. ``lambda: LeakyReLU(0.1)``); ``init`` a name of ``INITS`` (kaiming_* use
    PyTorch's defaults, i.e. the ReLU gain √2; biases then start at 0) or a function
    ``f(shape, rng) -> array`` for the weights.
    """
    rng = check_rng(rng, "make_mlp")
    sizes = list(sizes)
    if len(sizes) < 2 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise ValueError(
            f"sizes must be a list of >= 2 positive integers [in, hidden..., out], got {sizes}"
        )
    if not callable(init) and init not in INITS:
        raise ValueError(
            f"unknown init {init!r}; allowed: {sorted(INITS)} or a function f(shape, rng)"
        )
    weight_init = init if callable(init) else INITS[init]
    layers: list[Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        linear = Linear(n_in, n_out, rng=rng)
        if weight_init is not None:
            linear.params["weight"][...] = weight_init((n_out, n_in), rng=rng)
            linear.params["bias"][...] = 0.0
        layers.append(linear)
        if i == len(sizes) - 2:
            break
        if batchnorm:
            layers.append(BatchNorm1d(n_out))
        layers.append(activation() if callable(activation) else get_activation(activation))
        if dropout != 0:
            layers.append(Dropout(dropout, rng=rng))
    return Sequential(*layers)


def _evaluate(model, x, y, loss_fn, batch_size):
    """(loss, accuracy) in eval mode over all of x; accuracy None for other losses than CE/BCE."""
    was_training = model.training
    model.eval()
    out = np.concatenate([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    loss, _ = loss_fn(out, y)
    if loss_fn is cross_entropy:
        acc = float((out.argmax(axis=1) == y).mean())
    elif loss_fn is binary_cross_entropy_with_logits:
        acc = float(((out > 0) == (y > 0.5)).mean())
    else:
        acc = None
    return float(loss), acc


def train_numpy(
    model: Module,
    optimizer,
    x,
    y,
    epochs: int,
    batch_size: int,
    *,
    rng=None,
    loss_fn=cross_entropy,
    x_val=None,
    y_val=None,
    penalty=None,
) -> History:
    """Mini-batch training: each epoch shuffles with ``rng`` and, per batch, runs forward, loss,
    backward and ``optimizer.step(model.grads)``.

    ``penalty``: a function params -> (value, grads) of R(θ), e.g.
    ``lambda p: l2_penalty(p, 1e-3)``; each step minimises J(θ) = loss + R(θ), so ∇J = ∇loss + ∇R.
    Returns the `History` that `lib.train.fit` returns: ``step_loss`` (J, penalty included) and
    ``step_lr`` per step; per epoch ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``,
    measured in eval mode after the epoch without the penalty (accuracy None for losses other
    than cross-entropy and BCE, val_* None without validation data); ``diverged_at``: None or the
    step whose loss was NaN/inf, counted from 1 (the run stops there: len(step_loss) == it).
    Divergence stops training; it never raises.
    """
    rng = check_rng(rng, "train_numpy")
    x = as_float_array(x, "train_numpy x")
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if (x_val is None) != (y_val is None):
        raise ValueError("pass both x_val and y_val, or neither")
    if epochs < 0 or batch_size < 1:
        raise ValueError(
            f"need epochs >= 0 and batch_size >= 1, got epochs={epochs}, batch_size={batch_size}"
        )
    history = History()
    model.train()
    step = 0
    with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is recorded, not warned about
        for epoch in range(1, epochs + 1):
            order = rng.permutation(len(x))
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                loss, dout = loss_fn(model(x[idx]), y[idx])
                if penalty is not None:
                    value, penalty_grads = penalty(model.params)
                    loss += value
                history.step_lr.append(optimizer.param_groups[0]["lr"])
                history.step_loss.append(float(loss))
                if not np.isfinite(loss):
                    history.diverge(step + 1)  # this step's loss; steps count from 1
                    history.stopped_epoch = epoch
                    return history
                model.backward(dout)
                grads = model.grads
                if penalty is not None:
                    for name, g in penalty_grads.items():
                        grads[name] += g
                optimizer.step(grads)
                step += 1
            train_loss, train_acc = _evaluate(model, x, y, loss_fn, batch_size)
            val_loss, val_acc = (None, None)
            if x_val is not None:
                val_loss, val_acc = _evaluate(model, x_val, y_val, loss_fn, batch_size)
            history.add_epoch(epoch=epoch, step=step, train_loss=train_loss, train_acc=train_acc,
                              val_loss=val_loss, val_acc=val_acc)
    return history
