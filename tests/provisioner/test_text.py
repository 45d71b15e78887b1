"""Text columns (a categorical column with a ``filler``, HZG.md 6.2): decoding,
bounds, outputs and aggregation."""

from __future__ import annotations

import csv
import dataclasses
import re

import numpy as np
import pytest

from provisioner import decode
from provisioner.aggregate import aggregate
from provisioner.bundle.fields import Fields
from provisioner.errors import MalformedHeader
from provisioner.schema import Column
from provisioner.sinks import row_text_chars, write_rows
from tests.provisioner import builders as b

FILLER = re.compile(r"text-[a-z]{8}")
TITLES = ("Up", "Heat", "Jaws")
# the rare token (3) gets a large bias: most rows are fillers
BIAS = [0.0, 0.0, 0.0, 2.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def films():
    return b.generator([b.text("title", TITLES), b.numeric("year", [1900, 1950, 2000])],
                       owner="films", seed=3, bias=BIAS)


def test_rare_rows_get_fillers_and_frequent_values_stay(films):
    table = films.sample(5000, seed=1)
    titles = table["title"].tolist()
    fillers = [t for t in titles if t not in TITLES]
    assert "__rare__" not in titles
    assert all(FILLER.fullmatch(t) for t in fillers)
    assert len(fillers) > 2500 and set(TITLES) <= set(titles)
    assert len(set(fillers)) > 0.99 * len(fillers)  # fresh strings, not one placeholder


def test_a_condition_names_frequent_values_never_the_rare_label(films):
    from provisioner.errors import ImpossibleCondition

    table = films.sample(500, seed=4, where={"title": "Heat"})
    assert set(table["title"].tolist()) == {"Heat"}
    with pytest.raises(ImpossibleCondition, match="text column"):
        films.sample(10, seed=4, where={"title": "__rare__"})


def test_fillers_are_reproducible_and_split_like_any_value(films):
    whole = films.sample(20_000, seed=9)["title"].tolist()
    assert films.sample(20_000, seed=9)["title"].tolist() == whole
    parts = [films.sample(20_000, seed=9, partition=i, partitions=3)["title"].tolist()
             for i in range(3)]
    assert sum(parts, []) == whole
    assert films.sample(20_000, seed=10)["title"].tolist() != whole


def test_outputs_hold_the_fillers(films, tmp_path):
    table = films.sample(300, seed=2)
    expected = table["title"].tolist()
    assert table.to_pandas()["title"].tolist() == expected
    assert table.to_arrow().column("title").to_pylist() == expected
    write_rows([table], table.columns, tmp_path / "out.csv")
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as handle:
        assert [row["title"] for row in csv.DictReader(handle)] == expected
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    write_rows([table], table.columns, tmp_path / "out.parquet")
    assert pq.read_table(tmp_path / "out.parquet").column("title").to_pylist() == expected


def test_a_filler_that_starts_like_a_formula_is_guarded(tmp_path):
    gen = b.generator([b.text("note", ["ok"], filler="=aa,a")], bias=[-5.0, 5.0], seed=4)
    table = gen.sample(50, seed=1)
    write_rows([table], table.columns, tmp_path / "out.csv")
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as handle:
        cells = [row["note"] for row in csv.DictReader(handle)]
    fillers = [c for c in cells if c != "ok"]
    assert fillers and all(re.fullmatch(r"'=[a-z]{2},[a-z]", c) for c in fillers)


def test_a_filler_is_bounded_and_counted_in_a_rows_memory():
    plain = b.categorical("title", TITLES, rare="__rare__")
    long = b.text("title", TITLES, filler="\\a" * 128)
    assert decode.table_bytes_per_row([long]) >= decode.table_bytes_per_row([plain]) + 4 * 128
    assert decode.decoding_bytes_per_row([long]) >= 32 * 128
    assert row_text_chars((long,)) >= 2 * 128
    plain_map = long.to_plain()
    for bad in ("a" * 129, "", "ab\\", None, 7):
        with pytest.raises(MalformedHeader):
            Column.from_plain(Fields({**plain_map, "filler": bad}, "column"))
    with pytest.raises(MalformedHeader):
        Column.from_plain(Fields({**plain_map, "rare_label": None}, "column"))
    assert Column.from_plain(Fields(plain_map, "column")) == long
    assert "filler" not in plain.to_plain()  # a column without one is written as in 1.0


def test_two_text_generators_aggregate_to_the_union_of_frequent_values():
    east = b.generator([b.text("title", ["Up", "Heat"])], owner="east", seed=5,
                       bias=[0.0, 0.0, 1.0])
    west = b.generator([b.text("title", ["Jaws", "Up"], filler="w-99999")], owner="west",
                       seed=6, bias=[0.0, 0.0, 1.0])
    mix = aggregate([east, west], weights="equal", source_column="source")
    title = next(c for c in mix.columns if c.name == "title")
    assert title.categories == ("Up", "Heat", "Jaws") and title.filler is not None
    frame = mix.sample(4000, seed=3).to_pandas()
    from_east = frame.loc[frame["source"] == "east", "title"]
    from_west = frame.loc[frame["source"] == "west", "title"]
    # each owner's rare rows keep that owner's fillers; frequent values are united
    assert set(from_east) - {"Up", "Heat"} and all(
        FILLER.fullmatch(t) for t in set(from_east) - {"Up", "Heat"})
    assert set(from_west) - {"Jaws", "Up"} and all(
        re.fullmatch(r"w-\d{5}", t) for t in set(from_west) - {"Jaws", "Up"})
    assert "Jaws" not in set(from_east) and "Heat" not in set(from_west)


def test_a_text_column_meets_a_categorical_one():
    text = b.generator([b.text("title", ["Up"])], owner="a", seed=7, bias=[0.0, 1.0])
    plain = b.generator([b.categorical("title", ["Heat"], rare="__rare__")], owner="c",
                        seed=8, bias=[0.0, 1.0])
    frame = aggregate([text, plain], weights="equal", source_column="source").sample(
        3000, seed=4).to_pandas()
    from_text = set(frame.loc[frame["source"] == "a", "title"])
    from_plain = set(frame.loc[frame["source"] == "c", "title"])
    assert "__rare__" not in from_text and from_text - {"Up"}
    assert from_plain <= {"Heat", "__rare__"}  # that owner's rare rows stay its rare label


def test_inspect_shows_a_text_column():
    from provisioner.inspection import column_line, short_column

    column = dataclasses.replace(b.text("title", TITLES), filler="\u202eaa")
    assert column_line(column).startswith("text, 3 frequent values + fillers \\u202eaa")
    assert short_column(column) == "text 3 + fillers"
    assert np.all(decode.category_labels(column)[:3] == list(TITLES))
