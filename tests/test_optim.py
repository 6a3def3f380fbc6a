"""Optimizers and gradient clipping: NumPy reference ↔ torch_impl ↔ torch.optim, step by step.

All in float64. Trajectories are compared at every one of 120 steps with rtol=1e-10, atol=1e-12
(the three implementations differ only by rounding: measured differences are ~1e-15).
The ``device`` fixture (tests/conftest.py) runs the torch parts on CPU and, when present, CUDA.
"""

import inspect
import math

import numpy as np
import pytest
import torch

import lib.numpy_ref.optim as nref
import lib.torch_impl.optim as timpl

RTOL, ATOL = 1e-10, 1e-12
STEPS = 120
NAMES = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]


# --- a small stochastic linear-regression problem, gradients computed in NumPy ---


def make_problem(seed=0, n_in=6, n_out=3, batch=8):
    """Initial params and a list of mini-batches; the loss is ½·mean‖x Wᵀ + b − y‖²."""
    rng = np.random.default_rng(seed)
    params = {"weight": rng.normal(size=(n_out, n_in)), "bias": rng.normal(size=n_out)}
    w_true = rng.normal(size=(n_out, n_in))
    batches = []
    for _ in range(STEPS):
        x = rng.normal(size=(batch, n_in))
        y = x @ w_true.T + 0.5 * rng.normal(size=(batch, n_out))
        batches.append((x, y))
    return params, batches


def grad_fn(params, x, y):
    r = x @ params["weight"].T + params["bias"] - y
    return {"weight": r.T @ x / len(x), "bias": r.mean(axis=0)}


def run_three(name, kwargs, device, steps=STEPS):
    """Step the NumPy, torch_impl and torch.optim versions of ``name`` side by side.

    Returns the list of (numpy, torch_impl, torch.optim) parameter dicts after each step.
    """
    params, batches = make_problem()
    np_params = {k: v.copy() for k, v in params.items()}
    ours_t = {k: torch.tensor(v, device=device, requires_grad=True) for k, v in params.items()}
    ref_t = {k: torch.tensor(v, device=device, requires_grad=True) for k, v in params.items()}
    opt_np = getattr(nref, name)(np_params, **kwargs)
    opt_ours = getattr(timpl, name)(list(ours_t.values()), **kwargs)
    opt_ref = getattr(torch.optim, name)(list(ref_t.values()), **kwargs)
    history = []
    for x, y in batches[:steps]:
        opt_np.step(grad_fn(np_params, x, y))
        for tensors, opt in ((ours_t, opt_ours), (ref_t, opt_ref)):
            current = {k: t.detach().cpu().numpy() for k, t in tensors.items()}
            for k, g in grad_fn(current, x, y).items():
                tensors[k].grad = torch.tensor(g, device=device)
            opt.step()
        history.append(
            tuple(
                {
                    k: np.array(v.detach().cpu().numpy() if torch.is_tensor(v) else v)
                    for k, v in d.items()
                }
                for d in (np_params, ours_t, ref_t)
            )
        )
    return params, history


CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1)),
    ("SGD", dict(lr=0.02, momentum=0.5, dampening=0.5, weight_decay=0.01, nesterov=False)),
    ("SGD", dict(lr=0.02, momentum=0.9, weight_decay=0.05, nesterov=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, eps=1e-3)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.005, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_parity_with_torch_optim_every_step(name, kwargs, device):
    start, history = run_three(name, kwargs, device)
    for step, (np_p, ours_p, ref_p) in enumerate(history, start=1):
        for k in start:
            np.testing.assert_allclose(
                np_p[k], ref_p[k], rtol=RTOL, atol=ATOL, err_msg=f"numpy {k} step {step}"
            )
            np.testing.assert_allclose(
                ours_p[k], ref_p[k], rtol=RTOL, atol=ATOL, err_msg=f"torch_impl {k} step {step}"
            )
    # the comparison is not vacuous: the parameters moved
    moved = max(np.abs(history[-1][2][k] - start[k]).max() for k in start)
    assert moved > 1e-2


@pytest.mark.parametrize("name", NAMES)
def test_signatures_and_defaults_match_torch(name):
    """Same argument names, order and defaults as torch.optim (minus its implementation flags)."""
    switches = {"foreach", "maximize", "capturable", "differentiable", "fused"}

    def positional(cls):
        sig = inspect.signature(cls.__init__).parameters.values()
        return [
            (p.name, p.default)
            for p in sig
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in switches
        ]

    expected = positional(getattr(torch.optim, name))
    assert positional(getattr(nref, name)) == expected
    assert positional(getattr(timpl, name)) == expected


def test_sgd_momentum_buffer_starts_at_first_gradient(device):
    """PyTorch's buffer is g₁ at step 1 (no dampening then): θ₁ = θ₀ − lr·g₁ even with dampening."""
    params, batches = make_problem()
    p = {k: v.copy() for k, v in params.items()}
    g = grad_fn(p, *batches[0])
    nref.SGD(p, lr=0.1, momentum=0.9, dampening=0.5).step(g)
    for k in p:
        np.testing.assert_allclose(p[k], params[k] - 0.1 * g[k], rtol=1e-14)


def test_adam_with_l2_differs_from_adamw(device):
    """L2 in Adam's gradient ≠ decoupled decay (AdamW) at the same weight_decay; equal at 0."""
    _, l2 = run_three("Adam", dict(lr=0.01, weight_decay=0.1), device)
    _, decoupled = run_three("AdamW", dict(lr=0.01, weight_decay=0.1), device)
    gap = max(np.abs(l2[-1][0][k] - decoupled[-1][0][k]).max() for k in l2[-1][0])
    assert gap > 1e-3
    _, adam0 = run_three("Adam", dict(lr=0.01), device, steps=20)
    _, adamw0 = run_three("AdamW", dict(lr=0.01, weight_decay=0.0), device, steps=20)
    for k in adam0[-1][0]:
        np.testing.assert_array_equal(adam0[-1][0][k], adamw0[-1][0][k])


def test_textbook_momentum_equals_pytorch_sgd_momentum_at_constant_lr():
    """v ← γv − lr·g; θ ← θ + v gives PyTorch's θ sequence when lr is constant (v = −lr·b)."""
    params, batches = make_problem()
    a = {k: v.copy() for k, v in params.items()}
    b = {k: v.copy() for k, v in params.items()}
    textbook = nref.TextbookMomentum(a, lr=0.05, momentum=0.9)
    pytorch_form = nref.SGD(b, lr=0.05, momentum=0.9)
    for x, y in batches:
        textbook.step(grad_fn(a, x, y))
        pytorch_form.step(grad_fn(b, x, y))
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=RTOL, atol=ATOL)
        for k in a:  # and the velocity is −lr times PyTorch's buffer
            np.testing.assert_allclose(
                textbook.state[k]["velocity"],
                -0.05 * pytorch_form.state[k]["momentum_buffer"],
                rtol=1e-8,
                atol=ATOL,
            )


def test_textbook_momentum_differs_once_lr_changes():
    """After an lr change the two forms part ways: the old velocity keeps the old lr."""
    params, batches = make_problem()
    a = {k: v.copy() for k, v in params.items()}
    b = {k: v.copy() for k, v in params.items()}
    opts = nref.TextbookMomentum(a, lr=0.05, momentum=0.9), nref.SGD(b, lr=0.05, momentum=0.9)
    for i, (x, y) in enumerate(batches[:40]):
        if i == 20:
            for opt in opts:
                opt.param_groups[0]["lr"] = 0.005
        opts[0].step(grad_fn(a, x, y))
        opts[1].step(grad_fn(b, x, y))
    assert max(np.abs(a[k] - b[k]).max() for k in a) > 1e-3


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("Adagrad", dict(lr=0.1, eps=1e-4)),
        ("RMSprop", dict(lr=0.01, eps=1e-4)),
        ("Adam", dict(lr=0.01, eps=1e-4)),
    ],
)
def test_eps_inside_sqrt_is_the_lecture_note_form_and_differs_from_pytorch(name, kwargs):
    """Step 1 has a closed form: θ₁ = θ₀ − lr·g/√(c·g² + ε) (c = 1 for Adagrad and bias-corrected
    Adam, 1 − α for RMSprop); the default (PyTorch's ε outside the root) gives a different step."""
    params, batches = make_problem()
    g = {k: 1e-2 * v for k, v in grad_fn(params, *batches[0]).items()}  # g² comparable to ε
    inside = {k: v.copy() for k, v in params.items()}
    outside = {k: v.copy() for k, v in params.items()}
    getattr(nref, name)(inside, **kwargs, eps_inside_sqrt=True).step(g)
    getattr(nref, name)(outside, **kwargs).step(g)
    c = 1 - 0.99 if name == "RMSprop" else 1.0
    for k in params:
        expected = params[k] - kwargs["lr"] * g[k] / np.sqrt(c * g[k] ** 2 + kwargs["eps"])
        np.testing.assert_allclose(inside[k], expected, rtol=1e-12)
    assert max(np.abs(inside[k] - outside[k]).max() for k in params) > 1e-4


# --- gradient clipping ---


def random_grads(scale, seed=1):
    rng = np.random.default_rng(seed)
    return {
        "a": scale * rng.normal(size=(4, 5)),
        "b": scale * rng.normal(size=7),
        "c": scale * rng.normal(size=(2, 3, 2)),
    }


def as_torch_params(grads, device):
    params = []
    for g in grads.values():
        p = torch.zeros(g.shape, dtype=torch.float64, device=device, requires_grad=True)
        p.grad = torch.tensor(g, device=device)
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("scale", [10.0, 0.01], ids=["clipped", "below-threshold"])
def test_clip_grad_norm_matches_torch(norm_type, scale, device):
    max_norm = 1.0
    grads = random_grads(scale)
    original = {k: v.copy() for k, v in grads.items()}
    ours_t, ref_t = as_torch_params(grads, device), as_torch_params(grads, device)
    total_np = nref.clip_grad_norm(grads, max_norm, norm_type)
    total_ours = timpl.clip_grad_norm_(ours_t, max_norm, norm_type)
    total_ref = torch.nn.utils.clip_grad_norm_(ref_t, max_norm, norm_type)
    assert isinstance(total_ours, torch.Tensor)
    np.testing.assert_allclose(total_np, total_ref.item(), rtol=1e-12)
    np.testing.assert_allclose(total_ours.item(), total_ref.item(), rtol=1e-12)
    flat_original = np.concatenate([v.ravel() for v in original.values()])
    np.testing.assert_allclose(total_np, np.linalg.norm(flat_original, ord=norm_type), rtol=1e-12)
    for g, p_ours, p_ref in zip(grads.values(), ours_t, ref_t, strict=True):
        np.testing.assert_allclose(g, p_ref.grad.cpu().numpy(), rtol=1e-12, atol=0)
        np.testing.assert_allclose(
            p_ours.grad.cpu().numpy(), p_ref.grad.cpu().numpy(), rtol=1e-12, atol=0
        )
    clipped_norm = np.linalg.norm(
        np.concatenate([v.ravel() for v in grads.values()]), ord=norm_type
    )
    if total_np > max_norm:
        np.testing.assert_allclose(clipped_norm, max_norm, rtol=1e-5)
    else:  # below the threshold: a no-op
        for k in grads:
            np.testing.assert_array_equal(grads[k], original[k])


@pytest.mark.parametrize("clip_value", [0.5, 100.0])
def test_clip_grad_value_matches_torch(clip_value, device):
    grads = random_grads(1.0)
    ours_t, ref_t = as_torch_params(grads, device), as_torch_params(grads, device)
    nref.clip_grad_value(grads, clip_value)
    timpl.clip_grad_value_(ours_t, clip_value)
    torch.nn.utils.clip_grad_value_(ref_t, clip_value)
    for g, p_ours, p_ref in zip(grads.values(), ours_t, ref_t, strict=True):
        np.testing.assert_array_equal(g, p_ref.grad.cpu().numpy())
        np.testing.assert_array_equal(p_ours.grad.cpu().numpy(), p_ref.grad.cpu().numpy())
        assert np.abs(g).max() <= clip_value


# --- errors ---

BAD_HYPERPARAMETERS = [
    ("SGD", dict(lr=-0.1), "Invalid learning rate"),
    ("SGD", dict(lr=float("nan")), "Invalid learning rate"),
    ("Adam", dict(lr=float("inf")), "Invalid learning rate"),
    ("SGD", dict(momentum=-0.5), "Invalid momentum value"),
    ("SGD", dict(weight_decay=-1.0), "Invalid weight_decay value"),
    ("SGD", dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    ("Adagrad", dict(lr_decay=-0.1), "Invalid lr_decay value"),
    ("Adagrad", dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value value"),
    ("Adagrad", dict(eps=-1e-10), "Invalid eps value"),
    ("RMSprop", dict(alpha=-0.9), "Invalid alpha value"),
    ("RMSprop", dict(momentum=-0.9), "Invalid momentum value"),
    ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0"),
    ("Adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
    ("AdamW", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
    ("AdamW", dict(weight_decay=-0.01), "Invalid weight_decay value"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_raise_like_torch(name, kwargs, message):
    if not any(math.isnan(v) or math.isinf(v) for v in kwargs.values() if isinstance(v, float)):
        with pytest.raises(ValueError):  # torch.optim rejects it too
            getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=message) as numpy_error:
        getattr(nref, name)({"w": np.zeros(2)}, **kwargs)
    with pytest.raises(ValueError, match=message):
        getattr(timpl, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    assert "must be" in str(numpy_error.value) or "need" in str(numpy_error.value)  # allowed values


def test_step_rejects_mismatched_gradients():
    opt = nref.SGD({"weight": np.zeros((2, 3)), "bias": np.zeros(2)}, lr=0.1)
    with pytest.raises(ValueError, match=r"exactly the parameter names \['bias', 'weight'\]"):
        opt.step({"weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="exactly the parameter names"):
        opt.step({"weight": np.zeros((2, 3)), "bias": np.zeros(2), "extra": np.zeros(1)})
    with pytest.raises(
        ValueError, match=r"'bias' has shape \(3,\) but the parameter has shape \(2,\)"
    ):
        opt.step({"weight": np.ones((2, 3)), "bias": np.zeros(3)})
    np.testing.assert_array_equal(opt.params["weight"], 0.0)  # nothing was updated


def test_params_must_be_a_dict_of_float_arrays():
    with pytest.raises(TypeError, match="non-empty dict of named arrays"):
        nref.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="floating-point np.ndarray"):
        nref.SGD({"w": np.zeros(3, dtype=int)}, lr=0.1)


def test_clipping_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Invalid max_norm value"):
        nref.clip_grad_norm(random_grads(1.0), -1.0)
    with pytest.raises(ValueError, match="norm_type must be > 0 or inf"):
        nref.clip_grad_norm(random_grads(1.0), 1.0, norm_type=0)
    with pytest.raises(ValueError, match="norm_type must be > 0 or inf"):
        timpl.clip_grad_norm_(as_torch_params(random_grads(1.0), "cpu"), 1.0, norm_type=-2)
    with pytest.raises(ValueError, match="Invalid clip_value value"):
        timpl.clip_grad_value_(as_torch_params(random_grads(1.0), "cpu"), -0.5)


@pytest.mark.parametrize("name", NAMES)
def test_torch_impl_honours_param_groups(name, device):
    """Per-group hyper-parameters (here lr and weight_decay) work as in torch.optim."""
    rng = np.random.default_rng(3)
    start = [rng.normal(size=(4, 3)), rng.normal(size=4)]
    runs = []
    for module in (timpl, torch.optim):
        tensors = [torch.tensor(v, device=device, requires_grad=True) for v in start]
        groups = [
            {"params": [tensors[0]]},
            {"params": [tensors[1]], "lr": 0.001, "weight_decay": 0.5},
        ]
        opt = getattr(module, name)(groups, lr=0.03)
        grad_rng = np.random.default_rng(4)
        for _ in range(50):
            for t in tensors:
                t.grad = torch.tensor(grad_rng.normal(size=t.shape), device=device)
            opt.step()
        runs.append([t.detach().cpu().numpy() for t in tensors])
    for ours_t, ref_t in zip(*runs, strict=True):
        np.testing.assert_allclose(ours_t, ref_t, rtol=RTOL, atol=ATOL)


# --- bad hyper-parameters that torch.optim accepts but that break training (issue 9) ---

ACCEPTED_BY_TORCH_BUT_BROKEN = [
    ("Adam", dict(eps=0), r"eps must be > 0: it keeps the update finite"),
    ("AdamW", dict(eps=0.0), r"eps must be > 0"),
    ("Adagrad", dict(eps=0), r"eps must be > 0: it keeps the update finite"),
    ("RMSprop", dict(eps=0), r"eps must be > 0"),
    ("RMSprop", dict(alpha=1.5), r"Invalid alpha value: 1.5 \(alpha must be in \[0, 1\)"),
    ("RMSprop", dict(momentum=1.0), r"momentum must be in \[0, 1\)"),
    ("SGD", dict(momentum=1.0), r"Invalid momentum value: 1.0 \(momentum must be in \[0, 1\)"),
    ("SGD", dict(momentum=0.9, dampening=1.5), r"dampening must be in \[0, 1\)"),
    ("SGD", dict(momentum=0.9, dampening=-0.5), r"dampening must be in \[0, 1\)"),
    ("SGD", dict(momentum="0.9"), r"Invalid momentum value: '0.9'"),
    ("Adam", dict(eps="1e-8"), r"Invalid eps value: '1e-8'"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), ACCEPTED_BY_TORCH_BUT_BROKEN)
def test_hyperparameters_that_break_training_are_refused(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(nref, name)({"w": np.zeros(2)}, **kwargs)
    with pytest.raises(ValueError, match=message):
        getattr(timpl, name)([torch.zeros(2, requires_grad=True)], **kwargs)


@pytest.mark.parametrize("name", ["Adam", "Adagrad", "RMSprop"])
def test_eps_zero_would_give_nan_on_a_zero_gradient(name):
    """Why eps > 0 is required: with eps = 0 a zero gradient entry gives 0/0 (shown by torch)."""
    w = torch.zeros(2, requires_grad=True)
    opt = getattr(torch.optim, name)([w], eps=0)
    w.grad = torch.tensor([1.0, 0.0])
    opt.step()
    assert torch.isnan(w).any()
    theta = np.zeros(2)
    getattr(nref, name)({"w": theta}, eps=1e-8).step({"w": np.array([1.0, 0.0])})
    assert np.isfinite(theta).all() and theta[1] == 0


def test_textbook_momentum_refuses_momentum_of_one():
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        nref.TextbookMomentum({"w": np.zeros(2)}, lr=0.1, momentum=1.0)


def test_clipping_thresholds_of_zero_are_refused():
    """max_norm = 0 or clip_value = 0 would zero every gradient: training silently frozen."""
    for call in (
        lambda: nref.clip_grad_norm(random_grads(1.0), 0),
        lambda: timpl.clip_grad_norm_(as_torch_params(random_grads(1.0), "cpu"), 0.0),
    ):
        with pytest.raises(ValueError, match=r"max_norm must be > 0: 0 would set every gradient"):
            call()
    for call in (
        lambda: nref.clip_grad_value(random_grads(1.0), 0),
        lambda: timpl.clip_grad_value_(as_torch_params(random_grads(1.0), "cpu"), 0),
    ):
        with pytest.raises(ValueError, match=r"clip_value must be > 0"):
            call()
    with pytest.raises(ValueError, match=r"norm_type must be > 0 or inf \(2.0: Euclidean\), got"):
        nref.clip_grad_norm(random_grads(1.0), 1.0, norm_type="l2")


def test_numpy_clip_grad_norm_refuses_non_finite_gradients():
    grads = {"weight": np.array([1.0, np.inf]), "bias": np.array([2.0])}
    with np.errstate(all="raise"):  # and no NumPy warning on the way
        with pytest.raises(ValueError, match=r"the gradients \['weight'\] have inf/NaN entries"):
            nref.clip_grad_norm(grads, 1.0)
    np.testing.assert_array_equal(grads["bias"], [2.0])  # nothing was scaled


def test_torch_impl_clip_grad_norm_non_finite_like_torch():
    """Default: scale anyway, as torch.nn.utils does; error_if_nonfinite=True raises."""
    grads = {"weight": np.array([1.0, np.inf]), "bias": np.array([2.0])}
    ours, ref = as_torch_params(grads, "cpu"), as_torch_params(grads, "cpu")
    total = timpl.clip_grad_norm_(ours, 1.0)
    total_ref = torch.nn.utils.clip_grad_norm_(ref, 1.0)
    assert math.isinf(total.item()) and math.isinf(total_ref.item())
    for p, q in zip(ours, ref, strict=True):
        torch.testing.assert_close(p.grad, q.grad, equal_nan=True)
    with pytest.raises(ValueError, match="cannot be clipped; gradients must be finite"):
        timpl.clip_grad_norm_(as_torch_params(grads, "cpu"), 1.0, error_if_nonfinite=True)
