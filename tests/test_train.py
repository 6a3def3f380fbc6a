import copy
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lib.train import (
    Callback,
    EarlyStopping,
    GradientClipping,
    History,
    LayerStats,
    LRScheduler,
    TrainState,
    fit,
)

CPU = torch.device("cpu")


def regression(n=32, slope=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, generator=g)
    return x, slope * x


def classification(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # 3 classes
    return x, y


def loader(x, y, batch_size):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


class Snapshots(Callback):
    """Keeps a deep copy of the weights at every epoch's end."""

    def on_train_begin(self, state):
        self.states = {}

    def on_epoch_end(self, state):
        self.states[state.epoch] = copy.deepcopy(state.model.state_dict())


class NormRecordingSGD(torch.optim.SGD):
    """SGD that records the total gradient norm it is given at each step (after clipping)."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.applied = []

    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        self.applied.append(torch.sqrt(sum((g**2).sum() for g in grads)).item())
        return super().step(closure)


def test_history_records_steps_lrs_and_epochs():
    torch.manual_seed(0)
    x, y = regression(n=20)
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    h = fit(model, nn.MSELoss(), opt, loader(x, y, 8), loader(x, y, 8), epochs=3,
            device=CPU, progress=False)
    assert len(h.step_loss) == len(h.step_lr) == 3 * 3  # ceil(20 / 8) = 3 batches per epoch
    assert h.epoch["epoch"] == [1, 2, 3] and h.epoch["step"] == [3, 6, 9]
    assert h.epoch["train_acc"] == [None] * 3 and h.epoch["val_acc"] == [None] * 3  # regression
    with torch.no_grad():  # val loss of the final weights, computed here
        assert h.epoch["val_loss"][-1] == pytest.approx(nn.MSELoss()(model(x), y).item(), rel=1e-6)
    assert h.diverged_at is None and h.stopped_epoch is None and h.events == []
    assert h.best("val_loss") == (3, h.epoch["val_loss"][2])  # loss falls every epoch here
    d = h.as_dict()
    assert d["epoch"]["val_loss"] == h.epoch["val_loss"] and d["step_loss"] == h.step_loss
    with pytest.raises(ValueError, match="available"):
        h.best("loss")


def test_accuracy_for_classification_matches_manual_count():
    torch.manual_seed(0)
    x, y = classification()
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    h = fit(model, nn.CrossEntropyLoss(), opt, loader(x, y, 32), loader(x, y, 32), epochs=3,
            device=CPU, progress=False)
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert h.epoch["val_acc"][-1] == pytest.approx(acc)
    assert all(0 <= a <= 1 for a in h.epoch["train_acc"])
    assert h.best("val_acc")[1] == max(h.epoch["val_acc"])


def test_early_stopping_restores_best_weights():
    # train target y = 3x, val target y = x: w moves 0 -> 3, so the val loss falls, then rises.
    x, y_train = regression(slope=3.0)
    y_val = x.clone()
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    snaps = Snapshots()
    stopper = EarlyStopping(patience=2)
    h = fit(model, nn.MSELoss(), opt, [(x, y_train)], [(x, y_val)], epochs=20,
            callbacks=[snaps, stopper], device=CPU, progress=False)
    val = h.epoch["val_loss"]
    best = min(range(len(val)), key=val.__getitem__) + 1
    assert 1 < best < len(val)  # the run is really one where val loss got worse
    assert h.stopped_epoch == best + 2 == len(val)  # patience = 2 epochs without improvement
    assert h.events == [f"early stop at epoch {best + 2}; restored weights of epoch {best}"]
    assert torch.equal(model.weight, snaps.states[best]["weight"])
    assert not torch.equal(model.weight, snaps.states[best + 2]["weight"])


def test_early_stopping_mode_max_and_min_delta():
    x, y_train = regression(slope=3.0)
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # "max" on a falling train loss: epoch 1 is the best, so it stops at 1 + patience.
    h = fit(model, nn.MSELoss(), opt, [(x, y_train)], epochs=10, device=CPU, progress=False,
            callbacks=[EarlyStopping("train_loss", patience=3, mode="max")])
    assert h.stopped_epoch == 4 and h.events[-1].endswith("restored weights of epoch 1")
    # a huge min_delta counts no epoch after the first as an improvement
    model2 = nn.Linear(1, 1, bias=False)
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.1)
    h2 = fit(model2, nn.MSELoss(), opt2, [(x, y_train)], epochs=10, device=CPU, progress=False,
             callbacks=[EarlyStopping("train_loss", patience=2, min_delta=1e9,
                                      restore_best_weights=False)])
    assert h2.stopped_epoch == 3 and h2.events == ["early stop at epoch 3; best epoch 1"]


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_scheduler_lrs_recorded_per_step(interval):
    x, y = regression(n=12)
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    h = fit(model, nn.MSELoss(), opt, loader(x, y, 4), epochs=3, device=CPU, progress=False,
            callbacks=[LRScheduler(sched, interval=interval)])
    # the same scheduler stepped by hand on a dummy optimizer gives the reference sequence
    dummy = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    ref_sched = torch.optim.lr_scheduler.StepLR(dummy, step_size=2, gamma=0.5)
    expected = []
    for _ in range(3):
        for _ in range(3):  # 3 batches per epoch
            expected.append(dummy.param_groups[0]["lr"])
            dummy.step()
            if interval == "step":
                ref_sched.step()
        if interval == "epoch":
            ref_sched.step()
    assert h.step_lr == pytest.approx(expected)
    closed_form = [0.1 * 0.5 ** ((k if interval == "step" else k // 3) // 2) for k in range(9)]
    assert h.step_lr == pytest.approx(closed_form)


def test_reduce_on_plateau_needs_monitor_and_epoch_interval():
    x, y = regression(n=8)
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)
    # mode "max" on a falling loss: no epoch improves on the first, so lr halves every epoch
    h = fit(model, nn.MSELoss(), opt, [(x, y)], epochs=3, device=CPU, progress=False,
            callbacks=[LRScheduler(sched, interval="epoch", monitor="train_loss")])
    assert h.step_lr == pytest.approx([0.1, 0.1, 0.05])
    with pytest.raises(ValueError, match="interval='epoch'"):
        LRScheduler(sched, interval="step", monitor="train_loss")


def test_gradient_clipping_by_norm():
    torch.manual_seed(0)
    x, y = regression(n=16, slope=100.0)  # large targets -> large gradients
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = NormRecordingSGD(model.parameters(), lr=1e-3)
    h = fit(model, nn.MSELoss(), opt, loader(x, y, 4), epochs=2, device=CPU, progress=False,
            callbacks=[GradientClipping(max_norm=0.5)])
    assert len(h.grad_norm) == len(opt.applied) == 8
    assert min(h.grad_norm) > 0.5  # clipping was active at every step
    assert max(opt.applied) <= 0.5 + 1e-5
    assert opt.applied == pytest.approx([0.5] * 8, rel=1e-4)  # rescaled to exactly max_norm


def test_gradient_clipping_by_value():
    torch.manual_seed(0)
    x, y = regression(n=16, slope=100.0)
    model = nn.Linear(1, 1)
    seen = []

    class Probe(Callback):  # runs after the clipping callback, before optimizer.step
        def on_after_backward(self, state):
            seen.append(max(p.grad.abs().max().item() for p in state.model.parameters()))

    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    h = fit(model, nn.MSELoss(), opt, [(x, y)], epochs=3, device=CPU, progress=False,
            callbacks=[GradientClipping(max_value=0.1), Probe()])
    assert max(seen) == pytest.approx(0.1) and min(h.grad_norm) > 0.1


def test_divergence_is_recorded_not_raised():
    torch.manual_seed(0)
    x, y = regression(n=32)
    model = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=1e10)
    stopper = EarlyStopping("train_loss", patience=100)
    h = fit(model, nn.MSELoss(), opt, loader(x, y, 8), epochs=50, device=CPU, progress=False,
            callbacks=[stopper])
    k = h.diverged_at
    assert k is not None and len(h.step_loss) == k
    assert not math.isfinite(h.step_loss[-1]) and all(map(math.isfinite, h.step_loss[:-1]))
    assert f"diverged at step {k}" in h.events
    assert h.stopped_epoch == (k - 1) // 4 + 1  # 4 batches per epoch
    assert all(torch.isfinite(p).all() for p in model.parameters())  # no step on a NaN loss


def test_layer_stats_one_entry_per_layer_and_values():
    torch.manual_seed(0)
    x, y = classification(n=40)
    model = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 3))
    first_layer = copy.deepcopy(model[0])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = fit(model, nn.CrossEntropyLoss(), opt, loader(x, y, 8), epochs=2, device=CPU,
            progress=False, callbacks=[LayerStats(every=3)])
    assert set(h.layer_stats) == {"0", "1", "2"}
    for stats in h.layer_stats.values():
        assert set(stats) == set(LayerStats.KEYS)
        assert stats["step"] == [3, 6, 9]  # 10 steps, every 3rd
        assert all(len(v) == 3 for v in stats.values())
    assert h.layer_stats["1"]["grad_norm"] == [None] * 3  # ReLU has no parameters
    assert all(v > 0 for v in h.layer_stats["2"]["grad_norm"])
    # every=1, one step: the first layer's activation stats on the initial weights
    model = nn.Sequential(copy.deepcopy(first_layer), nn.ReLU(), nn.Linear(5, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = fit(model, nn.CrossEntropyLoss(), opt, [(x[:8], y[:8])], device=CPU, progress=False,
            callbacks=[LayerStats(modules=["0"])])
    with torch.no_grad():
        out = first_layer(x[:8])
    assert list(h.layer_stats) == ["0"]
    assert h.layer_stats["0"]["act_mean"] == [pytest.approx(out.mean().item())]
    assert h.layer_stats["0"]["act_std"] == [pytest.approx(out.std().item())]


def test_callback_hooks_called_in_order():
    calls = []

    class Recorder(Callback):
        def __getattribute__(self, name):
            if name.startswith("on_"):
                calls.append(name)
            return super().__getattribute__(name)

    x, y = regression(n=4)
    model = nn.Linear(1, 1)
    fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), [(x, y)] * 2,
        epochs=1, callbacks=[Recorder()], device=CPU, progress=False)
    assert calls == ["on_train_begin", "on_epoch_begin", "on_after_backward", "on_batch_end",
                     "on_after_backward", "on_batch_end", "on_epoch_end", "on_train_end"]


def test_argument_errors():
    x, y = regression(n=4)
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    args = (model, nn.MSELoss(), opt, [(x, y)])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="epochs"):
            fit(*args, epochs=bad, device=CPU, progress=False)
    with pytest.raises(TypeError, match="Callback"):
        fit(*args, callbacks=[lambda s: None], device=CPU, progress=False)
    with pytest.raises(ValueError, match="needs val_data"):
        fit(*args, callbacks=[EarlyStopping()], device=CPU, progress=False)
    with pytest.raises(ValueError, match="was not computed"):
        fit(*args, [(x, y)], callbacks=[EarlyStopping("val_acc", mode="max")], device=CPU,
            progress=False)
    with pytest.raises(ValueError, match="train_loss, train_acc, val_loss, val_acc"):
        EarlyStopping(monitor="val_los")
    with pytest.raises(ValueError, match="'min' or 'max'"):
        EarlyStopping(mode="avg")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="'step' or 'epoch'"):
        LRScheduler(torch.optim.lr_scheduler.StepLR(opt, 1), interval="batch")
    with pytest.raises(TypeError, match="step"):
        LRScheduler(object())
    with pytest.raises(ValueError, match="exactly one"):
        GradientClipping()
    with pytest.raises(ValueError, match="exactly one"):
        GradientClipping(max_norm=1.0, max_value=1.0)
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        GradientClipping(max_norm=0)
    with pytest.raises(ValueError, match="every"):
        LayerStats(every=0)
    seq = nn.Sequential(nn.Linear(1, 1))
    with pytest.raises(ValueError, match="available: '', '0'"):
        fit(seq, nn.MSELoss(), torch.optim.SGD(seq.parameters(), lr=0.1), [(x, y)],
            callbacks=[LayerStats(modules=["fc"])], device=CPU, progress=False)
    with pytest.raises(TypeError, match="pair"):
        fit(model, nn.MSELoss(), opt, [x], device=CPU, progress=False)
    assert History().as_dict()["diverged_at"] is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_moves_model_and_batches_to_the_device():
    x, y = classification(n=32)
    model = nn.Linear(2, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = fit(model, nn.CrossEntropyLoss(), opt, loader(x, y, 8), loader(x, y, 8), epochs=2,
            progress=False)  # device=None -> lib.device() -> cuda
    assert next(model.parameters()).device.type == "cuda"
    assert h.epoch["val_acc"][-1] is not None


def test_layer_stats_on_a_model_without_submodules():
    x, y = regression(n=8)
    model = nn.Linear(1, 1)
    h = fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), [(x, y)],
            epochs=2, device=CPU, progress=False, callbacks=[LayerStats()])
    assert list(h.layer_stats) == [""] and h.layer_stats[""]["step"] == [1, 2]


# --- bad input and divergence (issue 9) ---


class NanAtCall:
    """MSE loss that returns NaN at its `at`-th call (1-based): a divergence mid-epoch."""

    def __init__(self, at):
        self.at, self.calls = at, 0

    def __call__(self, out, y):
        self.calls += 1
        loss = nn.functional.mse_loss(out, y)
        return loss * float("nan") if self.calls == self.at else loss


class NanTargetsFrom:
    """A validation set whose targets are NaN from its `epoch`-th pass on."""

    def __init__(self, x, y, epoch):
        self.x, self.y, self.epoch, self.passes = x, y, epoch, 0

    def __iter__(self):
        self.passes += 1
        nan = float("nan") if self.passes >= self.epoch else 1.0
        return iter([(self.x, self.y * nan)])


def test_early_stopping_restores_best_weights_after_a_divergence_mid_epoch():
    torch.manual_seed(0)
    x, y = regression(n=32)
    model = nn.Linear(1, 1)
    snaps = Snapshots()
    h = fit(model, NanAtCall(6), torch.optim.SGD(model.parameters(), lr=0.05),
            loader(x, y, 8), epochs=5, device=CPU, progress=False,
            callbacks=[snaps, EarlyStopping("train_loss", patience=3)])
    assert h.diverged_at == 6 and h.epoch["epoch"] == [1]  # step 5 of epoch 2 moved the weights
    assert h.events == ["diverged at step 6", "restored weights of epoch 1"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, snaps.states[1][key], rtol=0, atol=0)


def test_nan_validation_loss_is_a_divergence_and_never_best():
    torch.manual_seed(0)
    x, y = regression(n=32)
    model = nn.Linear(1, 1)
    snaps = Snapshots()
    h = fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.05), loader(x, y, 8),
            val_data=NanTargetsFrom(x, y, epoch=2), epochs=5, device=CPU, progress=False,
            callbacks=[snaps, EarlyStopping("val_loss", patience=3)])
    assert math.isfinite(h.epoch["val_loss"][0]) and math.isnan(h.epoch["val_loss"][1])
    assert h.diverged_at == 8 and h.stopped_epoch == 2
    assert h.events == ["diverged at step 8 (val_loss nan after epoch 2)",
                        "restored weights of epoch 1"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, snaps.states[1][key], rtol=0, atol=0)
    # NaN in the very first epoch: flagged, and nothing is "best", so nothing is restored
    model = nn.Linear(1, 1)
    h = fit(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.05), loader(x, y, 8),
            val_data=NanTargetsFrom(x, y, epoch=1), epochs=5, device=CPU, progress=False,
            callbacks=[EarlyStopping("val_loss", patience=3)])
    assert h.diverged_at == 4 and h.events == ["diverged at step 4 (val_loss nan after epoch 1)"]


def test_early_stopping_never_takes_a_nan_as_best():
    model = nn.Linear(1, 1)
    stopper = EarlyStopping("train_loss", patience=2)
    state = TrainState(model, torch.optim.SGD(model.parameters(), lr=0.1), History(), False)
    stopper.on_train_begin(state)
    for epoch, value in enumerate([float("nan"), 2.0, float("inf"), 3.0], start=1):
        state.epoch = epoch
        state.history.epoch["train_loss"].append(value)
        stopper.on_epoch_end(state)
    assert stopper.best_epoch == 2 and stopper.best_value == 2.0 and state.stop


def test_fit_refuses_empty_loaders():
    x, y = regression(n=4)
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    too_few = DataLoader(TensorDataset(x[:3], y[:3]), batch_size=8, drop_last=True)
    for empty in ([], too_few):
        with pytest.raises(ValueError, match="train_data gave no batches in epoch 1; fit needs at "
                                             "least one"):
            fit(model, nn.MSELoss(), opt, empty, callbacks=[EarlyStopping("train_loss")],
                device=CPU, progress=False)
    with pytest.raises(ValueError, match="no batches in epoch 2; .* or a used-up iterator"):
        fit(model, nn.MSELoss(), opt, iter([(x, y)]), epochs=2, device=CPU, progress=False)
    with pytest.raises(ValueError, match="val_data gave no batches"):
        fit(model, nn.MSELoss(), opt, [(x, y)], val_data=[], device=CPU, progress=False)


def test_fit_refuses_an_optimizer_of_another_model():
    x, y = regression(n=4)
    model, other = nn.Linear(1, 1), nn.Linear(1, 1)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match="the optimizer holds none of the model's parameters"):
        fit(model, nn.MSELoss(), torch.optim.SGD(other.parameters(), lr=0.1), [(x, y)],
            device=CPU, progress=False)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        fit(model, nn.MSELoss(), None, [(x, y)], device=CPU, progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # an optimizer over part of the model (a frozen layer) is fine
    net = nn.Sequential(nn.Linear(1, 2), nn.Linear(2, 1))
    fit(net, nn.MSELoss(), torch.optim.SGD(net[1].parameters(), lr=0.1), [(x, y)], device=CPU,
        progress=False)


def test_metric_scheduler_without_monitor_fails_at_construction():
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau.step needs a metric: give monitor="):
        LRScheduler(plateau, interval="epoch")
    LRScheduler(torch.optim.lr_scheduler.StepLR(opt, 1), interval="epoch")  # no metric needed


@pytest.mark.parametrize("norm_type", [0, -2.0, "2"])
def test_gradient_clipping_refuses_bad_norm_type(norm_type):
    with pytest.raises(ValueError, match=r"norm_type must be > 0 or inf"):
        GradientClipping(max_norm=1.0, norm_type=norm_type)
    with pytest.raises(ValueError, match=r"max_value must be > 0 \(0 would freeze training\)"):
        GradientClipping(max_value="1")


def test_diverged_at_counts_the_same_in_fit_and_train_numpy():
    """Both loops return a History; diverged_at = k when the k-th step's loss is NaN (1-based)."""
    import numpy as np

    from lib.numpy_ref.losses import mse_loss
    from lib.numpy_ref.mlp import make_mlp, train_numpy
    from lib.numpy_ref.optim import SGD

    calls = {"n": 0}

    def numpy_loss(out, y):
        calls["n"] += 1
        loss, dout = mse_loss(out, y)
        return (math.nan if calls["n"] == 3 else loss), dout

    x, y = regression(n=8)
    rng = np.random.default_rng(0)
    net = make_mlp([1, 1], rng=rng)
    hist_np = train_numpy(net, SGD(net.params, lr=0.01), x.double().numpy(), y.double().numpy(),
                          epochs=2, batch_size=2, rng=rng, loss_fn=numpy_loss)
    model = nn.Linear(1, 1)
    hist = fit(model, NanAtCall(3), torch.optim.SGD(model.parameters(), lr=0.01),
               loader(x, y, 2), epochs=2, device=CPU, progress=False)
    assert type(hist_np) is type(hist)  # one History for both loops
    assert hist_np.diverged_at == hist.diverged_at == 3
    assert len(hist_np.step_loss) == len(hist.step_loss) == 3
    assert math.isnan(hist_np.step_loss[2]) and math.isnan(hist.step_loss[2])
    assert hist_np.events == hist.events == ["diverged at step 3"]
    assert hist_np.stopped_epoch == hist.stopped_epoch == 1


def l1(model):
    return 0.1 * sum(p.abs().sum() for p in model.parameters())


def test_penalty_gradient_is_the_loss_gradient_plus_the_penalty_gradient():
    """One SGD step with lr 1 moves θ by −(∇loss + ∇R): compare with autograd of each term."""
    x, y = classification(n=16)
    model = nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -0.2], [0.3, 0.1], [-0.4, 0.6]]))
        model.bias.copy_(torch.tensor([0.1, -0.3, 0.2]))
    start = copy.deepcopy(model)
    loss = nn.functional.cross_entropy(start(x), y)
    g_loss = torch.autograd.grad(loss, list(start.parameters()))
    g_pen = torch.autograd.grad(l1(start), list(start.parameters()))
    hist = fit(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=1.0),
               loader(x, y, 16), epochs=1, device=CPU, progress=False, penalty=l1)
    for p0, p1, gl, gp in zip(start.parameters(), model.parameters(), g_loss, g_pen, strict=True):
        torch.testing.assert_close(p0 - p1, gl + gp)
    assert hist.step_loss[0] == pytest.approx(loss.item() + l1(start).item(), rel=1e-6)
    assert hist.epoch["train_loss"][0] == pytest.approx(loss.item(), rel=1e-6)  # data loss only


def test_l1_penalty_shrinks_weights_towards_zero():
    x, y = classification()
    norms = {}
    for name, penalty in (("none", None), ("l1", l1)):
        torch.manual_seed(0)
        model = nn.Linear(2, 3)
        fit(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
            loader(x, y, 16), epochs=5, device=CPU, progress=False, penalty=penalty)
        norms[name] = model.weight.abs().sum().item()
    assert norms["l1"] < 0.8 * norms["none"]


@pytest.mark.parametrize("penalty, error, message", [
    (0.01, TypeError, "penalty must be None or a function model -> scalar tensor, got float"),
    (lambda m: 0.5, TypeError, "must return a floating-point scalar tensor.*got float"),
    (lambda m: m.weight.abs(), TypeError, r"got a tensor of shape \(3, 2\)"),
])
def test_bad_penalty_gets_a_clear_error(penalty, error, message):
    x, y = classification(n=8)
    model = nn.Linear(2, 3)
    with pytest.raises(error, match=message):
        fit(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
            loader(x, y, 4), device=CPU, progress=False, penalty=penalty)


def test_callbacks_see_the_current_batch_and_can_stop_mid_epoch():
    x, y = classification(n=12)
    seen = []

    class StopAfterTwo(Callback):
        def on_after_backward(self, state):
            seen.append(state.batch)

        def on_batch_end(self, state):
            state.stop = state.step == 2

    model = nn.Linear(2, 3)
    history = fit(model, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
                  loader(x, y, batch_size=4), epochs=3, callbacks=[StopAfterTwo()], device=CPU,
                  progress=False)
    assert len(seen) == 2 and len(history.step_loss) == 2 and history.stopped_epoch == 1
    for k, (xb, yb) in enumerate(seen):
        assert torch.equal(xb, x[4 * k:4 * k + 4]) and torch.equal(yb, y[4 * k:4 * k + 4])
