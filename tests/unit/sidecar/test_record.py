"""ShippedBatch: a processed batch as columns that still reads as Shipped records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.record import Shipped, ShippedBatch, group_lines, lines_of

DAY = "2026-11-22"
tiers = st.lists(st.sampled_from(["application", "error", "audit"]), max_size=30)


def as_tuples(tier_of: list[str]) -> tuple[ShippedBatch, list[Shipped]]:
    lines = [f'{{"n":{i}}}'.encode() for i in range(len(tier_of))]
    return ShippedBatch(DAY, tier_of, lines), [
        Shipped(t, DAY, line) for t, line in zip(tier_of, lines, strict=True)
    ]


class TestShippedBatch:
    @given(tiers)
    def test_reads_like_a_list_of_shipped(self, tier_of: list[str]) -> None:
        """Length, indexing, slicing and iteration match the list of tuples it stands for."""
        batch, plain = as_tuples(tier_of)
        assert len(batch) == len(plain) and list(batch) == plain
        assert [batch[i] for i in range(len(batch))] == plain
        assert list(batch[1:4]) == plain[1:4]
        assert batch.nbytes == sum(len(r.line) for r in plain)

    @given(tiers)
    def test_grouping_matches_the_record_by_record_grouping(self, tier_of: list[str]) -> None:
        """group_lines gives the same groups, in the same order within each group."""
        batch, plain = as_tuples(tier_of)
        assert group_lines(batch) == group_lines(plain)
        assert lines_of(batch) == lines_of(plain)

    def test_one_tier_is_one_group(self) -> None:
        """A batch of one tier groups into its own list of lines (nothing rebuilt)."""
        batch, _ = as_tuples(["error"] * 5)
        assert group_lines(batch) == {("error", DAY): batch.lines}

    def test_empty_batch_has_no_groups(self) -> None:
        """An empty batch groups into nothing."""
        assert group_lines(ShippedBatch(DAY, [], [])) == {}

    def test_columns_must_agree(self) -> None:
        """Tiers and lines of different lengths are refused at construction."""
        with pytest.raises(ValueError, match="differ in length"):
            ShippedBatch(DAY, ["error"], [])
