"""lib.setup / lib.chapter_seed: the chapter seed can be overridden from the environment."""

import numpy as np
import pytest

import lib


def test_chapter_seed_default_and_override(monkeypatch):
    monkeypatch.delenv("BOOK_SEED", raising=False)
    assert lib.chapter_seed() == 0 and lib.chapter_seed(7) == 7
    monkeypatch.setenv("BOOK_SEED", "3")
    assert lib.chapter_seed() == 3 and lib.chapter_seed(7) == 3
    rng = lib.setup(seed=0)
    np.testing.assert_array_equal(rng.random(3), np.random.default_rng(3).random(3))


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_chapter_seed_rejects_bad_values(monkeypatch, value):
    monkeypatch.setenv("BOOK_SEED", value)
    with pytest.raises(ValueError, match="BOOK_SEED"):
        lib.chapter_seed()
