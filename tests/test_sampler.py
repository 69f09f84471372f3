"""train.length_window: rows shuffled, then sorted by length within windows of N batches."""

from __future__ import annotations

import json

import pytest

from shelltune.config import parse_params
from shelltune.errors import ShelltuneError
from shelltune.training.sampler import WindowedLengthSampler, windowed_length_order


def test_order_is_a_seeded_permutation_sorted_within_windows():
    lengths = [(i * 37) % 101 for i in range(1000)]
    order = windowed_length_order(lengths, batch_size=8, window=4, seed=3)
    assert sorted(order) == list(range(1000))
    for start in range(0, 1000, 32):
        window = [lengths[i] for i in order[start : start + 32]]
        assert window == sorted(window, reverse=True)
    assert order == windowed_length_order(lengths, 8, 4, seed=3)
    assert order != windowed_length_order(lengths, 8, 4, seed=4)


def test_windows_cut_padding_but_keep_the_order_random():
    """Padding (batch rows x longest row) drops; batches are not one long sorted run."""
    import random

    rng = random.Random(0)
    lengths = [rng.randint(20, 120) for _ in range(3200)]

    def padded(order):
        return sum(32 * max(lengths[i] for i in order[s : s + 32]) for s in range(0, len(order), 32))

    shuffled = windowed_length_order(lengths, 32, window=1, seed=0)  # window of one batch: sorting inside it only
    grouped = windowed_length_order(lengths, 32, window=4, seed=0)
    assert padded(grouped) < 0.9 * padded(shuffled)
    firsts = [lengths[grouped[s]] for s in range(0, len(grouped), 32 * 4)]
    assert firsts != sorted(firsts, reverse=True)  # windows are not sorted against each other


def test_sampler_reshuffles_per_epoch():
    sampler = WindowedLengthSampler(list(range(64)), batch_size=4, window=2, seed=0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first and len(sampler) == 64
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_length_window_and_group_by_length_exclude_each_other(repo_params_raw):
    raw = json.loads(json.dumps(repo_params_raw))
    raw["train"].update(group_by_length=True, length_window=4)
    with pytest.raises(ShelltuneError, match="group_by_length and length_window"):
        parse_params(raw)
