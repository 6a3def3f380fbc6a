"""The training doctor: read a run's `History` and name the likely problems, most serious first.

    history = fit(model, loss_fn, optimizer, train, val, epochs=5,   # lib.train's fit,
                  callbacks=[LayerStats(every=5), Vitals(every=5)])  # callbacks
    for finding in diagnose(history, num_classes=10):
        print(finding)

Each rule looks at one symptom (the first loss, the loss curve, train vs validation, per-layer
statistics) and returns a `Finding`: what it saw with numbers, the likely cause, the fix, and
the chapter that explains it. Every threshold is a named constant below with the reason for its
value; they are rules of thumb, not laws, so each finding carries a confidence.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from lib.train import History, Vitals  # Vitals lives with the other callbacks

__all__ = ["Finding", "diagnose", "RULES", "SEVERITIES", "CHAPTERS", "Vitals"]

SEVERITIES = ("serious", "warning", "info")  # ranking order: serious first
CHAPTERS = {
    "01": "01 activations",
    "02": "02 initialization and preprocessing",
    "03": "03 optimizers",
    "04": "04 regularization",
    "05": "05 normalization",
    "06": "06 hyperparameters",
    "07": "07 transfer learning",
    "08": "08 the training doctor",
}

# ----------------------------------------------------------------------------- thresholds

# The first loss, before any update, of a net that guesses uniformly is ln C (CS231n, "sanity
# checks"); small random logits of std s give about ln C + s²/2. Above 1.5·ln C the logits have
# std > 1.2 (for C = 10): confidently wrong at step 1. Below 0.5·ln C an untrained net already
# beats chance by far: something leaks the labels, or num_classes is wrong.
INITIAL_LOSS_HIGH = 1.5
INITIAL_LOSS_LOW = 0.5
# Step losses are averaged over windows of this many steps before curves are compared: one batch
# is too noisy, and 10 steps are short enough to see a spike that lasts a few dozen.
WINDOW = 10
# A run whose last window lost less than 10 % of the first window's loss has not started to
# learn (the healthy runs of the gallery lose over 70 % in a few hundred steps).
STALL_DROP = 0.10
# Diverged without a NaN: the last window's loss is 3x the first window's (a learning run never
# ends far above where it started).
DIVERGE_FACTOR = 3.0
# Too high a learning rate: the windowed loss climbs back 25 % above where it started, in at
# least 2 windows. Batch noise alone does not do that: a 10-step window averages it down
# (batch 2 in the gallery: window means stay below the start).
OSCILLATION_RISE = 0.25
OSCILLATION_MIN_RISES = 2
# Small-batch noise: the step loss scatters around its windowed mean with a relative std above
# 0.5 (batch 50 in the gallery: 0.2-0.3; batch 2: about 0.9; a mean of B per-example losses
# has a std that shrinks like 1/√B).
NOISE_REL = 0.5
# Batches in the same order every epoch: the step losses of consecutive epochs, aligned by
# position, correlate above 0.7 (shuffled batches: near 0; sorted by class: near 1).
ORDER_CORR = 0.7
# Overfitting / over-confidence: the validation loss ends 10 % above its best epoch while the
# training loss fell by 10 % more (memorising; a noisy run whose train loss stalls is not
# overfitting); "accuracy holds": the last validation accuracy is within 2 points
# of its best.
VAL_RISE = 0.10
ACC_HOLD = 0.02
# Serious overfitting: the validation loss ends above twice the train loss (the healthy gallery
# runs: 1.3-1.8x; memorising 100 images: over 100x); below that it is a warning.
OVERFIT_RATIO = 2.0
# Underfitting: after training, the train loss (mean of the last quarter of the steps) and the
# validation loss are both above half of ln C (the healthy gallery runs end near 0.2·ln C) but
# below ln C (above it the net does worse than a guess: broken, not too small), the validation
# loss no more than 10 % above the train loss (no gap to close).
UNDERFIT_LOSS = 0.5
UNDERFIT_GAP = 0.10
# Labels that cannot be learnt: the last validation accuracy is below twice chance (2/C). Not
# closer to chance: on a few hundred validation images a net that guesses scores up to 1.5/C
# (measured: 15 % for C = 10 with shuffled labels), as the classes are not exactly balanced.
CHANCE_FACTOR = 2.0
# Dead ReLUs: a layer with over 90 % dead units has lost almost all of its capacity (serious);
# over 50 % is a warning (healthy ReLU nets here: 3-25 %).
DEAD_FRAC = 0.9
DEAD_WARN = 0.5
# Saturated tanh/sigmoid units: over half the outputs in the flat tails.
SATURATED_FRAC = 0.5
# Depth problems need depth: vanishing/exploding is a product over layers (0.9^100 ≈ 3e-5,
# 1.1^100 ≈ 1.4e4), so the rule reads nets with at least 4 weight layers, and flags a factor of
# 100 between the first and the last weight layer, in the gradient std of their weights or in
# the std of their outputs (over 10 layers that is ×1.6 per layer).
MIN_DEPTH = 4
DEPTH_RATIO = 100.0
# Update / weight ratio ‖ΔW‖/‖W‖ per step: about 1e-3 is the usual rule of thumb (CS231n);
# below 1e-4, a few thousand steps move the weights by under 10 % (far too slow); above 0.1, one
# step changes a weight matrix by a tenth of its size (healthy runs here: Adam about 2e-3, SGD
# with momentum about 2e-2).
UPDATE_LOW = 1e-4
UPDATE_HIGH = 1e-1
# How far after the end of a warm-up a problem still counts as "right after the warm-up":
# within one more warm-up length.
AFTER_WARMUP = 1.0

# ----------------------------------------------------------------------------- findings


@dataclasses.dataclass(frozen=True)
class Finding:
    """One diagnosis: `name` (a stable identifier, e.g. "lr_too_high"), the `symptom` seen (with
    numbers), the likely `cause`, the `treatment` (the fix), the `chapter` that explains it, a
    `confidence` in [0, 1], a `severity` from SEVERITIES, and the `step` where the problem shows
    (or None)."""

    name: str
    symptom: str
    cause: str
    treatment: str
    chapter: str
    confidence: float
    severity: str
    step: int | None = None

    def __str__(self):
        return (f"[{self.severity}] {self.name} ({self.confidence:.0%}): {self.symptom}\n"
                f"  cause: {self.cause}\n  treatment: {self.treatment}\n"
                f"  see: chapter {self.chapter}")


def _finding(name, symptom, cause, treatment, chapter, confidence, severity, step=None):
    return Finding(name, symptom, cause, treatment, CHAPTERS[chapter], confidence, severity, step)


class _Run:
    """What the rules read, computed once: finite step losses, their window means, ln C, the
    per-layer records."""

    def __init__(self, history, num_classes):
        self.history = history
        self.ln_c = math.log(num_classes) if num_classes is not None else None
        self.num_classes = num_classes
        self.loss = np.array([v for v in history.step_loss if math.isfinite(v)])
        n = len(self.loss) // WINDOW * WINDOW
        self.windows = self.loss[:n].reshape(-1, WINDOW).mean(axis=1)  # one mean per WINDOW steps
        self.epoch = history.epoch
        # weight layers: Vitals' "update_ratio", else LayerStats' non-None gradients, in model order
        stats = history.layer_stats
        self.weighted = [n for n, s in stats.items() if "update_ratio" in s] or [
            n for n, s in stats.items() if any(g is not None for g in s.get("grad_std", []))]

    def window_step(self, i):
        """The last step of window i (1-based steps)."""
        return (i + 1) * WINDOW

    def epoch_values(self, key):
        values = self.epoch.get(key, [])
        return [] if any(v is None for v in values) else list(values)

    def layer_median(self, name, key):
        """Median of a per-layer record over the second half of its records (None values
        skipped), once the run has settled; None when nothing was recorded."""
        values = [v for v in self.history.layer_stats.get(name, {}).get(key, []) if v is not None]
        return float(np.median(values[len(values) // 2:])) if values else None

    def lr_note(self, step):
        """The schedule's lr at `step`, and whether a warm-up had just ended."""
        lrs = self.history.step_lr
        if not lrs or step is None:
            return ""
        step = min(max(step, 1), len(lrs))
        note = f"; lr at step {step}: {lrs[step - 1]:.3g}"
        peak = int(np.argmax(lrs)) + 1  # the first step at the largest lr
        if lrs[0] < lrs[peak - 1] and peak <= step <= peak + AFTER_WARMUP * peak:
            if peak == step >= 2 and lrs[step - 1] > lrs[step - 2]:  # still rising at the step
                note += (f", while the warm-up was still raising it (from {lrs[0]:.3g}): the "
                         "warm-up's peak is too high")
            else:
                note += (f", right after the warm-up raised it from {lrs[0]:.3g} to "
                         f"{lrs[peak - 1]:.3g} (peak at step {peak})")
        return note

    def diverged(self):
        """NaN/inf, or the last window DIVERGE_FACTOR times above the loss of step 1."""
        return self.history.diverged_at is not None or (
            len(self.windows) >= 1
            and self.windows[-1] > DIVERGE_FACTOR * self.history.step_loss[0])

    def rises(self):
        """The windows after the first whose mean is OSCILLATION_RISE above the first's."""
        return np.flatnonzero(self.windows[1:] > (1 + OSCILLATION_RISE) * self.windows[0]) + 1

    def oscillating(self):
        """The windowed loss climbs back above its start at least OSCILLATION_MIN_RISES times
        (without diverging)."""
        return (len(self.windows) >= 3 and not self.diverged()
                and len(self.rises()) >= OSCILLATION_MIN_RISES)

    def stalled(self):
        """The loss fell less than STALL_DROP from the first window to the last, without
        diverging or oscillating."""
        return (len(self.windows) >= 2 and not self.diverged() and not self.oscillating()
                and self.windows[-1] > (1 - STALL_DROP) * self.windows[0])


def _pct(x):
    return f"{100 * x:.0f} %"


# ----------------------------------------------------------------------------- rules
# Each rule reads a _Run and returns a Finding or None.


def diverged(run):
    """NaN/inf loss, or a last window DIVERGE_FACTOR times above the loss of step 1."""
    h = run.history
    if h.diverged_at is not None:
        step = h.diverged_at
        symptom = f"loss became NaN/inf at step {step}"
    elif run.diverged():
        start = h.step_loss[0]
        step = int(np.argmax(run.loss > DIVERGE_FACTOR * start)) + 1
        symptom = (f"loss rose from {start:.3g} (step 1) past {DIVERGE_FACTOR:g}x that at step "
                   f"{step}, to {run.windows[-1]:.3g} (mean of the last {WINDOW} steps)")
    else:
        return None
    return _finding(
        "diverged", symptom + run.lr_note(step),
        "steps too large for the curvature: the learning rate (or the warm-up's peak) is too "
        "high, or gradients exploded",
        "divide the learning rate by 3-10 (or lower the schedule's peak); clip the gradient "
        "norm (GradientClipping(max_norm=1)); check the initialization",
        "03", 1.0, "serious", step)


def initial_loss(run):
    """The first step's loss (before any update) far from ln C."""
    if run.ln_c is None:
        return None
    first = run.history.step_loss[0]
    if not math.isfinite(first):
        return None
    ratio = first / run.ln_c
    symptom = (f"loss at step 1 is {first:.3g} = {ratio:.2g} x ln {run.num_classes} "
               f"(= {run.ln_c:.3g}, the loss of a uniform guess)")
    if ratio > INITIAL_LOSS_HIGH:
        return _finding(
            "initial_loss", symptom,
            "the untrained net is confidently wrong: its logits are far too large (weights "
            "initialized too large, e.g. a scale x10, or inputs not standardized)",
            "use He (ReLU) or Xavier (tanh) initialization, standardize the inputs; a "
            "near-zero last layer starts the loss at ln C",
            "02", 0.8, "serious", 1)
    if ratio < INITIAL_LOSS_LOW:
        return _finding(
            "initial_loss", symptom,
            "an untrained net should not beat chance: the labels leak into the inputs, the "
            "targets are not what the loss expects, or num_classes is wrong",
            "check a few (input, label) pairs and what the loss receives; check num_classes",
            "06", 0.8, "serious", 1)
    return None


def not_learning(run):
    """The loss fell by less than STALL_DROP; the cause from the update sizes and the accuracy."""
    if not run.stalled():
        return None
    w = run.windows
    symptom = f"loss {w[0]:.3g} -> {w[-1]:.3g} over {len(run.loss)} steps"
    ratios = [r for r in (run.layer_median(n, "update_ratio") for n in run.weighted)
              if r is not None]
    val_acc = run.epoch_values("val_acc")
    if ratios and 0 < max(ratios) < UPDATE_LOW:
        return _finding(
            "lr_too_low", symptom + f"; update/weight ratios at most {max(ratios):.1e} per step "
            f"(healthy runs: about 2e-3 to 2e-2)",
            "the learning rate is too low: each step barely moves the weights",
            "raise the learning rate 10x at a time (an LR range test finds it); use momentum "
            "or Adam",
            "03", 0.85, "serious")
    healthy = ratios and UPDATE_LOW <= min(ratios) and max(ratios) <= UPDATE_HIGH
    if healthy and val_acc and run.num_classes and \
            val_acc[-1] < CHANCE_FACTOR / run.num_classes:
        return _finding(
            "labels_wrong", symptom + f" with healthy update sizes (update/weight ratios "
            f"{min(ratios):.1e}-{max(ratios):.1e}); validation accuracy {_pct(val_acc[-1])} "
            f"(chance: {_pct(1 / run.num_classes)})",
            "the weights move but nothing is learnt: the labels do not match the inputs "
            "(shuffled or misaligned labels, a broken data pipeline)",
            "look at a few (image, label) pairs; shuffle inputs and labels with one "
            "permutation; check that the net can overfit 20 examples",
            "06", 0.7, "serious")
    return _finding(
        "loss_not_falling", symptom,
        "a learning rate too low, dead or saturated units, vanishing gradients, or labels that "
        "do not match the inputs",
        "record Vitals and LayerStats to tell these apart; try a 10x larger learning rate",
        "06", 0.5, "serious")


def lr_too_high(run):
    """The windowed loss climbs back OSCILLATION_RISE above its start, repeatedly."""
    if not run.oscillating():
        return None
    w, high = run.windows, run.rises()
    step = run.window_step(int(high[0]))
    return _finding(
        "lr_too_high",
        f"loss jumps back above its start ({w[0]:.3g}) in {len(high)} of {len(w)} windows of "
        f"{WINDOW} steps, up to {w.max():.3g}; first near step {step}" + run.lr_note(step),
        "the learning rate is too high: steps overshoot the valley floor and bounce between its "
        "walls (the zig-zag)",
        "divide the learning rate by 3-10, or decay it; with momentum 0.9 the effective step is "
        "10x the learning rate",
        "03", 0.8, "serious", step)


def noisy_loss(run):
    """Step losses scatter around their window means with relative std above NOISE_REL."""
    if len(run.windows) < 4 or run.diverged():
        return None
    late = run.loss[len(run.windows) // 2 * WINDOW: len(run.windows) * WINDOW].reshape(-1, WINDOW)
    rel = float(np.mean(late.std(axis=1) / np.maximum(late.mean(axis=1), 1e-12)))
    if rel <= NOISE_REL:
        return None
    return _finding(
        "small_batch_noise",
        f"step losses scatter by {_pct(rel)} of their {WINDOW}-step mean in the second half "
        "while the mean itself stays in place",
        "gradient noise from small batches: each step sees too few examples to point the "
        "right way",
        "raise the batch size (noise falls like 1/√B), or lower the learning rate with it",
        "06", 0.6, "warning")


def not_shuffled(run):
    """The step losses of consecutive epochs correlate position by position above ORDER_CORR."""
    steps = run.epoch.get("step", [])
    per_epoch = np.diff([0, *steps])
    if len(steps) < 2 or len(set(per_epoch)) != 1 or len(run.loss) < steps[-1]:
        return None
    n = int(per_epoch[0])
    if n < 3:
        return None
    rows = run.loss[: len(steps) * n].reshape(len(steps), n)
    corrs = [np.corrcoef(a, b)[0, 1] for a, b in zip(rows[:-1], rows[1:], strict=True)
             if a.std() > 0 and b.std() > 0]
    if not corrs or np.mean(corrs) <= ORDER_CORR:
        return None
    return _finding(
        "batches_not_shuffled",
        f"the step loss repeats from epoch to epoch (position-by-position correlation "
        f"{np.mean(corrs):.2f}); in the last epoch it ranges from {rows[-1].min():.3g} to "
        f"{rows[-1].max():.3g}",
        "the batches come in the same order every epoch, e.g. sorted by class: each run of "
        "similar batches pulls the net towards them and the next run undoes it",
        "shuffle every epoch (DataLoader(shuffle=True) with a seeded generator)",
        "03", 0.95, "serious")


def overfitting(run):
    """Validation loss VAL_RISE above its best epoch while the train loss fell VAL_RISE more."""
    val, train = run.epoch_values("val_loss"), run.epoch_values("train_loss")
    if len(val) < 3 or len(train) != len(val):
        return None
    best = int(np.argmin(val))
    rise = val[-1] / val[best] - 1
    if rise < VAL_RISE or train[-1] > (1 - VAL_RISE) * train[best]:
        return None
    epochs = run.epoch["epoch"]
    symptom = (f"validation loss {val[best]:.3g} (epoch {epochs[best]}) -> {val[-1]:.3g} "
               f"(epoch {epochs[-1]}) while the train loss fell {train[best]:.3g} -> "
               f"{train[-1]:.3g}")
    train_acc, val_acc = run.epoch_values("train_acc"), run.epoch_values("val_acc")
    if train_acc and val_acc:
        symptom += f"; accuracy train {_pct(train_acc[-1])} vs validation {_pct(val_acc[-1])}"
    serious = val[-1] > OVERFIT_RATIO * train[-1]
    return _finding(
        "overfitting", symptom,
        "the net memorises the training set: too much capacity or too little data",
        "early stopping at the best validation epoch; weight decay, dropout, data "
        "augmentation; more data",
        "04", 0.8 if serious else 0.5, "serious" if serious else "warning",
        run.epoch["step"][best])


def overconfident(run):
    """Validation loss VAL_RISE above its best while validation accuracy holds."""
    val, val_acc = run.epoch_values("val_loss"), run.epoch_values("val_acc")
    if len(val) < 3 or len(val_acc) != len(val):
        return None
    best = int(np.argmin(val))
    if val[-1] / val[best] - 1 < VAL_RISE or val_acc[-1] < max(val_acc) - ACC_HOLD:
        return None
    return _finding(
        "overconfident",
        f"validation loss {val[best]:.3g} -> {val[-1]:.3g} while validation accuracy holds at "
        f"{_pct(val_acc[-1])} (best {_pct(max(val_acc))})",
        "the net grows more confident on the examples it gets wrong: cross-entropy punishes "
        "confident mistakes, accuracy does not see them; the first sign of overfitting",
        "stop on the validation loss (or keep the best-accuracy weights); weight decay or "
        "label smoothing calibrates the confidence",
        "04", 0.6, "warning", run.epoch["step"][best])


def underfitting(run):
    """Train loss (the last quarter of the steps) and validation loss both between
    UNDERFIT_LOSS x ln C and ln C, the validation loss no more than UNDERFIT_GAP above the
    train loss."""
    if run.ln_c is None or len(run.windows) < 4 or run.stalled() or run.diverged():
        return None
    train = float(run.loss[-len(run.loss) // 4:].mean())
    val = run.epoch_values("val_loss")
    val = val[-1] if val else train
    if not UNDERFIT_LOSS * run.ln_c < min(train, val) < run.ln_c or \
            val > (1 + UNDERFIT_GAP) * train:
        return None
    w = run.windows
    quarter = len(w) // 4
    still = w[-1] < (1 - STALL_DROP / 2) * w[-quarter - 1]
    return _finding(
        "underfitting",
        f"train loss {train:.3g} (last quarter of the steps), validation loss {val:.3g}: "
        f"{max(train, val) / run.ln_c:.2f} x ln {run.num_classes} after {len(run.loss)} "
        "steps" + ("; still falling" if still else "; flat at the end"),
        ("too few steps: the loss is still falling" if still else
         "too little capacity (too small a net) or too much regularization"),
        ("train longer, or with a larger learning rate" if still else
         "a wider or deeper net; less weight decay or dropout; a better optimizer (Adam)"),
        "04", 0.7, "serious")


def dead_units(run):
    """ReLU layers whose units output 0 for a whole batch (Vitals' "dead_frac")."""
    dead = {n: run.layer_median(n, "dead_frac") for n in run.history.layer_stats}
    dead = {n: f for n, f in dead.items() if f is not None and f >= DEAD_WARN}
    if not dead:
        return None
    worst = max(dead.values())
    serious = worst >= DEAD_FRAC
    layers = ", ".join(f"layer {n!r}: {_pct(f)}" for n, f in dead.items())
    return _finding(
        "dead_units", f"dead ReLU units (0 for every example of a batch): {layers}",
        "the pre-activations are negative for all inputs (a large negative bias, a too-high "
        "learning rate that pushed them there, or a bad initialization): no gradient reaches "
        "these units, so they never recover",
        "lower the learning rate; initialize biases at 0 and weights with He; Leaky ReLU or "
        "GELU keep a gradient for negative inputs",
        "01", 0.9 if serious else 0.6, "serious" if serious else "warning")


def saturated_units(run):
    """Tanh/sigmoid layers with more than SATURATED_FRAC of their outputs in the flat tails."""
    sat = {n: run.layer_median(n, "saturated_frac") for n in run.history.layer_stats}
    sat = {n: f for n, f in sat.items() if f is not None and f >= SATURATED_FRAC}
    if not sat:
        return None
    layers = ", ".join(f"layer {n!r}: {_pct(f)}" for n, f in sat.items())
    return _finding(
        "saturated_units", f"saturated tanh/sigmoid outputs: {layers}",
        "pre-activations too large (weights initialized too large, inputs not standardized): "
        "in the flat tails the derivative is nearly 0",
        "Xavier initialization and standardized inputs; or ReLU-family activations; or "
        "normalization layers",
        "01", 0.6, "warning")


def _depth_ratio(run, key):
    """key(first weight layer) / key(last weight layer) at the first step that recorded both:
    depth problems come from the initialization, and a few updates can hide them."""
    first, last = (run.history.layer_stats[n].get(key, []) for n in (run.weighted[0],
                                                                     run.weighted[-1]))
    for a, b in zip(first, last, strict=False):
        if a is not None and b is not None and a > 0 and b > 0:
            return a / b
    return None


def _depth_evidence(run, direction):
    """What the per-layer records show in `direction` ("vanishing" or "exploding"), as text."""
    if len(run.weighted) < MIN_DEPTH:
        return []
    sign = -1 if direction == "vanishing" else 1
    first, last = run.weighted[0], run.weighted[-1]
    hits = []
    grad = _depth_ratio(run, "grad_std")  # first / last: > 1 when gradients grow to the input
    if grad is not None and sign * math.log10(grad) > math.log10(DEPTH_RATIO):
        hits.append(f"the gradient std of layer {first!r} is {grad:.1e} x that of layer {last!r}")
    act = _depth_ratio(run, "act_std")  # first / last: > 1 when the signal shrinks with depth
    if act is not None and -sign * math.log10(act) > math.log10(DEPTH_RATIO):
        hits.append(f"the output std of layer {last!r} is {1 / act:.1e} x that of layer "
                    f"{first!r}")
    return hits


DEPTH_CAUSES = {  # direction -> (cause, treatment, chapter)
    "vanishing": (
        "each layer multiplies the backward signal by less than 1 (the sigmoid's derivative is "
        "at most 1/4, saturated units pass almost nothing, weights too small): the early layers "
        "stop learning",
        "ReLU-family activations with He initialization; normalization layers; residual "
        "connections", "01"),
    "exploding": (
        "each layer multiplies the signal by more than 1 (weights initialized too large for "
        "the depth); the backward pass multiplies by the same weight matrices, so the "
        "gradients grow like a power of the depth too",
        "He/Xavier initialization for the activation; gradient clipping; normalization "
        "layers; residual connections", "02"),
}


def _depth_finding(run, direction):
    hits = _depth_evidence(run, direction)
    if not hits:
        return None
    cause, treatment, chapter = DEPTH_CAUSES[direction]
    return _finding(f"{direction}_gradients",
                    f"in {len(run.weighted)} weight layers, " + "; ".join(hits),
                    cause, treatment, chapter, 0.9, "serious")


def vanishing_gradients(run):
    """Over >= MIN_DEPTH weight layers, the first layer's gradient (or the signal) DEPTH_RATIO
    times smaller than the last's."""
    return _depth_finding(run, "vanishing")


def exploding_gradients(run):
    """Over >= MIN_DEPTH weight layers, the first layer's gradient (or the signal) DEPTH_RATIO
    times larger than the last's."""
    return _depth_finding(run, "exploding")


def update_ratio(run):
    """Median update/weight ratio of some layer outside [UPDATE_LOW, UPDATE_HIGH]."""
    ratios = {n: run.layer_median(n, "update_ratio") for n in run.weighted}
    ratios = {n: r for n, r in ratios.items() if r is not None}
    low = {n: r for n, r in ratios.items() if r < UPDATE_LOW}
    high = {n: r for n, r in ratios.items() if r > UPDATE_HIGH}
    if not (low or high):
        return None
    bad = high or low
    layers = ", ".join(f"layer {n!r}: {r:.1e}" for n, r in bad.items())
    if high:
        return _finding(
            "updates_too_large",
            f"update/weight ratio per step {layers} (healthy runs: about 2e-3 to 2e-2)",
            "each step changes these weights by more than a tenth of their size: the learning "
            "rate is too high for them", "lower the learning rate",
            "03", 0.5, "warning")
    return _finding(
        "updates_too_small",
        f"update/weight ratio per step {layers} (healthy runs: about 2e-3 to 2e-2)",
        "these weights barely move: a learning rate too low, or gradients that do not reach "
        "them (dead units, vanishing gradients)",
        "raise the learning rate; check the dead_units and vanishing_gradients findings",
        "03", 0.5, "warning")


def still_improving(run):
    """The validation loss was at its best in the last epoch and falling: more epochs may help."""
    val = run.epoch_values("val_loss")
    if len(val) < 2 or val[-1] > min(val) or val[-1] >= val[-2]:
        return None
    return _finding(
        "still_improving", f"validation loss still falling at the end ({val[-2]:.3g} -> "
        f"{val[-1]:.3g})", "training stopped before the validation loss bottomed out",
        "train for more epochs (with early stopping to catch the best one)",
        "06", 0.5, "info")


RULES = {rule.__name__: rule for rule in (
    diverged, initial_loss, not_learning, lr_too_high, noisy_loss, not_shuffled, overfitting,
    overconfident, underfitting, dead_units, saturated_units, vanishing_gradients,
    exploding_gradients, update_ratio, still_improving)}


def diagnose(history, num_classes=None, rules=None) -> list[Finding]:
    """The findings of `rules` (names from RULES; None = all) on `history`, ranked by severity
    (serious, warning, info), then confidence. `history`: a lib.train.History or its
    `as_dict()`. num_classes: C for the checks against ln C and chance accuracy (skipped when
    None). Per-layer rules read LayerStats' and Vitals' records in `history.layer_stats`."""
    if isinstance(history, dict):
        allowed = [f.name for f in dataclasses.fields(History)]
        unknown = sorted(set(history) - set(allowed))
        if unknown:
            raise ValueError(f"unknown History keys {unknown}; allowed: {', '.join(allowed)}")
        history = History(**history)
    if not isinstance(history, History):
        raise TypeError("history must be a lib.train.History (or its as_dict()), "
                        f"got {type(history).__name__}")
    if not history.step_loss:
        raise ValueError("history has no steps (step_loss is empty): diagnose a run that took "
                         "at least one training step")
    if num_classes is not None and (isinstance(num_classes, bool) or
                                    not isinstance(num_classes, int) or num_classes < 2):
        raise ValueError(f"num_classes must be an integer >= 2 or None, got {num_classes!r}")
    names = list(RULES) if rules is None else list(rules)
    unknown = [n for n in names if n not in RULES]
    if isinstance(rules, str) or unknown:
        raise ValueError(f"unknown rules {unknown or rules!r}; allowed: {', '.join(RULES)}")
    run = _Run(history, num_classes)
    findings = [f for f in (RULES[n](run) for n in names) if f is not None]
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), -f.confidence))
