"""A datetime column with a time zone: instants, shown in their zone everywhere."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest

from provisioner.aggregate import aggregate
from provisioner.errors import AggregationError
from provisioner.generator import Generator
from provisioner.reconcile import reconcile
from provisioner.sinks import write_csv_stream
from provisioner.timezones import fixed_offset, offset_text, utc_offsets
from tests.conftest import load_index, load_vector
from tests.provisioner import builders as b

# 2024-03-31 00:00 to 2024-04-01 00:00 UTC: Paris moves from +01:00 to +02:00
# at 01:00 UTC
DAY = (1_711_843_200, 1_711_929_600)


def zoned(zone: str | None, **options) -> Generator:
    column = dataclasses.replace(b.datetime("at", *DAY, unit="s"), timezone=zone)
    return b.generator([column, b.categorical("c", ["x", "y"])], **options)


def test_offsets_follow_the_zone_database_across_a_transition():
    seconds = np.array([DAY[0], DAY[0] + 3599, DAY[0] + 3600, DAY[1]])
    assert utc_offsets(seconds, "Europe/Paris").tolist() == [3600, 3600, 7200, 7200]
    assert utc_offsets(seconds, "-03:30").tolist() == [-12600] * 4
    assert utc_offsets(seconds, "UTC").tolist() == [0] * 4
    # a name this machine's database lacks: shown in UTC, instants unchanged
    assert utc_offsets(seconds, "Mars/Olympus_Mons").tolist() == [0] * 4
    assert fixed_offset("+05:45") == 20700 and offset_text(-12600) == "-03:30"


def test_pandas_and_arrow_carry_the_zone_and_the_same_instants():
    pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    generator = zoned("Europe/Paris")
    table = generator.sample(500, seed=3)
    frame = table.to_pandas()
    assert str(frame["at"].dt.tz) == "Europe/Paris"
    utc = frame["at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    assert np.array_equal(utc.astype("datetime64[s]"), table["at"])
    arrow = table.to_arrow()
    assert arrow.schema.field("at").type == pa.timestamp("s", tz="Europe/Paris")
    assert np.array_equal(arrow.column("at").to_numpy().astype("datetime64[s]"), table["at"])


def test_csv_writes_local_time_with_its_offset():
    pd = pytest.importorskip("pandas")
    generator = zoned("Europe/Paris")
    table = generator.sample(2000, seed=4)
    out = io.StringIO()
    write_csv_stream([table], generator.columns, out)
    texts = pd.read_csv(io.StringIO(out.getvalue()), dtype=str)["at"]
    assert texts.str.endswith("+01:00").any() and texts.str.endswith("+02:00").any()
    parsed = pd.to_datetime(texts, format="ISO8601", utc=True).dt.tz_localize(None)
    assert np.array_equal(parsed.to_numpy().astype("datetime64[s]"), table["at"])


def test_a_strftime_format_shows_local_time_and_its_offset():
    column = dataclasses.replace(b.datetime("at", *DAY, unit="s"), timezone="-03:30",
                                 format="%d.%m.%Y %H:%M %z")
    generator = b.generator([column, b.categorical("c", ["x", "y"])])
    table = generator.sample(50, seed=5)
    out = io.StringIO()
    write_csv_stream([table], generator.columns, out)
    first = out.getvalue().splitlines()[1].split(",")[0]
    local = table["at"][0] - np.timedelta64(12600, "s")
    assert first == local.astype(object).strftime("%d.%m.%Y %H:%M") + " -0330"


def test_without_a_zone_values_stay_wall_clock_times():
    pytest.importorskip("pandas")
    frame = zoned(None).sample(10, seed=6).to_pandas()
    assert frame["at"].dt.tz is None


def test_aggregates_keep_a_shared_zone_and_fall_back_to_utc():
    paris, paris2 = zoned("Europe/Paris"), zoned("Europe/Paris", owner="o2", seed=2)
    lima = zoned("America/Lima", owner="o3", seed=3)
    naive = zoned(None, owner="o4", seed=4)

    def zone(*generators):
        united = reconcile([(f"g{i}", g.columns) for i, g in enumerate(generators)])
        return next(c for c in united.columns if c.name == "at").timezone

    assert zone(paris, paris2) == "Europe/Paris"
    assert zone(paris, lima) == "UTC"
    with pytest.raises(AggregationError, match="'at' holds instants"):
        zone(paris, naive)
    mixed = aggregate([paris, lima], weights="equal").sample(100, seed=7)
    assert mixed.columns[0].timezone == "UTC"


def test_the_vectors_with_a_zone_read_and_sample(golden_trust):
    from provisioner import decode_bundle

    names = [v["file"] for v in load_index()["vectors"] if v["rule"] == "column-timezone"
             and v["expect"] == "ok"]
    assert len(names) == 2
    for name in names:
        opened = decode_bundle(load_vector(name), trust=golden_trust,
                               now=load_index()["now"])
        generator = Generator.from_opened(opened)
        assert generator.sample(20, seed=1)["joined"].dtype == np.dtype("datetime64[s]")
