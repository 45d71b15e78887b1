"""The zone of a datetime column: instants counted from UTC, shown in a zone.

A datetime column with a ``timezone`` (HZG.md 6.4) holds instants; outputs
present them in that zone: pandas and Arrow as zone-aware values (the
instants unchanged), CSV as local wall-clock text followed by its offset.
A zone is ``UTC``, a fixed offset such as ``+05:30``, or an IANA name read
from this machine's time-zone database (``zoneinfo``). A name the database
lacks is shown in UTC: the instants stay exact, only their presentation
changes.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo

import numpy as np

__all__ = ("fixed_offset", "fixed_tzinfo", "offset_text", "tzinfo", "utc_offsets", "zone_info")

_OFFSET = re.compile(r"^([+-])(\d\d):(\d\d)\Z")
# Offsets are looked up once per quarter hour of UTC time: every transition
# of the modern time-zone database falls on such a boundary.
_BUCKET_SECONDS = 900


def fixed_offset(name: str) -> int | None:
    """Seconds east of UTC of a fixed-offset zone (``+05:30``), else None."""
    match = _OFFSET.match(name)
    if match is None:
        return 0 if name == "UTC" else None
    sign = 1 if match.group(1) == "+" else -1
    return sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60)


@functools.lru_cache(maxsize=64)
def zone_info(name: str) -> zoneinfo.ZoneInfo | None:
    """The IANA zone ``name`` from this machine's database, or None."""
    if fixed_offset(name) is not None:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


@functools.lru_cache(maxsize=256)
def fixed_tzinfo(offset: int) -> dt.timezone:
    """The tzinfo of a fixed offset, in seconds east of UTC."""
    return dt.timezone(dt.timedelta(seconds=offset))


def tzinfo(name: str) -> dt.tzinfo:
    """A tzinfo for zone ``name``: UTC, a fixed offset, or the IANA zone; UTC
    when this machine's database lacks the name (the instants stay exact)."""
    offset = fixed_offset(name)
    if offset is not None:
        return fixed_tzinfo(offset)  # UTC is the zero offset
    return zone_info(name) or dt.timezone.utc


def utc_offsets(seconds: np.ndarray, name: str) -> np.ndarray:
    """Seconds east of UTC in zone ``name`` at each instant (seconds since the
    epoch, UTC); 0 where the zone is unknown here or the local time would
    leave the years 1..9999."""
    fixed = fixed_offset(name)
    if fixed is not None:
        return np.full(seconds.shape, fixed, dtype=np.int64)
    zone = zone_info(name)
    if zone is None or seconds.size == 0:
        return np.zeros(seconds.shape, dtype=np.int64)
    buckets, where = np.unique(seconds // _BUCKET_SECONDS, return_inverse=True)
    offsets = np.empty(len(buckets), dtype=np.int64)
    for i, bucket in enumerate(buckets.tolist()):
        try:
            instant = dt.datetime.fromtimestamp(bucket * _BUCKET_SECONDS, tz=zone)
            offsets[i] = int(instant.utcoffset().total_seconds())
        except (OverflowError, OSError, ValueError):
            offsets[i] = 0
    return offsets[where.reshape(seconds.shape)]


def offset_text(offset: int) -> str:
    """``+HH:MM`` for an offset in seconds (rounded down to the minute)."""
    sign = "+" if offset >= 0 else "-"
    minutes = abs(int(offset)) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
