"""The example schema file is valid and true of the example data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trainer.declarations import Declarations

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_adult_schema_declares_what_the_example_data_holds():
    declared = Declarations.load(EXAMPLES / "adult.schema.toml")
    frame = pd.read_csv(EXAMPLES / "adult.csv.gz", keep_default_na=False, na_values=[""])
    for name in frame.columns:
        d = declared.get(name)
        values = frame[name].dropna()
        if d.categories is not None:
            assert set(values) <= set(d.categories), name  # rare = false: a closed list
        if d.bounds is not None:
            assert d.bounds[0] <= values.min() and values.max() <= d.bounds[1], name
    assert declared.get("education-num").determined_by == "education"
    mapping = frame.groupby("education")["education-num"].nunique()
    assert (mapping == 1).all()  # the declared dependency holds in the data
