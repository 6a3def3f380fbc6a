"""Optimizers and gradient clipping in NumPy, with PyTorch's names, defaults and update rules.

An optimizer holds a dict of named arrays and updates them IN PLACE from a dict of gradients::

    opt = SGD(model.params, lr=0.1, momentum=0.9)
    opt.step(model.grads)

Like ``torch.optim`` it exposes ``param_groups`` (one dict of hyper-parameters, ``lr`` included)
so that the learning-rate schedules in ``lib.numpy_ref.schedules`` can drive it, and ``state`` (one
dict per parameter name, with PyTorch's keys: ``momentum_buffer``, ``exp_avg``, ``exp_avg_sq`` …).

Notation below: g is the gradient, θ the parameter, t the step count (1 at the first step).
``TextbookMomentum`` and the ``eps_inside_sqrt=True`` option are NOT PyTorch's: they are the forms
found in many lecture notes, kept so that the book can compare them with PyTorch's.
"""

from __future__ import annotations

import math

import numpy as np

from lib.numpy_ref.module import is_real

__all__ = [
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "TextbookMomentum",
    "clip_grad_norm",
    "clip_grad_value",
    "check_lr",
    "check_non_negative",
    "check_positive",
    "check_fraction",
    "check_betas",
    "check_nesterov",
    "check_norm_type",
]


# --- hyper-parameter checks (shared with lib.torch_impl.optim, messages follow torch.optim's) ---


def check_lr(lr) -> None:
    """Raise ValueError unless lr is a finite number >= 0."""
    if not is_real(lr) or not math.isfinite(lr) or lr < 0:
        raise ValueError(f"Invalid learning rate: {lr!r} (must be a finite number >= 0)")


def check_non_negative(name: str, value) -> None:
    """Raise ValueError unless value is a number >= 0 (name as in PyTorch: weight_decay, …)."""
    if not is_real(value) or not value >= 0:
        raise ValueError(f"Invalid {name} value: {value!r} (must be >= 0)")


def check_positive(name: str, value, why: str) -> None:
    """Raise ValueError unless value is a number > 0; ``why`` says what 0 would break."""
    if not is_real(value) or not value > 0:
        raise ValueError(f"Invalid {name} value: {value!r} ({name} must be > 0: {why})")


def check_fraction(name: str, value, why: str) -> None:
    """Raise ValueError unless value is a number in [0, 1); ``why`` says what 1 or more would do."""
    if not is_real(value) or not 0 <= value < 1:
        raise ValueError(f"Invalid {name} value: {value!r} ({name} must be in [0, 1): {why})")


EPS_WHY = "it keeps the update finite where the second moment is 0"
MOMENTUM_WHY = "with 1 or more the momentum buffer grows without bound"
ALPHA_WHY = "at 1 the average of g² stays 0, above 1 it turns negative (NaN)"
CLIP_WHY = "0 would set every gradient to 0 and freeze training"


def check_betas(betas) -> None:
    """Raise ValueError unless betas is a pair of numbers, each in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        if not is_real(beta) or not 0 <= beta < 1:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta!r} (must be in [0, 1))")


def check_nesterov(momentum, dampening, nesterov) -> None:
    """Nesterov momentum needs momentum > 0 and dampening == 0 (as in torch.optim.SGD)."""
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(
            "Nesterov momentum requires a momentum and zero dampening "
            f"(need momentum > 0 and dampening = 0, got momentum={momentum}, "
            f"dampening={dampening})"
        )


class Optimizer:
    """Base class: updates a dict of named float arrays in place from a dict of gradients.

    Subclasses implement ``_update(p, g, state, group)`` for one parameter array.
    """

    def __init__(self, params: dict[str, np.ndarray], defaults: dict):
        if not isinstance(params, dict) or not params:
            raise TypeError(
                "params must be a non-empty dict of named arrays, e.g. model.params, "
                f"got {type(params).__name__}"
            )
        for name, p in params.items():
            if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
                raise TypeError(
                    f"params[{name!r}] must be a floating-point np.ndarray, "
                    f"got {type(p).__name__} of dtype {getattr(p, 'dtype', None)}"
                )
        self.params = params
        self.defaults = dict(defaults)
        self.param_groups = [dict(defaults)]
        self.state: dict[str, dict] = {name: {} for name in params}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        """Update every parameter in place from ``grads`` (same keys and shapes as the params)."""
        if not isinstance(grads, dict) or grads.keys() != self.params.keys():
            got = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
            raise ValueError(
                f"grads must be a dict with exactly the parameter names {sorted(self.params)}, "
                f"got {got}"
            )
        for name, p in self.params.items():  # check all before updating any
            if np.shape(grads[name]) != p.shape:
                raise ValueError(
                    f"gradient {name!r} has shape {np.shape(grads[name])} but the parameter has "
                    f"shape {p.shape}"
                )
        for name, p in self.params.items():
            self._update(p, np.asarray(grads[name]), self.state[name], self.param_groups[0])

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, as in ``torch.optim.SGD``.

    g ← g + wd·θ;  b ← g at step 1, else b ← μ b + (1 − dampening) g;
    θ ← θ − lr·(g + μ b if nesterov else b)      (plain θ ← θ − lr·g when μ = 0)
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        check_lr(lr)
        check_fraction("momentum", momentum, MOMENTUM_WHY)
        check_fraction("dampening", dampening, "it is the share of each gradient left out")
        check_non_negative("weight_decay", weight_decay)
        check_nesterov(momentum, dampening, nesterov)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
        super().__init__(params, defaults)

    def _update(self, p, g, state, group):
        mu = group["momentum"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= mu
                buf += (1 - group["dampening"]) * g
            g = g + mu * buf if group["nesterov"] else buf
        p -= group["lr"] * g


class TextbookMomentum(Optimizer):
    """Momentum as written in many lecture notes (NOT PyTorch's form): v ← γ v − lr·g;  θ ← θ + v.

    With a constant lr this is PyTorch's SGD(momentum=γ) in disguise: v = −lr·b, so both produce
    the same θ sequence. They differ once lr changes during training (a schedule): here the old
    velocity keeps the old lr, whereas PyTorch's buffer b is rescaled by the new lr.
    """

    def __init__(self, params, lr, momentum=0.9):
        check_lr(lr)
        check_fraction("momentum", momentum, "with 1 or more the velocity grows without bound")
        super().__init__(params, dict(lr=lr, momentum=momentum))

    def _update(self, p, g, state, group):
        v = state.setdefault("velocity", np.zeros_like(p))
        v *= group["momentum"]
        v -= group["lr"] * g
        p += v


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), as in ``torch.optim.Adagrad``.

    g ← g + wd·θ;  s ← s + g²  (s starts at initial_accumulator_value);
    θ ← θ − lr/(1 + (t − 1)·lr_decay) · g / (√s + ε)
    With ``eps_inside_sqrt=True`` (not PyTorch's; the lecture-note form) the denominator is
    √(s + ε).
    """

    def __init__(
        self,
        params,
        lr=0.01,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        *,
        eps_inside_sqrt=False,
    ):
        check_lr(lr)
        check_non_negative("lr_decay", lr_decay)
        check_non_negative("weight_decay", weight_decay)
        check_non_negative("initial_accumulator_value", initial_accumulator_value)
        check_positive("eps", eps, EPS_WHY)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            eps_inside_sqrt=eps_inside_sqrt,
        )
        super().__init__(params, defaults)

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p, group["initial_accumulator_value"])
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"]
        s += g * g
        denom = np.sqrt(s + group["eps"]) if group["eps_inside_sqrt"] else np.sqrt(s) + group["eps"]
        p -= clr * g / denom


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), as in ``torch.optim.RMSprop``.

    g ← g + wd·θ;  v ← α v + (1 − α) g²;  if centered: ḡ ← α ḡ + (1 − α) g, v̄ = v − ḡ², else v̄ = v;
    d = g / (√v̄ + ε);  with momentum: b ← μ b + d, θ ← θ − lr·b;  else θ ← θ − lr·d
    With ``eps_inside_sqrt=True`` (not PyTorch's; the lecture-note form) d = g / √(v̄ + ε).
    """

    def __init__(
        self,
        params,
        lr=0.01,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        *,
        eps_inside_sqrt=False,
    ):
        check_lr(lr)
        check_positive("eps", eps, EPS_WHY)
        check_fraction("momentum", momentum, MOMENTUM_WHY)
        check_non_negative("weight_decay", weight_decay)
        check_fraction("alpha", alpha, ALPHA_WHY)
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            eps_inside_sqrt=eps_inside_sqrt,
        )
        super().__init__(params, defaults)

    def _update(self, p, g, state, group):
        alpha, eps, mu = group["alpha"], group["eps"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p)
            state["momentum_buffer"] = np.zeros_like(p)
            state["grad_avg"] = np.zeros_like(p)
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            g_avg = state["grad_avg"]
            g_avg *= alpha
            g_avg += (1 - alpha) * g
            v = v - g_avg * g_avg
        d = g / (np.sqrt(v + eps) if group["eps_inside_sqrt"] else np.sqrt(v) + eps)
        if mu > 0:
            buf = state["momentum_buffer"]
            buf *= mu
            buf += d
            d = buf
        p -= group["lr"] * d


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), as in ``torch.optim.Adam``.

    g ← g + wd·θ (L2 penalty in the gradient);  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;
    m̂ = m/(1 − β1^t);  v̂ = v/(1 − β2^t)  (amsgrad: v_max ← max(v_max, v), v̂ = v_max/(1 − β2^t));
    θ ← θ − lr·m̂/(√v̂ + ε)
    With ``eps_inside_sqrt=True`` (not PyTorch's; the lecture-note form) θ ← θ − lr·m̂/√(v̂ + ε).
    """

    decoupled_weight_decay = False

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        eps_inside_sqrt=False,
    ):
        check_lr(lr)
        check_positive("eps", eps, EPS_WHY)
        check_betas(betas)
        check_non_negative("weight_decay", weight_decay)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            eps_inside_sqrt=eps_inside_sqrt,
        )
        super().__init__(params, defaults)

    def _update(self, p, g, state, group):
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        if wd != 0:
            if self.decoupled_weight_decay:
                p *= 1 - lr * wd
            else:
                g = g + wd * p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        denom = np.sqrt(v_hat + eps) if group["eps_inside_sqrt"] else np.sqrt(v_hat) + eps
        p -= lr * m_hat / denom


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019), as in ``torch.optim.AdamW``: decoupled weight decay.

    θ ← θ·(1 − lr·wd) first, then the Adam step above with the raw gradient g (no wd·θ in g).
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.01,
        amsgrad=False,
        *,
        eps_inside_sqrt=False,
    ):
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, eps_inside_sqrt=eps_inside_sqrt
        )


def check_norm_type(norm_type) -> float:
    """Return norm_type as a float; raise ValueError unless it is > 0 (inf allowed)."""
    if not is_real(norm_type) or not norm_type > 0:
        raise ValueError(f"norm_type must be > 0 or inf (2.0: Euclidean), got {norm_type!r}")
    return float(norm_type)


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm, norm_type=2.0) -> float:
    """Scale all gradients in place so that their joint norm is at most ``max_norm``.

    total = ‖(‖g_1‖_p, ‖g_2‖_p, …)‖_p  (the p-norm of all gradients concatenated; inf: max |g|);
    c = max_norm/(total + 1e-6);  if c < 1: g ← c·g for every g.  Returns total (before clipping).
    ValueError if a gradient has an inf/NaN entry (torch.nn.utils' ``error_if_nonfinite=True``).
    """
    check_positive("max_norm", max_norm, CLIP_WHY)
    norm_type = check_norm_type(norm_type)
    norms = [np.linalg.norm(np.ravel(g), ord=norm_type) for g in grads.values()]
    total = float(np.linalg.norm(norms, ord=norm_type)) if norms else 0.0
    if not math.isfinite(total):
        bad = [name for name, g in grads.items() if not np.all(np.isfinite(g))]
        raise ValueError(
            f"clip_grad_norm: the gradients {bad} have inf/NaN entries, so their total norm is "
            f"{total} and cannot be clipped (scaling would give NaN or 0); gradients must be "
            "finite: the run diverged, stop it or lower the learning rate"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads.values():
            g *= coef
    return total


def clip_grad_value(grads: dict[str, np.ndarray], clip_value) -> None:
    """Clip every gradient entry in place to [−clip_value, clip_value]."""
    check_positive("clip_value", clip_value, CLIP_WHY)
    for g in grads.values():
        np.clip(g, -clip_value, clip_value, out=g)
