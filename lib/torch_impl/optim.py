"""Optimizers and gradient clipping written with PyTorch tensor ops (any device).

Subclasses of ``torch.optim.Optimizer`` with the names, defaults and update rules of the built-ins,
implemented here with in-place tensor ops under ``torch.no_grad()`` (never calling torch.optim's own
functional code). The formulas are in the docstrings of the NumPy references in
``lib.numpy_ref.optim``, which share the hyper-parameter checks used here.
"""

from __future__ import annotations

import math

import torch

from lib.numpy_ref.optim import (
    ALPHA_WHY,
    CLIP_WHY,
    EPS_WHY,
    MOMENTUM_WHY,
    check_betas,
    check_fraction,
    check_lr,
    check_nesterov,
    check_non_negative,
    check_norm_type,
    check_positive,
)

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "clip_grad_norm_", "clip_grad_value_"]


class _Optimizer(torch.optim.Optimizer):
    """Loops over the parameters that have a gradient; subclasses implement ``_update``."""

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter with a ``.grad``; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad, self.state[p], group)
        return loss

    def _update(self, p, g, state, group):
        raise NotImplementedError


class SGD(_Optimizer):
    """SGD with momentum, as ``torch.optim.SGD``.

    g ← g + wd·θ;  b ← g at step 1, else b ← μ b + (1 − dampening) g;
    θ ← θ − lr·(g + μ b if nesterov else b)
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
            g = g.add(p, alpha=group["weight_decay"])
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.clone()
            else:
                buf.mul_(mu).add_(g, alpha=1 - group["dampening"])
            g = g.add(buf, alpha=mu) if group["nesterov"] else buf
        p.add_(g, alpha=-group["lr"])


class Adagrad(_Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``.

    g ← g + wd·θ;  s ← s + g² (s₀ = initial_accumulator_value);
    θ ← θ − lr/(1 + (t − 1)·lr_decay)·g/(√s + ε)
    """

    def __init__(
        self, params, lr=0.01, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10
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
        )
        super().__init__(params, defaults)

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["sum"] = torch.full_like(p, group["initial_accumulator_value"])
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g.add(p, alpha=group["weight_decay"])
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"].addcmul_(g, g)
        p.addcdiv_(g, state["sum"].sqrt().add_(group["eps"]), value=-clr)


class RMSprop(_Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    g ← g + wd·θ;  v ← α v + (1 − α) g²;  centered: ḡ ← α ḡ + (1 − α) g, v̄ = v − ḡ² (else v̄ = v);
    d = g/(√v̄ + ε);  θ ← θ − lr·b with b ← μ b + d if μ > 0, else θ ← θ − lr·d
    """

    def __init__(
        self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False
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
        )
        super().__init__(params, defaults)

    def _update(self, p, g, state, group):
        alpha, mu = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = torch.zeros_like(p)
            state["momentum_buffer"] = torch.zeros_like(p)
            state["grad_avg"] = torch.zeros_like(p)
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g.add(p, alpha=group["weight_decay"])
        v = state["square_avg"].mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if group["centered"]:
            g_avg = state["grad_avg"].mul_(alpha).add_(g, alpha=1 - alpha)
            denom = v.addcmul(g_avg, g_avg, value=-1).sqrt_().add_(group["eps"])
        else:
            denom = v.sqrt().add_(group["eps"])
        if mu > 0:
            buf = state["momentum_buffer"].mul_(mu).addcdiv_(g, denom)
            p.add_(buf, alpha=-group["lr"])
        else:
            p.addcdiv_(g, denom, value=-group["lr"])


class Adam(_Optimizer):
    """Adam, as ``torch.optim.Adam`` (weight decay as an L2 term in the gradient).

    g ← g + wd·θ;  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²  (amsgrad: v ← max of all v);
    θ ← θ − lr·m̂/(√v̂ + ε)  with m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t)
    """

    decoupled_weight_decay = False

    def __init__(
        self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False
    ):
        check_lr(lr)
        check_positive("eps", eps, EPS_WHY)
        check_betas(betas)
        check_non_negative("weight_decay", weight_decay)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )
        super().__init__(params, defaults)

    def _update(self, p, g, state, group):
        lr, wd = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        if wd != 0:
            if self.decoupled_weight_decay:
                p.mul_(1 - lr * wd)
            else:
                g = g.add(p, alpha=wd)
        m = state["exp_avg"].mul_(beta1).add_(g, alpha=1 - beta1)
        v = state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
        if group["amsgrad"]:
            v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        # m̂/(√v̂ + ε) = m/(1 − β1^t) / (√v/√(1 − β2^t) + ε), without allocating m̂ and v̂
        denom = (v.sqrt() / math.sqrt(1 - beta2**t)).add_(group["eps"])
        p.addcdiv_(m, denom, value=-lr / (1 - beta1**t))


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: θ ← θ·(1 − lr·wd), then the Adam step with the raw g."""

    decoupled_weight_decay = True

    def __init__(
        self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


def _grads(parameters) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


@torch.no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False) -> torch.Tensor:
    """Scale the gradients in place so that their joint p-norm is at most ``max_norm``.

    total = ‖(‖g_1‖_p, ‖g_2‖_p, …)‖_p;  g ← g·min(1, max_norm/(total + 1e-6)).  Returns total as a
    tensor (the multiply by a clamped coefficient avoids a GPU→CPU sync, like torch.nn.utils).
    An inf/NaN gradient makes total non-finite and the clipped gradients NaN or 0, as in
    torch.nn.utils; ``error_if_nonfinite=True`` raises instead (one sync to check).
    """
    check_positive("max_norm", max_norm, CLIP_WHY)
    norm_type = check_norm_type(norm_type)
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])
    total = torch.linalg.vector_norm(norms, norm_type)
    if error_if_nonfinite and not torch.isfinite(total):
        raise ValueError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"{total.item()}, so it cannot be clipped; gradients must be finite (the run "
            "diverged), or pass error_if_nonfinite=False to scale them anyway"
        )
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef)
    return total


@torch.no_grad()
def clip_grad_value_(parameters, clip_value) -> None:
    """Clip every gradient entry in place to [−clip_value, clip_value]."""
    check_positive("clip_value", clip_value, CLIP_WHY)
    for g in _grads(parameters):
        g.clamp_(-clip_value, clip_value)
