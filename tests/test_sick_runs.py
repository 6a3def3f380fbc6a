"""lib.sick_runs: on every broken run of the gallery, for seeds 0-4, the doctor's first finding is
the expected one; healthy runs get nothing serious. The gallery runs once per session."""

import time

import pytest

from lib.doctor import diagnose
from lib.sick_runs import (GALLERY, HEALTHY, KINDS, NUM_CLASSES, confusion_table, run_gallery,
                            sick_run)

SEEDS = range(5)


@pytest.fixture(scope="session")
def gallery():
    """{(kind, seed): History} for every kind and seeds 0-4; prints how long it took (wall
    clock and CPU: on a busy shared machine the two differ several-fold)."""
    wall, cpu = time.perf_counter(), time.process_time()
    histories = run_gallery(SEEDS)
    print(f"\ngallery: {len(histories)} runs in {time.perf_counter() - wall:.1f} s "
          f"({time.process_time() - cpu:.1f} s of CPU)")
    return histories


@pytest.mark.parametrize("kind", GALLERY)
def test_the_expected_finding_ranks_first(gallery, kind):
    for seed in SEEDS:
        found = diagnose(gallery[kind, seed], num_classes=NUM_CLASSES)
        top = found[0].name if found else "none"
        assert top == GALLERY[kind].expect, (kind, seed, [str(f) for f in found])


@pytest.mark.parametrize("kind", HEALTHY)
def test_healthy_runs_get_nothing_serious(gallery, kind):
    for seed in SEEDS:
        found = diagnose(gallery[kind, seed], num_classes=NUM_CLASSES)
        assert [f.name for f in found if f.severity == "serious"] == [], (kind, seed)


def test_healthy_runs_learn(gallery):
    """The healthy runs are healthy: validation accuracy above 70 % (chance: 10 %)."""
    for kind in HEALTHY:
        assert all(gallery[kind, seed].epoch["val_acc"][-1] > 0.7 for seed in SEEDS), kind


def test_confusion_table_is_diagonal(gallery):
    table = confusion_table(gallery)
    assert list(table) == list(KINDS)
    for kind, counts in table.items():
        assert sum(counts.values()) == len(SEEDS)
        if GALLERY.get(kind):
            assert counts == {GALLERY[kind].expect: len(SEEDS)}, (kind, counts)


def test_a_run_is_deterministic_for_its_seed(gallery):
    again = sick_run("labels_shuffled", seed=3)
    assert again.step_loss == gallery["labels_shuffled", 3].step_loss
    assert again.step_loss != gallery["labels_shuffled", 4].step_loss


def test_bad_kind_or_seed_is_refused():
    with pytest.raises(ValueError, match="unknown kind 'nope'; allowed: lr_far_too_high, "):
        sick_run("nope")
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        sick_run("lr_too_low", seed=-1)


def test_gallery_and_healthy_kinds_are_distinct():
    assert not set(GALLERY) & set(HEALTHY) and set(KINDS) == set(GALLERY) | set(HEALTHY)
    assert all(spec.expect is None for spec in HEALTHY.values())


def test_the_warm_up_run_diverges_as_its_warm_up_ends(gallery):
    """The doctor's symptom names the warm-up: NaN while it was still raising the lr, or right
    after it, for every seed."""
    for seed in SEEDS:
        h = gallery["warmup_too_high", seed]
        f = diagnose(h, num_classes=NUM_CLASSES)[0]
        assert h.diverged_at is not None and 15 <= h.diverged_at <= 40, (seed, h.diverged_at)
        assert "warm-up" in f.symptom, (seed, f.symptom)
