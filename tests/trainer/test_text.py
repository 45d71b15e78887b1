"""Declared text columns: frequent values by partition selection, fillers for
the rest, and no raw rare value in the bundle or the output.

Releases run with seeded noise (``NoiseSource(rng)``) and are decoded with
provisioner.decode, so what is tested is what ships."""

from __future__ import annotations

import re

import numpy as np
import pytest

import provisioner
from provisioner.decode import decode_column
from provisioner.errors import SchemaFileError
from trainer.declarations import Declarations
from trainer.derive import TEXT_FILLER, derive_metadata
from trainer.intake import exact_types
from trainer.load import RawTable
from trainer.releases import MetadataNoise, MetadataOptions, NoiseSource, plan_needs

NOISE = MetadataNoise(100.0, vocab_sigma=20.0, range_sigma=30.0, grid_sigma=20.0,
                      threshold_delta=1e-9)
TEXT = Declarations.from_plain({"columns": {"title": {"kind": "text"}}})
PLANTED = "Zyzzyva: the secret diary of row 1234"
N = 6000
SHAPE = re.compile(r"[a-z]{3} [a-z]{4} [a-z]{5} \d{4} [a-z]{2} [a-z]{6}")


def titles(rng: np.random.Generator, n: int = N) -> list[str]:
    """30% 'Heat', 20% 'Up', the rest unique prose titles; one planted title."""
    u = rng.random(n)
    out = [("Heat" if x < 0.3 else "Up" if x < 0.5 else f"the long night {i} of winter")
           for i, x in enumerate(u)]
    out[1234] = PLANTED
    return out


def derive(cells: list[str], declared: Declarations = TEXT, seed: int = 3):
    table = exact_types(RawTable.from_text({"title": cells}, "test"), declared)
    return derive_metadata(table, declared, NOISE, MetadataOptions(), table.num_rows,
                           NoiseSource(np.random.default_rng(seed)))


def test_a_declared_text_column_keeps_frequent_values_and_fills_the_rest():
    derived = derive(titles(np.random.default_rng(0)))
    column = derived.schema.column("title")
    assert column.kind == "categorical" and column.value_type == "string"
    assert set(column.categories) == {"Heat", "Up"} and column.rare_label is not None
    # each unique title is rare, but most share one shape, which is released
    assert column.filler == "aaa aaaa aaaaa 9999 aa aaaaaa"
    # the model's ideal: tokens drawn as often as the released counts say
    counts = np.maximum(derived.marginals["title"].counts, 0)
    tokens = np.random.default_rng(1).choice(len(counts), 20_000, p=counts / counts.sum())
    values = decode_column(column, tokens, np.random.default_rng(2)).tolist()
    # noise σ=20 on 1,800 and 1,200 rows, 20k draws: off by 0.02 is > 5 sd
    assert abs(values.count("Heat") / len(values) - 0.3) < 0.02
    assert abs(values.count("Up") / len(values) - 0.2) < 0.02
    fillers = [v for v in values if v not in ("Heat", "Up")]
    assert abs(len(fillers) / len(values) - 0.5) < 0.02
    assert all(SHAPE.fullmatch(v) for v in fillers)
    assert PLANTED not in values and "__rare__" not in values


def test_without_a_common_shape_the_filler_is_the_public_form():
    rng = np.random.default_rng(4)
    words = np.array(list("abcdefghij"))
    prose = ["".join(rng.choice(words, rng.integers(3, 30))) + " " * int(rng.integers(0, 4))
             + "X" * int(rng.integers(0, 3)) for _ in range(3000)]
    column = derive(prose).schema.column("title")
    assert column.filler == TEXT_FILLER
    out = decode_column(column, np.full(50, column.rare_token), np.random.default_rng(0))
    assert all(re.fullmatch(r"text-[a-z]{8}", v) for v in out)


def test_a_shape_that_few_of_the_rare_rows_have_is_not_the_filler():
    """One shape for 17% of the unreleased rows survives selection (500 rows,
    noise σ=20) but would misdescribe the other 80%: the public form is used."""
    rng = np.random.default_rng(7)
    words = np.array(list("abcdefghij"))
    cells = ["Heat" if i % 2 else f"Film{i}" if i % 10 == 0 else
             "".join(rng.choice(words, rng.integers(3, 30))) + " " * int(rng.integers(0, 4))
             for i in range(6000)]
    derived = derive(cells)
    column = derived.schema.column("title")
    assert column.filler == TEXT_FILLER and "Heat" in column.categories
    from trainer.releases import run_stage_a  # the shape itself was released
    table = exact_types(RawTable.from_text({"title": cells}, "test"), TEXT)
    stage_a = run_stage_a(table, TEXT, plan_needs(table, TEXT), NOISE, MetadataOptions(),
                          table.num_rows, NoiseSource(np.random.default_rng(3)))
    assert stage_a.patterns["title"] == "Aaaa9999"


def test_a_declared_pattern_is_the_filler_and_costs_no_shape_histogram():
    declared = Declarations.from_plain({"columns": {"title": {"kind": "text",
                                                              "pattern": "T-9999"}}})
    cells = titles(np.random.default_rng(0), 3000)
    table = exact_types(RawTable.from_text({"title": cells}, "test"), declared)
    needs = plan_needs(table, declared)
    assert needs.shapes == () and needs.selections == 1 and needs.vocab_histograms == 1
    assert derive(cells, declared).schema.column("title").filler == "T-9999"
    free = plan_needs(exact_types(RawTable.from_text({"title": cells}, "test"), TEXT), TEXT)
    # a released shape is one more histogram at σ_vocab and one more selection
    assert free.shapes == ("title",) and free.selections == 2 and free.vocab_histograms == 2


def test_a_text_column_takes_string_values_only():
    with pytest.raises(SchemaFileError, match="value_type"):
        Declarations.from_plain({"columns": {"t": {"kind": "text", "value_type": "integer"}}})


def test_a_categorical_column_that_comes_out_mostly_rare_suggests_text():
    cells = titles(np.random.default_rng(0))
    categorical = Declarations.from_plain({"columns": {"title": {"kind": "categorical"}}})
    (notice,) = [n for n in derive(cells, categorical).notices if "'title'" in n]
    assert 'kind = "text"' in notice
    assert not [n for n in derive(cells).notices if "'title'" in n]


@pytest.mark.slow
def test_a_trained_text_column_never_shows_a_rare_value(tmp_path, tiny_config):
    """End to end: train, sign, load, sample. The planted title is held by one
    row: partition selection keeps it with probability below δ (1e-9 here)."""
    import pandas as pd

    from tests.provisioner.builders import key, trust
    from trainer.train import train

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"title": titles(rng, 3000),
                          "year": [str(v) for v in rng.integers(1950, 2020, 3000)]})
    bundle = train(frame, tiny_config, declarations=TEXT)
    signer = key("text")
    path = tmp_path / "films.hzg"
    bundle.save(path, signer)
    assert PLANTED.encode() not in path.read_bytes()
    gen = provisioner.load(path, trust=trust(signer))
    out = gen.sample(20_000, seed=1).to_pandas()
    values = out["title"].tolist()
    assert PLANTED not in values and "__rare__" not in values
    assert 0.2 < values.count("Heat") / len(values) < 0.4
    assert all(v in ("Heat", "Up") or SHAPE.fullmatch(v) or re.fullmatch(r"text-[a-z]{8}", v)
               for v in values)
    real_titles = set(frame["title"])
    assert {v for v in values if v not in ("Heat", "Up")} - real_titles  # made up


def test_the_draft_suggests_text_for_mostly_unique_prose():
    from trainer.declarations import draft_schema

    rng = np.random.default_rng(6)
    cells = {"title": titles(rng, 3000),
             "city": [str(v) for v in rng.choice(["Paris", "Lyon"], 3000)],
             "code": [f"K{i:05d}" for i in range(3000)]}
    draft = draft_schema(exact_types(RawTable.from_text(cells, "test")))
    sections = {part.split("]")[0]: part for part in draft.split("[columns.")[1:]}
    assert 'kind = "text"' in sections['"title"']
    assert 'kind = "categorical"' in sections['"city"']
    assert 'kind = "id"' in sections['"code"']  # unique, but no spaces: an identifier
    parsed = Declarations.from_plain(__import__("tomllib").loads(draft))
    assert parsed.get("title").kind == "text"


def test_typing_decides_text_from_noisy_counts_of_prose():
    """Unique prose in 80% of cells: text; unique codes: id; a few cities:
    categorical. Counts carry noise σ=30 (3,000 rows): the prose share is
    0.8 ± 0.014, 21 sd above the 0.5 bar, so no seed fails in practice."""
    from trainer.cells import cell_classes
    from trainer.column_types import decide_type
    from trainer.declarations import ColumnDeclaration

    rng = np.random.default_rng(8)
    n = 3000
    raw = RawTable.from_text({
        "remark": ["Heat" if x < 0.2 else f"seen {i} times by the crew"
                   for i, x in enumerate(rng.random(n))],
        "code": [f"K{i:05d}" for i in range(n)],
        "city": [str(v) for v in rng.choice(["New York", "Paris", "Lyon"], n)],
    }, "test")
    expected = {"remark": "text", "code": "id", "city": "categorical"}
    for seed in range(20):
        noise = np.random.default_rng(seed)
        for column in raw.columns:
            counts = cell_classes(column.storage, column.cells, column.null)
            noisy = counts + noise.normal(0, 30.0, len(counts))
            decided = decide_type(column.name, column, ColumnDeclaration(column.name), noisy,
                                  30.0, n)
            assert decided.kind == expected[column.name], (seed, column.name)
