"""lib.exercises.hyperparameters: the reference solutions pass, typical mistakes fail."""

import numpy as np
from scipy.stats import norm

from lib.exercises import hyperparameters as ex


def good_log_uniform(low, high, n, rng):
    return np.exp(rng.uniform(np.log(low), np.log(high), size=n))


def good_ei(mean, std, best, xi):
    imp = best - xi - mean
    safe = np.where(std > 0, std, 1.0)
    z = imp / safe
    return np.where(std > 0, imp * norm.cdf(z) + safe * norm.pdf(z), np.maximum(imp, 0.0))


def good_round(configs, values, eta):
    order = sorted(range(len(configs)), key=lambda i: -values[i])
    return [configs[i] for i in order[: len(configs) // eta]]


def test_reference_solutions_pass(capsys):
    assert ex.check_log_uniform(good_log_uniform)
    assert ex.check_expected_improvement(good_ei)
    assert ex.check_halving_round(good_round)
    assert capsys.readouterr().out.count("✓") == 3


def test_uniform_sampling_fails(capsys):
    assert not ex.check_log_uniform(lambda low, high, n, rng: rng.uniform(low, high, n))
    assert "expected 0.2 each" in capsys.readouterr().out


def test_global_rng_fails(capsys):
    assert not ex.check_log_uniform(
        lambda low, high, n, rng: np.exp(np.random.uniform(np.log(low), np.log(high), n)))
    assert "draw from the rng" in capsys.readouterr().out


def test_ei_for_maximization_fails(capsys):
    assert not ex.check_expected_improvement(lambda m, s, b, xi: good_ei(-m, s, -b, xi))
    assert "sign" in capsys.readouterr().out


def test_ei_zero_where_std_is_zero_fails(capsys):
    def zero_at_no_uncertainty(mean, std, best, xi):
        return np.where(std > 0, good_ei(mean, std, best, xi), 0.0)

    assert not ex.check_expected_improvement(zero_at_no_uncertainty)
    assert "std=0.000" in capsys.readouterr().out


def test_halving_keeping_the_worst_or_unsorted_fails(capsys):
    worst = lambda c, v, eta: [c[i] for i in sorted(range(len(c)), key=lambda i: v[i])[: len(c) // eta]]
    assert not ex.check_halving_round(worst)
    assert not ex.check_halving_round(lambda c, v, eta: good_round(c, v, eta)[::-1])
    out = capsys.readouterr().out
    assert "HIGHEST" in out and "wrong order" in out


def test_stubs_report_not_implemented(capsys):
    def stub(*args):
        raise NotImplementedError

    assert not ex.check_log_uniform(stub)
    assert "not implemented yet" in capsys.readouterr().out
