"""Feedback while sampling: the progress line and the rare-condition note."""

from __future__ import annotations

import io

from provisioner.generator import load
from provisioner.progress import TerminalProgress, duration
from tests.conftest import VECTORS


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_rare_condition_reports_its_rate_and_the_time_it_will_take():
    clock, out = Clock(), io.StringIO()
    meter = TerminalProgress(1_000_000, stream=out, bar=False, conditions="--where x=1",
                             clock=clock)
    meter.drew(8192, 3)
    assert out.getvalue() == ""  # not measured long enough yet
    clock.now += 2.0
    meter.drew(8192, 5)
    note = out.getvalue()
    # 8 of 16,384 kept in 2 s: 4 rows/s, so 1M rows take 250,000 s
    assert "keeps 0.049% of candidate rows (measured on 16,384)" in note
    assert "about 3 days at 4 rows/s" in note
    meter.drew(8192, 5)
    assert out.getvalue() == note  # said once


def test_a_condition_that_matches_nothing_yet_says_so():
    clock, out = Clock(), io.StringIO()
    meter = TerminalProgress(10, stream=out, bar=False, conditions="--where x=1", clock=clock)
    clock.now += 1.5
    meter.drew(10_000, 0)
    assert "matched none of the first 10,000" in out.getvalue()


def test_common_conditions_and_plain_runs_stay_quiet():
    for conditions, kept in (("--where x=1", 4000), ("", 0)):
        clock, out = Clock(), io.StringIO()
        meter = TerminalProgress(10, stream=out, bar=False, conditions=conditions,
                                 clock=clock)
        clock.now += 5
        meter.drew(8192, kept)
        assert out.getvalue() == ""


def test_the_progress_line_on_a_terminal():
    clock, out = Clock(), io.StringIO()
    meter = TerminalProgress(1000, stream=out, bar=True, clock=clock)
    clock.now += 2
    meter.emitted(250)
    line = out.getvalue()
    assert "\r250 / 1,000 rows" in line and "125 rows/s" in line and "6 s left" in line
    meter.close()
    assert out.getvalue().endswith("\r")


def test_durations_read_naturally():
    assert [duration(s) for s in (5, 600, 7200, 10**6)] == ["5 s", "10 min", "2.0 h",
                                                            "12 days"]


def test_the_meter_sees_every_row_and_candidate():
    generator = load(VECTORS / "valid" / "kinds.hzg", trust=VECTORS / "keys" / "golden.pub")
    out = io.StringIO()
    meter = TerminalProgress(20_000, stream=out, bar=True, conditions="--where color=blue")
    rows = sum(t.num_rows for t in generator.iter_batches(
        20_000, batch_size=3000, seed=1, where={"color": "blue"}, meter=meter, threads=2))
    assert rows == meter.rows == 20_000
    assert meter.kept >= 20_000 and meter.candidates > meter.kept
