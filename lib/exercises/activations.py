"""Checkers for the exercises of chapter 01 (activation functions).

Each ``check_xxx(your_functions)`` runs your code on test inputs, prints what is right or wrong
(with a hint for the usual mistakes) and returns True only if everything passes
(`lib.exercises.harness`: a function that still raises ``NotImplementedError`` is reported as not
done yet, not as an error).
"""

from __future__ import annotations

import numpy as np

from lib.exercises.harness import Wrong, checker
from lib.numpy_ref.activations import ELU, sigmoid
from lib.numpy_ref.gradcheck import numerical_gradient, rel_error

__all__ = ["check_leaky_relu", "check_elu_backward", "check_count_dead", "check_tanh_identity",
           "check_prelu_grad_a"]

TOL = 1e-7  # relative error allowed in gradient checks (float64, inputs kept away from the kink)


def _call(fn, *args):
    """fn(*args) as a float64 array."""
    return np.asarray(fn(*args), dtype=np.float64)


def _inputs(rng, shape=(6, 5), margin=0.1):
    """Random N(0, 1) inputs of both signs kept at least `margin` away from the kink at 0."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin, x) + 0.0


@checker
def check_leaky_relu(forward_fn, backward_fn):
    """Exercise: ``forward_fn(x, negative_slope) -> y`` and ``backward_fn(dout, x, negative_slope)
    -> dx`` for Leaky ReLU, y = x if x > 0 else negative_slope·x. The forward is compared with the
    reference for two slopes; the backward is gradient-checked against centred differences of
    your forward with a random upstream gradient dout."""
    rng = np.random.default_rng(0)
    x = _inputs(rng)
    pos, neg = x > 0, x < 0
    for slope in (0.01, 0.2):
        x_before = x.copy()
        y = _call(forward_fn, x, slope)
        if not np.array_equal(x, x_before):
            raise Wrong("forward changed its input x in place; compute a new array instead.")
        if y.shape != x.shape:
            raise Wrong(f"forward returned shape {y.shape} for an input of shape {x.shape}.")
        if not np.allclose(y[pos], x[pos]):
            raise Wrong("forward: for x > 0 Leaky ReLU returns x itself.")
        if not np.allclose(y[neg], slope * x[neg]):
            if np.allclose(y[neg], 0):
                raise Wrong("forward returns 0 for x < 0: that is ReLU. Leaky ReLU returns "
                             "negative_slope · x there.")
            if slope == 0.2 and np.allclose(y[neg], 0.01 * x[neg]):
                raise Wrong("forward ignores its negative_slope argument (it always uses 0.01).")
            raise Wrong(f"forward: for x < 0 expected negative_slope · x (negative_slope = "
                         f"{slope}), e.g. {slope * x[neg][0]:.4f} at x = {x[neg][0]:.4f}, "
                         f"got {y[neg][0]:.4f}.")
    for slope in (0.01, 0.2):
        dout = rng.standard_normal(x.shape)
        dx = _call(backward_fn, dout, x, slope)
        if dx.shape != x.shape:
            raise Wrong(f"backward returned shape {dx.shape}; it must match x, {x.shape}.")
        derivative = np.where(pos, 1.0, slope)
        if np.allclose(dx, derivative) and not np.allclose(dout, 1):
            raise Wrong("backward returns f′(x) alone; by the chain rule it must return "
                         "dout · f′(x).")
        if np.allclose(dx, dout):
            raise Wrong("backward returns dout unchanged: multiply it by f′(x).")
        if np.allclose(dx[neg], 0):
            raise Wrong("backward passes no gradient for x < 0: that is ReLU's derivative. "
                         "Leaky ReLU's is negative_slope there.")
        xc = x.copy()
        numeric = numerical_gradient(lambda xc=xc, s=slope, d=dout: float(
            (_call(forward_fn, xc, s) * d).sum()), xc)
        err = rel_error(dx, numeric)
        if err > TOL:
            raise Wrong(f"gradient check failed for negative_slope = {slope}: relative error "
                         f"{err:.1e} between your backward and the numerical gradient (should "
                         f"be < {TOL:.0e}).")
    return "Leaky ReLU forward and backward are correct (gradient check passed for two slopes)."


@checker
def check_elu_backward(backward_fn):
    """Exercise: ``backward_fn(dout, out, alpha) -> dx`` for ELU using only its OUTPUT
    out = ELU(x) (x itself is not given): f′ = 1 where out > 0, else α·eˣ = out + α."""
    rng = np.random.default_rng(1)
    x = _inputs(rng)
    for alpha in (1.0, 0.5):
        reference = ELU(alpha)
        out = reference.forward(x)
        dout = rng.standard_normal(x.shape)
        expected = reference.backward(dout)
        out_before = out.copy()
        dx = _call(backward_fn, dout, out, alpha)
        if not np.array_equal(out, out_before):
            raise Wrong("backward changed `out` in place; compute a new array instead.")
        if dx.shape != x.shape:
            raise Wrong(f"backward returned shape {dx.shape}; it must match out, {out.shape}.")
        neg = x < 0
        if np.allclose(dx[neg], (dout * out)[neg]):
            raise Wrong("for x < 0 you used f′ = out; but out = α(eˣ − 1), so α·eˣ = out + α.")
        if np.allclose(dx[neg], (dout * np.exp(out))[neg]):
            raise Wrong("for x < 0 you used e^out; the derivative is α·eˣ, and eˣ = out/α + 1.")
        if alpha != 1.0 and np.allclose(dx[neg], (dout * (out + 1.0))[neg]):
            raise Wrong("your backward assumes α = 1; use the alpha argument: f′ = out + α.")
        if not np.allclose(dx[~neg], dout[~neg]):
            raise Wrong("for x > 0 (out > 0) ELU is the identity: dx = dout there.")
        if not np.allclose(dx, expected, rtol=1e-10, atol=1e-12):
            raise Wrong(f"for alpha = {alpha} your dx differs from dout · f′(x) by up to "
                         f"{np.abs(dx - expected).max():.2e}.")
    return "ELU backward from the output is correct (checked for α = 1 and α = 0.5)."


@checker
def check_count_dead(count_fn):
    """Exercise: ``count_fn(z) -> int`` where z (N examples × H units) holds the pre-activations of
    a ReLU layer: the number of units that are dead on this batch, i.e. z ≤ 0 for every example
    (z = 0 counts as dead: ReLU′(0) = 0, as in PyTorch)."""
    z = np.array([
        [-1.0, -2.0, 0.0, 0.5, -0.1],
        [-0.5, 0.3, 0.0, 0.2, -0.2],
        [-3.0, -1.0, 0.0, 1.5, -0.3],
        [-0.2, -0.1, 0.0, 0.1, 0.4],
    ])  # units 0 and 2 are dead; unit 1 is alive thanks to one example; unit 4 too
    z_before = z.copy()
    got = _call(count_fn, z)
    if not np.array_equal(z, z_before):
        raise Wrong("count_fn changed its input in place.")
    if got.size != 1:
        raise Wrong(f"count_fn must return one number (a count of units), got shape {got.shape}.")
    got = float(got)
    expected = int((z <= 0).all(axis=0).sum())
    if got == (z < 0).all(axis=0).sum():
        raise Wrong(f"you found {got:g} dead units but there are {expected}: a unit whose "
                     "pre-activation is exactly 0 everywhere is dead too (ReLU′(0) = 0), so test "
                     "z <= 0, not z < 0.")
    if got == (z <= 0).sum():
        raise Wrong("you counted dead entries (z <= 0), not dead units: a unit is dead only if "
                     "z <= 0 for EVERY example, i.e. all(z <= 0) down each column.")
    if got == (z <= 0).all(axis=1).sum():
        raise Wrong(f"you found {got:g} dead units but there are {expected}; check the axis: "
                     "units are columns, so reduce over axis 0 (the examples).")
    if got != expected:
        raise Wrong(f"expected {expected} dead units in the test batch, got {got:g}.")
    rng = np.random.default_rng(2)
    z = rng.standard_normal((50, 40)) - rng.uniform(0, 4, 40)
    z[:, :3] = -np.abs(z[:, :3])
    expected = int((z <= 0).all(axis=0).sum())
    got = float(_call(count_fn, z))
    if got != expected:
        raise Wrong(f"on a random batch of 50 × 40 you counted {got:g} dead units, expected "
                     f"{expected}.")
    return "your dead-unit counter is correct."


@checker
def check_tanh_identity(constants_fn):
    """Exercise: ``constants_fn() -> (a, b, c)``, the numbers with tanh(x) = a·σ(b·x) + c for
    every x (σ the sigmoid). Checked on x in [−5, 5]; a wrong triple gets a hint from the values
    at x = 0 and far out."""
    constants = _call(constants_fn)
    if constants.shape != (3,):
        raise Wrong(f"return the three numbers (a, b, c), got shape {constants.shape}.")
    a, b, c = constants
    x = np.linspace(-5, 5, 101)
    got = a * sigmoid(b * x) + c
    if np.allclose(got, np.tanh(x), rtol=0, atol=1e-12):
        return ("tanh(x) = 2σ(2x) − 1: tanh is a sigmoid stretched to (−1, 1) and squeezed "
                "twice as steep.")
    at_zero, far_right, far_left = a / 2 + c, a + c, c
    if not (np.isclose(far_right, 1) and np.isclose(far_left, -1)):
        raise Wrong(f"far out σ(b·x) tends to 1 on one side and 0 on the other, so a·σ(b·x) + c "
                     f"tends to {far_right:g} and {far_left:g} (for b > 0); tanh tends to 1 and "
                     "−1. Which a and c map (0, 1) onto (−1, 1)?")
    if not np.isclose(at_zero, 0):
        raise Wrong(f"at x = 0, a·σ(0) + c = {at_zero:g} but tanh 0 = 0.")
    raise Wrong(f"a = {a:g} and c = {c:g} are right; now the slope: tanh′(0) = 1 and "
                 f"σ′(0) = 1/4, so the slope of a·σ(b·x) + c at 0 is a·b/4 = {a * b / 4:g}.")


@checker
def check_prelu_grad_a(grad_a_fn):
    """Exercise: ``grad_a_fn(dout, x) -> ∂L/∂a`` for PReLU f(x) = x if x > 0 else a·x with ONE
    slope a shared by all elements (PyTorch's default, num_parameters=1): the chain rule sums
    dout · ∂f/∂a over every element, and ∂f/∂a = x where x ≤ 0, 0 elsewhere. Compared with autograd
    through torch.nn.functional.prelu."""
    import torch

    rng = np.random.default_rng(3)
    x, dout = _inputs(rng, (8, 5)), rng.standard_normal((8, 5))
    x_before = x.copy()
    got = _call(grad_a_fn, dout, x)
    if not np.array_equal(x, x_before):
        raise Wrong("grad_a_fn changed its input x in place.")
    xt = torch.tensor(x)
    a = torch.tensor([0.25], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.prelu(xt, a).backward(torch.tensor(dout))
    expected = a.grad.item()
    if got.size != 1:
        if got.shape == x.shape and np.allclose(got, dout * np.minimum(x, 0)):
            raise Wrong("these are the per-element terms dout·∂f/∂a; a is ONE number shared by "
                         "every element, so its gradient is their sum.")
        raise Wrong(f"∂L/∂a is one number (a is a single shared slope), got shape {got.shape}.")
    got = float(got)
    if np.isclose(got, (dout * np.maximum(x, 0)).sum()):
        raise Wrong("you summed over the positive side; there f(x) = x does not involve a. "
                     "∂f/∂a = x only where x ≤ 0.")
    if np.isclose(got, (dout * x).sum()):
        raise Wrong("you summed dout·x over every element; for x > 0, f(x) = x does not depend "
                     "on a, so only the elements with x ≤ 0 count.")
    if np.isclose(got, 0.25 * expected):
        raise Wrong("your result is a times too small: ∂(a·x)/∂a = x, not a·x.")
    if not np.isclose(got, expected, rtol=1e-10, atol=1e-12):
        raise Wrong(f"expected ∂L/∂a = {expected:.6f} (autograd), got {got:.6f}.")
    return "∂L/∂a = Σ dout·x over the elements with x ≤ 0 (matches autograd)."
