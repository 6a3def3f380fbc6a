"""lib.exercises.doctor: each checker passes the solution, names the mistake in a wrong answer,
and says "not implemented yet" for the stub."""

import math

from lib.exercises import doctor as ex


def stub(*args):
    raise NotImplementedError


def test_mystery_runs(capsys):
    right = {"A": "labels_wrong", "B": "vanishing_gradients", "C": "small_batch_noise"}
    assert ex.check_mystery_runs(lambda: right)
    assert not ex.check_mystery_runs(lambda: {**right, "B": "lr_too_low"})
    assert "run B: not 'lr_too_low'" in capsys.readouterr().out
    assert not ex.check_mystery_runs(lambda: {"A": "labels_wrong"})
    assert "no answer for run(s) ['B', 'C']" in capsys.readouterr().out
    assert not ex.check_mystery_runs(lambda: {**right, "C": "noise"})
    assert "run C: 'noise' is not one of ['diverged'" in capsys.readouterr().out
    assert set(ex.MYSTERY_KINDS) == {"A", "B", "C"}
    assert not ex.check_mystery_runs(stub)
    assert "not implemented yet" in capsys.readouterr().out


def test_receptive_field(capsys):
    def rf(kernels, strides):
        r, jump = 1, 1
        for k, s in zip(kernels, strides, strict=True):
            r, jump = r + (k - 1) * jump, jump * s
        return r

    assert ex.check_receptive_field(rf)
    assert not ex.check_receptive_field(lambda k, s: 1 + sum(x - 1 for x in k))  # ignores strides
    assert "product of the strides BEFORE it" in capsys.readouterr().out


def test_initial_loss_rule(capsys):
    def rule(history, num_classes):
        first, ln_c = history.step_loss[0], math.log(num_classes)
        return math.isfinite(first) and not 0.5 * ln_c <= first <= 1.5 * ln_c

    assert ex.check_initial_loss_rule(rule)
    assert not ex.check_initial_loss_rule(
        lambda h, c: h.step_loss[0] > 1.5 * math.log(c))  # forgets the low side
    assert "expected True" in capsys.readouterr().out
    assert not ex.check_initial_loss_rule(lambda h, c: 1)
    assert "return True or False" in capsys.readouterr().out
