"""One EvaluationResult from three tables; its plain form is what --json writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trainer.evaluate import evaluate
from trainer.evaluate.result import statement_in_words


def _table(rng, n):
    age = rng.integers(18, 80, n)
    return pd.DataFrame({
        "age": age,
        "sex": rng.choice(["F", "M"], n),
        "hours": rng.normal(40, 8, n).round(1),
        "income": np.where(age + rng.normal(0, 10, n) > 50, ">50K", "<=50K"),
    })


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    train, holdout, synthetic = _table(rng, 400), _table(rng, 200), _table(rng, 400)
    return evaluate(synthetic, train, holdout, target="income", sensitive=["sex"],
                    quasi_identifiers=["age", "sex"], attacks=100,
                    privacy={"dp": False, "epsilon": None, "delta": None})


def test_every_part_is_filled(result):
    assert set(result.fidelity.tvd_1way) == {"age", "sex", "hours", "income"}
    assert len(result.fidelity.worst_pairs) == 6  # all pairs of 4 columns
    assert result.target.metric == "roc_auc"
    assert set(result.inference) == {"sex", "income"}
    assert [g.group for g in result.bias["sex"]] == ["F", "M"] or \
        [g.group for g in result.bias["sex"]] == ["M", "F"]
    assert {t.column for t in result.tails} == {"age", "hours"}
    assert result.unique_real is not None
    # fresh rows from the same population: no privacy signal
    assert abs(result.distance.mia_auc - 0.5) < 0.1


def test_plain_form_is_json_and_carries_the_verdicts(result):
    plain = json.loads(json.dumps(result.to_plain(), allow_nan=False))
    assert plain["fidelity"]["tvd_1way_mean"] == result.fidelity.tvd_1way_mean
    areas = [v["area"] for v in plain["verdicts"]]
    assert areas[0] == "Differential privacy"
    assert plain["verdicts"][0]["status"] == "poor"  # the tables say dp: false
    assert "Predicting income" in areas and "Bias by sex" in areas
    assert "NOT differentially private" in plain["notice"]


def test_statement_in_words():
    words = statement_in_words({
        "dp": True, "epsilon": 1.0, "delta": 1e-6, "unit": "row", "accountant": "pld",
        "accountant_library": "dp-accounting 0.6.0",
        "phases": [{"name": "main", "epsilon": 1.0, "delta": 1e-6}],
        "mechanisms": [{"name": "dp-sgd", "phase": "main", "kind": "poisson_subsampled_gaussian",
                        "columns": [], "params": {"steps": 259, "sampling_probability": 0.077,
                                                  "clip_norm": 1.0, "noise_multiplier": 5.86}}]})
    assert words[0].startswith("Guarantee: (1, 1e-06)-differential privacy per row")
    assert "e^1 ≈ 2.72" in words[0]
    assert any(w.startswith("DP-SGD: 259 steps") for w in words)
    assert "WITHOUT" in statement_in_words({"dp": False})[0]


def test_unknown_columns_are_one_clear_error():
    from provisioner.errors import ConfigError

    rng = np.random.default_rng(1)
    t = _table(rng, 50)
    with pytest.raises(ConfigError, match="'salary' is not among"):
        evaluate(t, t, t, target="salary")
    with pytest.raises(ConfigError, match="give --target"):
        evaluate(t, t, t, sensitive=["sex"])


def test_a_text_column_is_evaluated_as_categorical():
    """Unique real titles against a text column's output (half frequent values,
    half fillers): nothing breaks, and its 1-way TVD is about the fillers' share."""
    rng = np.random.default_rng(1)

    def titled(n, fillers):
        table = _table(rng, n)
        frequent = rng.choice(["Heat", "Up"], n)
        made = np.array([f"{'text-' if fillers else 'the film '}{i}" for i in range(n)])
        table["title"] = np.where(rng.random(n) < 0.5, frequent, made)
        return table

    result = evaluate(titled(400, True), titled(400, False), titled(200, False),
                      target="income", attacks=50,
                      privacy={"dp": False, "epsilon": None, "delta": None})
    # real and synthetic share Heat/Up (about half the rows); fillers match no real title
    assert abs(result.fidelity.tvd_1way["title"] - 0.5) < 0.1
