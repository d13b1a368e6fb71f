"""Obligation ids as the store keeps them (migration 13): a warning's prefix and each obligation's ordinal,
matched only in the form the router writes them."""

from __future__ import annotations

from router.store.schema import seq_args, split_id


def test_an_obligation_id_splits_into_its_prefix_and_ordinal_only_as_written() -> None:
    assert split_id("19a0b1c2d3e4f5a6b7.007") == ("19a0b1c2d3e4f5a6b7", 7)
    assert split_id("k.000") == ("k", 0)
    assert split_id("k.1000") == ("k", 1000)
    assert split_id("k.7") is None  # written as f"{k}.{7:03d}" it is "k.007"
    assert split_id("k.0007") is None
    assert split_id("k") is None
    assert split_id(".007") is None
    assert split_id("k.٠٠٧") is None  # Arabic-Indic digits are digits to str.isdigit, not to the ids
    assert seq_args("k.042") == ("k.042", "k", 42)
    assert seq_args("legacy-id") == ("legacy-id", "", -1)
