"""Feedback while rows are made: a progress line, and a note on rare conditions.

:class:`TerminalProgress` is a :class:`~provisioner.scheme.Meter`. On a
terminal it keeps one line up to date (rows, share done, rows/s, time
left). Whether or not stderr is a terminal, a condition that keeps few
candidates is reported once the first blocks have measured it, with the
time the whole request will take at that rate, instead of looking hung.
What it prints never changes which rows are made.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import IO

# below this share of candidates kept, a condition is called rare
RARE_SHARE = 0.05
# measure at least this long, and this many candidates, before judging
MEASURE_SECONDS = 1.0
MEASURE_CANDIDATES = 8192
REDRAW_SECONDS = 0.2


def duration(seconds: float) -> str:
    """``42 s``, ``3 min``, ``2.5 h``, ``4 days``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


class TerminalProgress:
    """Progress of one sampling request, written to ``stream`` (stderr).

    Args:
      total: rows the request will make.
      stream: where to write.
      bar: keep a progress line up to date (default: when ``stream`` is a
        terminal).
      conditions: how the request's conditions read (``--where ...``), or
        "" when there are none (then no rare-condition note is printed).
      clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, total: int, *, stream: IO[str] | None = None, bar: bool | None = None,
                 conditions: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.bar = bool(isatty and isatty()) if bar is None else bar
        self.conditions = conditions
        self.clock = clock
        self.started = clock()
        self.rows = self.candidates = self.kept = 0
        self.noted = not conditions
        self._drawn_at = 0.0
        self._width = 0
        self._lock = threading.Lock()

    def drew(self, candidates: int, kept: int) -> None:
        with self._lock:
            self.candidates += candidates
            self.kept += kept
            self._update()

    def emitted(self, rows: int) -> None:
        with self._lock:
            self.rows += rows
            self._update(force=self.rows >= self.total)

    def close(self) -> None:
        """Clear the progress line."""
        with self._lock:
            if self.bar and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
                self._width = 0

    # -- drawing ---------------------------------------------------------------

    def _update(self, force: bool = False) -> None:
        now = self.clock()
        elapsed = now - self.started
        if not self.noted and elapsed >= MEASURE_SECONDS \
                and self.candidates >= MEASURE_CANDIDATES:
            self._note(elapsed)
        if self.bar and (force or now - self._drawn_at >= REDRAW_SECONDS):
            self._drawn_at = now
            self._draw(elapsed)

    def _done(self) -> int:
        """Rows made so far: handed out, or kept in blocks still being filled."""
        return min(max(self.rows, self.kept), self.total)

    def _rate(self, elapsed: float) -> float:
        return self._done() / elapsed if elapsed > 0 else 0.0

    def _note(self, elapsed: float) -> None:
        self.noted = True
        share = self.kept / self.candidates
        if share >= RARE_SHARE:
            return
        if self.kept == 0:
            text = (f"hzg: note: {self.conditions} matched none of the first "
                    f"{self.candidates:,} candidate rows; it may be practically impossible "
                    "for this generator")
        else:
            rate = self.kept / elapsed
            text = (f"hzg: note: {self.conditions} keeps {share:.3%} of candidate rows "
                    f"(measured on {self.candidates:,}); {self.total:,} rows will take about "
                    f"{duration(self.total / rate)} at {rate:,.0f} rows/s")
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def _draw(self, elapsed: float) -> None:
        rate = self._rate(elapsed)
        done = self._done()
        eta = duration((self.total - done) / rate) if rate > 0 else "?"
        share = done / self.total if self.total else 1.0
        text = (f"{done:,} / {self.total:,} rows  {share:5.1%}  {rate:,.0f} rows/s  "
                f"{eta} left")
        padded = text.ljust(self._width)
        self._width = max(self._width, len(text))
        self.stream.write("\r" + padded)
        self.stream.flush()

    def _clear(self) -> None:
        if self.bar and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0


__all__ = ("RARE_SHARE", "TerminalProgress", "duration")
