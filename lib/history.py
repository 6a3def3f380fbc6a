"""`History`: the record of one training run, the same for both loops (`lib.train.fit` with
PyTorch and `lib.numpy_ref.mlp.train_numpy` with NumPy). Plain Python only: importable without
torch, e.g. by tools that read saved runs.

Steps and epochs are counted from 1: step k is ``step_loss[k - 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["History", "EPOCH_KEYS", "check_mode"]

EPOCH_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")


def check_mode(mode: str) -> None:
    """ValueError unless ``mode`` is "min" or "max"."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")


@dataclass
class History:
    """What a run recorded.

    step_loss, step_lr: the loss of each optimizer step and the lr it used (step k is index k-1).
    grad_norm: the pre-clip total gradient norm of each step (filled by `GradientClipping`).
    epoch: per-key lists, one entry per completed epoch: "epoch", "step" (the global step at the
    epoch's end), "train_loss", "train_acc", "val_loss", "val_acc" (None where not computed).
    layer_stats: {layer name: {"step", "act_mean", "act_std", "grad_norm", "grad_std": lists}}.
    events: what happened ("diverged at step 37", "early stop at epoch 5; ...").
    diverged_at: the step whose loss was NaN/inf (1-based; for a NaN/inf val_loss, the last step
    before that evaluation), else None.
    stopped_epoch: the epoch in which the run stopped early (divergence or a callback), else None.
    """

    step_loss: list = field(default_factory=list)
    step_lr: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    epoch: dict = field(default_factory=lambda: {k: [] for k in ("epoch", "step", *EPOCH_KEYS)})
    layer_stats: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    diverged_at: int | None = None
    stopped_epoch: int | None = None

    def best(self, key: str, mode: str | None = None) -> tuple[int, float]:
        """(epoch, value) of the best epoch for `key`; mode "min"/"max", default "max" for *_acc."""
        values = self._epoch_values(key)
        mode = mode or ("max" if key.endswith("acc") else "min")
        check_mode(mode)
        scored = [(v, e) for e, v in zip(self.epoch["epoch"], values, strict=True) if v is not None]
        if not scored:
            raise ValueError(f"history has no values for {key!r} (not computed in this run)")
        value, epoch = (min if mode == "min" else max)(scored, key=lambda ve: ve[0])
        return epoch, value

    def add_epoch(self, **row) -> None:
        """Append one completed epoch: epoch, step and the EPOCH_KEYS (None where not computed)."""
        missing = set(self.epoch) - set(row)
        unknown = set(row) - set(self.epoch)
        if missing or unknown:
            raise ValueError(f"an epoch row needs exactly the keys {', '.join(self.epoch)}; "
                             f"missing {sorted(missing)}, unknown {sorted(unknown)}")
        for key, value in row.items():
            self.epoch[key].append(value)

    def diverge(self, step: int, detail: str = "") -> None:
        """Record a divergence at ``step`` (1-based) as a result: diverged_at and an event."""
        self.diverged_at = step
        self.events.append(f"diverged at step {step}" + (f" ({detail})" if detail else ""))

    def as_dict(self) -> dict:
        """Plain dict of lists and numbers (JSON-serialisable), e.g. for `json.dump`."""
        return {
            "step_loss": list(self.step_loss),
            "step_lr": list(self.step_lr),
            "grad_norm": list(self.grad_norm),
            "epoch": {k: list(v) for k, v in self.epoch.items()},
            "layer_stats": {name: {k: list(v) for k, v in stats.items()}
                            for name, stats in self.layer_stats.items()},
            "events": list(self.events),
            "diverged_at": self.diverged_at,
            "stopped_epoch": self.stopped_epoch,
        }

    def _epoch_values(self, key: str) -> list:
        if key not in EPOCH_KEYS:
            raise ValueError(f"unknown history key {key!r}; available: {', '.join(EPOCH_KEYS)}")
        return self.epoch[key]
