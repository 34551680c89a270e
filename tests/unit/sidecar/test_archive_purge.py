"""Retention purge: which day folders expire, and what is left alone."""

from __future__ import annotations

import os
from datetime import date

import pytest

from sidecar.archive.purge import expire_at, parse_day, plan, purge

TIERS = {"application": 30, "error": 90, "audit": 365, "transaction": 2557, "short": 1}


def make_day(root, tier, day, content=b"x"):
    folder = root / tier / day
    folder.mkdir(parents=True)
    (folder / "f.jsonl.gz").write_bytes(content)
    return folder


class TestExpireAt:
    @pytest.mark.parametrize(
        ("day", "days", "expected"),
        [
            (date(2024, 1, 1), 30, date(2024, 1, 31)),
            (date(2024, 1, 31), 30, date(2024, 3, 1)),  # leap year February
            (date(2023, 12, 31), 1, date(2024, 1, 1)),
            (date(2024, 1, 1), 2557, date(2031, 1, 1)),  # seven years incl. two leap days
            (date(2024, 2, 29), 365, date(2025, 2, 28)),
        ],
    )
    def test_day_plus_days(self, day, days, expected):
        """A day's records expire exactly `days` calendar days later."""
        assert expire_at(day, days) == expected


class TestParseDay:
    @pytest.mark.parametrize("name", ["2024-1-01", "20240101", "2024-02-30", "latest", ""])
    def test_rejects_non_dates(self, name):
        """Only real dates spelt YYYY-MM-DD count as day folders."""
        assert parse_day(name) is None

    def test_accepts_date(self):
        """A YYYY-MM-DD name parses to its date."""
        assert parse_day("2024-02-29") == date(2024, 2, 29)


# (tier, folder day, as_of, removed?)
TABLE = [
    ("application", "2024-01-01", "2024-01-30", False),  # one day before expiry
    ("application", "2024-01-01", "2024-01-31", True),  # expiry day: D + N == as_of
    ("application", "2024-01-01", "2024-02-01", True),
    ("application", "2024-01-30", "2024-01-31", False),
    ("short", "2024-01-30", "2024-01-30", False),  # today is never purged
    ("short", "2024-01-30", "2024-01-31", True),
    ("error", "2024-01-01", "2024-03-30", False),  # 89 days later
    ("error", "2024-01-01", "2024-03-31", True),  # 90 days later
    ("audit", "2023-03-01", "2024-02-28", False),
    ("audit", "2023-03-01", "2024-02-29", True),  # 365 days, across a leap day
    ("transaction", "2017-01-01", "2024-01-01", False),  # 2556 days (one leap year)
    ("transaction", "2017-01-01", "2024-01-02", True),  # 2557 days
]


class TestPurge:
    @pytest.mark.parametrize(("tier", "day", "as_of", "removed"), TABLE)
    def test_table(self, tmp_path, tier, day, as_of, removed):
        """A folder of day D in a tier of N days is removed exactly when D + N <= as_of."""
        folder = make_day(tmp_path, tier, day)
        got = purge(tmp_path, TIERS, date.fromisoformat(as_of))
        assert got == ([folder] if removed else [])
        assert folder.exists() is not removed
        assert (tmp_path / tier).is_dir()  # the tier folder itself stays

    def test_removes_exactly_the_expired_folders_sorted(self, tmp_path):
        """Across tiers, exactly the expired folders go, returned sorted; the rest stay."""
        keep = [
            make_day(tmp_path, "application", "2024-05-02"),
            make_day(tmp_path, "error", "2024-03-03"),  # expires 2024-06-01
        ]
        gone = [
            make_day(tmp_path, "error", "2024-03-02"),  # expires 2024-05-31
            make_day(tmp_path, "error", "2024-02-01"),
            make_day(tmp_path, "application", "2024-04-01"),
            make_day(tmp_path, "application", "2024-05-01"),
        ]
        removed = purge(tmp_path, TIERS, date(2024, 5, 31))
        assert removed == sorted(gone)
        assert all(p.exists() for p in keep)
        assert not any(p.exists() for p in gone)

    def test_unknown_entries_left_alone_and_reported(self, tmp_path):
        """Unconfigured tiers, non-date names, stray files and symlinks are kept and listed."""
        old = "2000-01-01"
        stray_tier = make_day(tmp_path, "retired", old)
        not_a_day = tmp_path / "application" / "latest"
        not_a_day.mkdir(parents=True)
        stray_file = tmp_path / "application" / old
        stray_file.write_bytes(b"not a folder")
        outside = make_day(tmp_path / "elsewhere", "x", old)
        link = tmp_path / "error" / old
        link.parent.mkdir()
        os.symlink(outside, link)
        readme = tmp_path / "README"
        readme.write_text("hello")

        result = plan(tmp_path, TIERS, date(2030, 1, 1))
        assert result.expired == ()
        assert result.unknown == tuple(
            sorted(
                [
                    tmp_path / "retired",
                    tmp_path / "elsewhere",
                    not_a_day,
                    stray_file,
                    link,
                    readme,
                ]
            )
        )
        assert purge(tmp_path, TIERS, date(2030, 1, 1)) == []
        for path in (stray_tier, not_a_day, stray_file, link, outside, readme):
            assert os.path.lexists(path)

    def test_missing_root(self, tmp_path):
        """A root that does not exist yet has nothing to purge."""
        assert purge(tmp_path / "none", TIERS, date(2030, 1, 1)) == []
