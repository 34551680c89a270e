"""Retention purge: remove archive day folders whose retention period is over.

Theory of operation: the archive is laid out as ``<root>/<tier>/<YYYY-MM-DD>/`` and a
record's day folder is the UTC day it was shipped, which is also the start of its
retention period. A tier keeps its records ``N`` days, so the folder of day ``D`` expires
on ``D + N`` (:func:`expire_at`, the same date the pipeline writes into each record's
``expire_at``) and is removed by the first purge with ``as_of >= D + N``. Example: with
``application = 30``, the folder ``2024-01-01`` expires on 2024-01-31; a purge as of
2024-01-30 keeps it, one as of 2024-01-31 removes it.

Purging whole folders keeps it cheap (no file is opened) and exact (a folder holds
records of one tier and one day only). It is also conservative: anything it does not
recognise is left alone and reported in :attr:`PurgePlan.unknown` (and logged), never
deleted. That covers folders of tiers that are not configured (a tier removed from the
configuration, whose data someone must decide about), names that are not dates, plain
files and symbolic links (never followed, so a link cannot make the purge delete
outside the archive).

The purge runs inside the sidecar (``ArchiveSink.purge_now`` at start and every
``purge_interval_s``) and from ``python -m sidecar purge``; running both at once is safe,
as removing a folder already removed is not an error.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sidecar.errors import ArchiveError

__all__ = ["PurgePlan", "expire_at", "parse_day", "plan", "purge"]

log = logging.getLogger(__name__)

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def expire_at(day: date, days: int) -> date:
    """Return the date when records of ``day`` in a tier of ``days`` days expire.

    Args:
        day: the UTC day the records were shipped (their folder's name).
        days: the tier's retention, at least 1.

    Returns:
        ``day + days``: the first day on which the records may be removed.
    """
    return day + timedelta(days=days)


def parse_day(name: str) -> date | None:
    """Return the date a folder name ``YYYY-MM-DD`` stands for, or None if it is not one."""
    if not _DAY.fullmatch(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class PurgePlan:
    """What a purge would do, from :func:`plan`.

    Attributes:
        expired: day folders whose retention is over, sorted.
        unknown: entries left alone, sorted: folders of tiers not configured, entries
            of a tier folder that are not ``YYYY-MM-DD`` folders, and symbolic links.
    """

    expired: tuple[Path, ...]
    unknown: tuple[Path, ...]


def _is_dir(entry: os.DirEntry[str]) -> bool:
    return entry.is_dir(follow_symlinks=False)


def plan(root: Path, tiers: Mapping[str, int], as_of: date) -> PurgePlan:
    """Find the expired day folders under ``root`` without removing anything.

    Args:
        root: the archive directory (the file sink's ``path``). A missing root holds
            nothing.
        tiers: retention days by tier name (``config.retention.tiers``).
        as_of: the day to purge for, normally today in UTC.

    Returns:
        The plan; see :class:`PurgePlan`.
    """
    expired: list[Path] = []
    unknown: list[Path] = []
    try:
        tops = list(os.scandir(root))
    except FileNotFoundError:
        return PurgePlan((), ())
    for top in tops:
        if top.name not in tiers or not _is_dir(top):
            unknown.append(Path(top.path))
            continue
        days = tiers[top.name]
        for entry in os.scandir(top.path):
            day = parse_day(entry.name)
            if day is None or not _is_dir(entry):
                unknown.append(Path(entry.path))
            elif expire_at(day, days) <= as_of:
                expired.append(Path(entry.path))
    return PurgePlan(tuple(sorted(expired)), tuple(sorted(unknown)))


def purge(root: Path, tiers: Mapping[str, int], as_of: date) -> list[Path]:
    """Remove the expired day folders under ``root``.

    Entries listed in :attr:`PurgePlan.unknown` are logged (at INFO, by path) and kept.

    Args:
        root: the archive directory.
        tiers: retention days by tier name.
        as_of: the day to purge for; a folder of day ``D`` in a tier of ``N`` days is
            removed when ``D + N <= as_of``.

    Returns:
        The removed folders, sorted.

    Raises:
        ArchiveError: some expired folders could not be removed (every other one was);
            the message names the first such folder and the reason.
    """
    result = plan(Path(root), tiers, as_of)
    for path in result.unknown:
        log.info("purge left alone %s: not a configured tier's day folder", path)
    removed: list[Path] = []
    failed: list[tuple[Path, str]] = []
    for path in result.expired:
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            continue  # removed by a concurrent purge: the goal is met
        except OSError as exc:
            failed.append((path, exc.strerror or type(exc).__name__))
            log.warning("purge could not remove %s: %s", path, failed[-1][1])
            continue
        log.info("purged %s", path)
        removed.append(path)
    if failed:
        path, why = failed[0]
        raise ArchiveError(
            f"could not remove {len(failed)} expired folder(s); first: {path} ({why})"
        )
    return removed
