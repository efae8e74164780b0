"""stratified_subset: allocations against exact quotas, uniform draws, seeding, one home."""

from fractions import Fraction

import numpy as np
import pytest

from skintrinsic import nets
from skintrinsic.datasets import stratified_subset


def quotas(counts, size):
    """Exact (rational) share of the spare places of each class: the largest-remainder oracle."""
    spare = size - len(counts)
    capacity = [c - 1 for c in counts]
    total = sum(capacity)
    return [Fraction(c * spare, total) if total else Fraction(0) for c in capacity]


def test_allocation_worked_example():
    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    # one per class, then 17 places shared over capacities 49/29/19 (sum 97):
    # 8.59, 5.08, 3.33 -> floors 8, 5, 3 and the spare place to the largest remainder (class 0)
    idx = stratified_subset(y, 20, random_state=0)
    assert np.bincount(y[idx]).tolist() == [1 + 9, 1 + 5, 1 + 3]
    # 8 places: 4.04, 2.39, 1.57 -> 4, 2, 1 and the spare place to class 2
    assert np.bincount(y[stratified_subset(y, 11, random_state=0)]).tolist() == [5, 3, 3]
    assert stratified_subset(y, 100, random_state=0).tolist() == list(range(100))
    tiny = stratified_subset(y, 3, random_state=0)
    assert sorted(y[tiny].tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="between 3"):
        stratified_subset(y, 2)


@pytest.mark.parametrize("seed", range(20))
def test_proportional_allocation_is_largest_remainders(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 40, size=rng.integers(2, 7)).tolist()
    y = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    size = int(rng.integers(len(counts), len(y) + 1))
    idx = stratified_subset(y, size, random_state=seed)
    assert idx.size == size and np.all(np.diff(idx) > 0)
    extra = np.bincount(y[idx], minlength=len(counts)) - 1
    exact = quotas(counts, size)
    floors = [q.numerator // q.denominator for q in exact]
    assert all(e - f in (0, 1) for e, f in zip(extra, floors))
    # the classes that got a place beyond their floor are those with the largest remainders
    rounded_up = [q - f for q, f, e in zip(exact, floors, extra) if e > f]
    rounded_down = [q - f for q, f, e in zip(exact, floors, extra) if e == f]
    assert not rounded_up or not rounded_down or min(rounded_up) >= max(rounded_down)


def test_balanced_allocation():
    y = np.array(["a"] * 40 + ["b"] * 7 + ["c"] * 13)
    idx = stratified_subset(y, 14, allocation="balanced", random_state=0)
    assert sorted(np.unique(y[idx], return_counts=True)[1].tolist()) == [4, 5, 5]
    idx = stratified_subset(y, 21, allocation="balanced", random_state=1)
    assert np.unique(y[idx], return_counts=True)[1].tolist() == [7, 7, 7]
    # the spare places go to random classes, not always the same ones
    spares = {tuple(np.unique(y[stratified_subset(y, 16, allocation="balanced",
                                                   random_state=s)], return_counts=True)[1])
              for s in range(30)}
    assert spares == {(6, 5, 5), (5, 6, 5), (5, 5, 6)}
    with pytest.raises(ValueError, match="class 'b' has 7"):
        stratified_subset(y, 24, allocation="balanced")


def test_fractions_round_down():
    y = np.repeat([0, 1], [37, 26])
    assert stratified_subset(y, 0.5, random_state=0).size == 31  # floor(31.5)
    assert stratified_subset(y, 1.0, random_state=0).tolist() == list(range(63))
    assert stratified_subset(y, 0.1, random_state=0).size == 6


def test_draws_are_uniform_within_classes():
    # each sample of a class is drawn with probability take / count: frequencies over many
    # draws stay within 5 binomial standard deviations of it
    y = np.repeat([0, 1, 2], [12, 6, 3])
    n_draws = 3000
    hits = np.zeros(len(y))
    for seed in range(n_draws):
        hits[stratified_subset(y, 8, random_state=seed)] += 1
    take = np.bincount(y[stratified_subset(y, 8, random_state=0)])
    p = (take / np.bincount(y))[y]
    sd = np.sqrt(n_draws * p * (1 - p))
    assert np.all(np.abs(hits - n_draws * p) < 5 * sd + 1e-9)


def test_seeding_and_input_left_alone():
    y = np.repeat(np.arange(4), 25)
    y_copy = y.copy()
    a = stratified_subset(y, 30, random_state=5)
    np.testing.assert_array_equal(a, stratified_subset(y, 30, random_state=5))
    assert not np.array_equal(a, stratified_subset(y, 30, random_state=6))
    rng = np.random.RandomState(0)
    first, second = stratified_subset(y, 30, random_state=rng), stratified_subset(
        y, 30, random_state=rng)
    assert not np.array_equal(first, second)  # a RandomState instance is advanced
    np.testing.assert_array_equal(y, y_copy)


def test_one_home_for_the_helper():
    # the old import path keeps working and is the same function, not a second copy
    assert nets.stratified_subset is stratified_subset
    assert "stratified_subset" not in nets.__all__
