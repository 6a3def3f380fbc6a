"""Learning-rate schedules: identical sequences to torch.optim.lr_scheduler (rtol 1e-12, 250 steps).

Our schedules drive (a) a torch.optim optimizer, (b) a lib.torch_impl optimizer and (c) a
lib.numpy_ref optimizer; each lr sequence (and OneCycleLR's momentum / beta1 sequence) is compared
with torch's scheduler driving a torch.optim optimizer.
"""

import warnings

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

import lib.numpy_ref.optim as nref
import lib.numpy_ref.schedules as ours
import lib.torch_impl.optim as timpl
import lib.torch_impl.schedules as ours_torch

RTOL = 1e-12
STEPS = 250
BASE_LR = 0.1


def sequential(mod, warmup, main, milestone):
    """A SequentialLR factory from two (class name, kwargs) pairs, for ``mod`` = ours or torch's."""

    def build(opt):
        first = getattr(mod, warmup[0])(opt, **warmup[1])
        second = getattr(mod, main[0])(opt, **main[1])
        return mod.SequentialLR(opt, [first, second], milestones=[milestone])

    return build


SETTINGS = {
    "step-30": ("StepLR", dict(step_size=30)),
    "step-7-half": ("StepLR", dict(step_size=7, gamma=0.5)),
    "multistep": ("MultiStepLR", dict(milestones=[30, 80, 150])),
    "multistep-repeated": ("MultiStepLR", dict(milestones=[100, 20, 100], gamma=0.5)),
    "exp-0.98": ("ExponentialLR", dict(gamma=0.98)),
    "exp-0.9": ("ExponentialLR", dict(gamma=0.9)),
    "cosine-250": ("CosineAnnealingLR", dict(T_max=250)),
    "cosine-periodic": ("CosineAnnealingLR", dict(T_max=40)),
    "cosine-eta-min": ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    "linear-default": ("LinearLR", dict()),
    "linear-warmup": ("LinearLR", dict(start_factor=0.01, total_iters=20)),
    "linear-decay": ("LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=100)),
    "onecycle": ("OneCycleLR", dict(max_lr=1.0, total_steps=STEPS)),
    "onecycle-linear": (
        "OneCycleLR",
        dict(max_lr=0.5, epochs=10, steps_per_epoch=25, pct_start=0.25, anneal_strategy="linear"),
    ),
    "onecycle-3phase": (
        "OneCycleLR",
        dict(
            max_lr=0.3, total_steps=STEPS, three_phase=True, div_factor=10.0, final_div_factor=100.0
        ),
    ),
}
SEQUENTIAL = {
    "warmup-cosine": (
        ("LinearLR", dict(start_factor=0.1, total_iters=10)),
        ("CosineAnnealingLR", dict(T_max=240)),
        10,
    ),
    "warmup-cosine-eta": (
        ("LinearLR", dict(start_factor=0.01, total_iters=5)),
        ("CosineAnnealingLR", dict(T_max=30, eta_min=1e-3)),
        25,
    ),
    "exp-then-step": (
        ("ExponentialLR", dict(gamma=0.95)),
        ("StepLR", dict(step_size=20, gamma=0.5)),
        50,
    ),
}


def factories(key):
    """(our factory, torch's factory) for a setting."""
    if key in SEQUENTIAL:
        return sequential(ours, *SEQUENTIAL[key]), sequential(tls, *SEQUENTIAL[key])
    name, kwargs = SETTINGS[key]
    return (lambda opt: getattr(ours, name)(opt, **kwargs)), (
        lambda opt: getattr(tls, name)(opt, **kwargs)
    )


def momentum_of(opt):
    group = opt.param_groups[0]
    return group["betas"][0] if "betas" in group else group.get("momentum")


def sequences(make_optimizer, make_schedule, steps=STEPS):
    """lr (and momentum) after construction and after each of ``steps`` steps."""
    opt = make_optimizer()
    sched = make_schedule(opt)
    lrs, moms = [sched.get_last_lr()[0]], [momentum_of(opt)]
    for _ in range(steps):
        if isinstance(opt, torch.optim.Optimizer):
            opt.step()  # no gradients: only tells torch's scheduler that the optimizer stepped
        sched.step()
        lrs.append(sched.get_last_lr()[0])
        assert opt.param_groups[0]["lr"] == lrs[-1]
        moms.append(momentum_of(opt))
    return np.array(lrs), np.array(moms, dtype=float)


def tensor_params():
    return [torch.zeros(3, dtype=torch.float64, requires_grad=True)]


OPTIMIZERS = {
    "torch.optim": lambda: torch.optim.SGD(tensor_params(), lr=BASE_LR, momentum=0.9),
    "torch_impl": lambda: timpl.SGD(tensor_params(), lr=BASE_LR, momentum=0.9),
    "numpy_ref": lambda: nref.SGD({"w": np.zeros(3)}, lr=BASE_LR, momentum=0.9),
}


@pytest.mark.parametrize("driven", list(OPTIMIZERS))
@pytest.mark.parametrize("key", list(SETTINGS) + list(SEQUENTIAL))
def test_lr_sequence_matches_torch(key, driven):
    ours_factory, torch_factory = factories(key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's SequentialLR step-order notice
        expected_lr, expected_mom = sequences(OPTIMIZERS["torch.optim"], torch_factory)
    got_lr, got_mom = sequences(OPTIMIZERS[driven], ours_factory)
    assert len(np.unique(expected_lr)) > 2  # the schedule really moves the lr over these steps
    np.testing.assert_allclose(got_lr, expected_lr, rtol=RTOL, atol=0)
    np.testing.assert_allclose(got_mom, expected_mom, rtol=RTOL, atol=0)


@pytest.mark.parametrize("driven", ["torch.optim", "torch_impl", "numpy_ref"])
def test_onecycle_cycles_adam_beta1(driven):
    def make():
        if driven == "numpy_ref":
            return nref.Adam({"w": np.zeros(3)}, lr=BASE_LR, betas=(0.9, 0.99))
        return (torch.optim if driven == "torch.optim" else timpl).Adam(
            tensor_params(), lr=BASE_LR, betas=(0.9, 0.99)
        )

    kwargs = dict(max_lr=0.01, total_steps=200, base_momentum=0.8, max_momentum=0.9)
    expected_lr, expected_beta1 = sequences(
        lambda: torch.optim.Adam(tensor_params(), lr=BASE_LR, betas=(0.9, 0.99)),
        lambda opt: tls.OneCycleLR(opt, **kwargs),
        steps=200,
    )
    got_lr, got_beta1 = sequences(make, lambda opt: ours.OneCycleLR(opt, **kwargs), steps=200)
    np.testing.assert_allclose(got_lr, expected_lr, rtol=RTOL, atol=0)
    np.testing.assert_allclose(got_beta1, expected_beta1, rtol=RTOL, atol=0)
    assert got_beta1.min() == pytest.approx(0.8) and got_beta1.max() == pytest.approx(0.9)


def test_cosine_is_chainable_like_torchs():
    """torch's cosine is recursive: after an outside change of lr it continues from the new value.
    Ours does the same (a closed form would jump back to the unchanged curve)."""

    def run(opt, sched):
        lrs = []
        for step in range(1, 120):
            if isinstance(opt, torch.optim.Optimizer):
                opt.step()
            sched.step()
            if step == 30:
                opt.param_groups[0]["lr"] *= 0.5  # e.g. a manual intervention
            lrs.append(opt.param_groups[0]["lr"])
        return np.array(lrs)

    ref = OPTIMIZERS["torch.optim"]()
    expected = run(ref, tls.CosineAnnealingLR(ref, T_max=50, eta_min=0.01))
    opt = OPTIMIZERS["numpy_ref"]()
    got = run(opt, ours.CosineAnnealingLR(opt, T_max=50, eta_min=0.01))
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)
    e = np.arange(1, 120)
    closed = 0.01 + (BASE_LR - 0.01) * (1 + np.cos(np.pi * e / 50)) / 2
    assert np.abs(got - closed).max() > 1e-3


@pytest.mark.parametrize("driven", ["torch_impl", "numpy_ref"])
def test_scheduled_training_matches_torch(driven):
    """Warm-up + cosine on AdamW and OneCycle on SGD-momentum: the parameter trajectories agree,
    so our optimizers read lr / momentum from param_groups at every step."""
    rng = np.random.default_rng(0)
    target = rng.normal(size=5)
    for opt_name, opt_kwargs, build in [
        (
            "AdamW",
            dict(lr=0.05, weight_decay=0.1),
            lambda m, o: m.SequentialLR(
                o,
                [m.LinearLR(o, start_factor=0.1, total_iters=10), m.CosineAnnealingLR(o, T_max=90)],
                [10],
            ),
        ),
        (
            "SGD",
            dict(lr=0.05, momentum=0.9),
            lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=100),
        ),
    ]:
        ref = torch.zeros(5, dtype=torch.float64, requires_grad=True)
        ref_opt = getattr(torch.optim, opt_name)([ref], **opt_kwargs)
        ref_sched = build(tls, ref_opt)
        if driven == "numpy_ref":
            w = {"w": np.zeros(5)}
            opt = getattr(nref, opt_name)(w, **opt_kwargs)
        else:
            t = torch.zeros(5, dtype=torch.float64, requires_grad=True)
            opt = getattr(timpl, opt_name)([t], **opt_kwargs)
        sched = build(ours_torch if driven == "torch_impl" else ours, opt)
        for _ in range(100):
            grad = ref.detach().numpy() - target + np.sin(3 * ref.detach().numpy())
            ref.grad = torch.tensor(grad)
            ref_opt.step()
            ref_sched.step()
            if driven == "numpy_ref":
                opt.step({"w": w["w"] - target + np.sin(3 * w["w"])})
                ours_value = w["w"]
            else:
                t.grad = t.detach() - torch.tensor(target) + torch.sin(3 * t.detach())
                opt.step()
                ours_value = t.detach().numpy()
            sched.step()
            np.testing.assert_allclose(ours_value, ref.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_torch_impl_reexports_the_same_classes():
    for name in ours.__all__:
        assert getattr(ours_torch, name) is getattr(ours, name)


def test_onecycle_refuses_to_step_past_total_steps():
    opt = nref.SGD({"w": np.zeros(2)}, lr=0.1, momentum=0.9)
    sched = ours.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    for _ in range(10):
        sched.step()
    with pytest.raises(
        ValueError, match="Tried to step 11 times. The specified number of total steps is 10"
    ):
        sched.step()


def sgd():
    return nref.SGD({"w": np.zeros(2)}, lr=0.1, momentum=0.9)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ours.StepLR(sgd(), step_size=0), "step_size must be a positive integer"),
        (lambda: ours.StepLR(sgd(), step_size=2.5), "step_size must be a positive integer"),
        (lambda: ours.StepLR(sgd(), step_size=10, gamma=0), "gamma must be a finite number > 0"),
        (lambda: ours.ExponentialLR(sgd(), gamma=-0.5), "gamma must be a finite number > 0"),
        (
            lambda: ours.MultiStepLR(sgd(), milestones=[10, -1]),
            "each milestone must be a positive integer",
        ),
        (lambda: ours.CosineAnnealingLR(sgd(), T_max=0), "T_max must be a positive integer"),
        (lambda: ours.CosineAnnealingLR(sgd(), T_max=10, eta_min=-1), "eta_min must be >= 0"),
        (lambda: ours.LinearLR(sgd(), start_factor=0), r"start_factor must be in \(0, 1\]"),
        (lambda: ours.LinearLR(sgd(), end_factor=1.5), r"end_factor must be in \[0, 1\]"),
        (lambda: ours.LinearLR(sgd(), start_factor="0.5"), r"start_factor must be in \(0, 1\]"),
        (lambda: ours.CosineAnnealingLR(sgd(), 10, eta_min="0"), "eta_min must be >= 0"),
        (lambda: ours.StepLR(sgd(), 3, gamma="0.5"), "gamma must be a finite number > 0"),
        (
            lambda: ours.OneCycleLR(sgd(), max_lr=0.1),
            r"either total_steps OR \(epochs AND steps_per_epoch\)",
        ),
        (lambda: ours.OneCycleLR(sgd(), max_lr=0.1, epochs=3), "either total_steps OR"),
        (
            lambda: ours.OneCycleLR(sgd(), max_lr=0.1, total_steps=0),
            "total_steps must be a positive integer",
        ),
        (
            lambda: ours.OneCycleLR(sgd(), 0.1, 10, pct_start=1.5),
            r"pct_start must be a float in \[0, 1\]",
        ),
        (
            lambda: ours.OneCycleLR(sgd(), 0.1, 10, anneal_strategy="exp"),
            "one of 'cos' or 'linear'",
        ),
        (
            lambda: ours.OneCycleLR(nref.Adagrad({"w": np.zeros(2)}), 0.1, 10),
            "optimizer must support momentum or beta1",
        ),
        (lambda: ours.OneCycleLR(sgd(), [0.1, 0.2], 10), "expected 1 values for max_lr"),
        (lambda: ours.OneCycleLR(sgd(), -0.1, 10), "max_lr must be a finite number > 0, got -0.1"),
        (lambda: ours.OneCycleLR(sgd(), [-0.1], 10), "max_lr must be a finite number > 0"),
        (lambda: ours.OneCycleLR(sgd(), "0.1", 10), "max_lr must be a finite number > 0"),
        (
            lambda: ours.OneCycleLR(sgd(), 0.1, 10, pct_start=1.0),
            r"pct_start=1.0 with total_steps=10 leaves phase 2 of the cycle 0 steps long; "
            r"use pct_start < 1",
        ),
        (
            lambda: ours.OneCycleLR(sgd(), 0.1, 10, pct_start=0.1),
            "leaves phase 1 of the cycle 0 steps long",
        ),
        (
            lambda: ours.OneCycleLR(sgd(), 0.1, 9, pct_start=5 / 9, three_phase=True),
            r"leaves phase 3 of the cycle 0 steps long; .* and != \(total_steps \+ 1\)/2",
        ),
        (
            lambda: ours.StepLR(object(), step_size=3),
            "optimizer must have a non-empty param_groups",
        ),
    ],
)
def test_bad_arguments_raise(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


def test_sequential_lr_checks_its_arguments():
    opt = sgd()
    a, b = ours.LinearLR(opt, total_iters=3), ours.ExponentialLR(opt, gamma=0.9)
    with pytest.raises(ValueError, match="one milestone fewer than schedulers"):
        ours.SequentialLR(opt, [a, b], milestones=[3, 6])
    with pytest.raises(ValueError, match="milestones must be increasing positive integers"):
        ours.SequentialLR(opt, [a, b], milestones=[0])
    with pytest.raises(ValueError, match="same optimizer"):
        ours.SequentialLR(sgd(), [a, b], milestones=[3])
    with pytest.raises(ValueError, match="at least one scheduler"):
        ours.SequentialLR(opt, [], milestones=[])
