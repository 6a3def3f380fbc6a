"""History: one run record for both training loops, importable without torch."""

import json
import subprocess
import sys

import pytest

from lib.history import EPOCH_KEYS, History


def test_history_module_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"  # any `import torch` now fails
            "from lib.history import History\n"
            "h = History(); h.add_epoch(epoch=1, step=3, train_loss=0.5, train_acc=None,"
            " val_loss=None, val_acc=None); print(h.best('train_loss'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(1, 0.5)"


def test_lib_train_re_exports_the_same_class():
    from lib.train import History as TrainHistory

    assert TrainHistory is History


def test_add_epoch_best_diverge_and_as_dict():
    h = History()
    for epoch, (loss, acc) in enumerate([(0.9, 0.6), (0.5, 0.8), (0.7, 0.7)], start=1):
        h.add_epoch(epoch=epoch, step=10 * epoch, train_loss=loss, train_acc=acc,
                    val_loss=None, val_acc=None)
    assert h.best("train_loss") == (2, 0.5) and h.best("train_acc") == (2, 0.8)
    assert h.best("train_loss", mode="max") == (1, 0.9)
    h.diverge(31, "val_loss nan after epoch 4")
    assert h.diverged_at == 31 and h.events == ["diverged at step 31 (val_loss nan after epoch 4)"]
    assert json.loads(json.dumps(h.as_dict()))["epoch"]["step"] == [10, 20, 30]


def test_bad_input_names_the_allowed_values():
    h = History()
    with pytest.raises(ValueError, match="unknown history key 'loss'; available: " +
                       ", ".join(EPOCH_KEYS)):
        h.best("loss")
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'low'"):
        h.best("val_loss", mode="low")
    with pytest.raises(ValueError, match="has no values for 'val_acc'"):
        h.best("val_acc")
    with pytest.raises(ValueError, match=r"missing \['val_acc'\], unknown \['acc'\]"):
        h.add_epoch(epoch=1, step=1, train_loss=1.0, train_acc=0.5, val_loss=1.0, acc=0.5)
