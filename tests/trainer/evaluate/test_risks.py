"""Singling out, linkability and inference against hand-worked attacks, and
the risk arithmetic against anonymeter's (run in its own venv: see
scripts/anonymeter_reference.py)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from tests.conftest import ROOT
from tests.trainer.evaluate.conftest import frames_of
from trainer.evaluate.frames import align
from trainer.evaluate.risks import (
    Risk,
    inference_risk,
    linkability_risk,
    residual_risk,
    singling_out_risk,
    wilson_rate,
)

REFERENCE = ROOT / "tests" / "trainer" / "evaluate" / "anonymeter_reference.json"


def test_wilson_rate_by_hand():
    # z = 1.96, z² = 3.8415: (50 + 1.9207) / 103.8415 = 0.5;
    # error = 1.96 / 103.8415 · sqrt(25 + 0.9604) = 0.09617
    rate, error = wilson_rate(100, 50)
    assert rate == pytest.approx(0.5)
    assert error == pytest.approx(0.09617, abs=1e-5)


def test_residual_risk_by_hand():
    # (0.6 − 0.2) / (1 − 0.2) = 0.5; error sqrt((0.05/0.8)² + (0.04·(−0.4)/0.64)²)
    value, error = residual_risk((0.6, 0.05), (0.2, 0.04))
    assert value == pytest.approx(0.5)
    assert error == pytest.approx(math.sqrt(0.0625**2 + 0.025**2))


def test_singling_out_a_table_of_unique_values():
    # Every row has its own value of c: each predicate "c == v" drawn from the
    # synthetic rows (a copy of the training rows) singles out one training
    # row and no control row, so 20 of 20 attacks succeed and 0 of 20 on
    # the control: attack rate (20 + 1.92)/23.84, control rate 1.92/23.84.
    train = {"c": [f"v{i}" for i in range(20)]}
    control = {"c": [f"w{i}" for i in range(20)]}
    risk = singling_out_risk(frames_of(train, control, train, {"c": "categorical"}), n_cols=1)
    assert risk.attacks == 20
    assert risk.attack_rate == pytest.approx(wilson_rate(20, 20)[0])
    assert risk.control_rate == pytest.approx(wilson_rate(20, 0)[0])
    assert risk.value == pytest.approx((0.9195 - 0.0805) / (1 - 0.0805), abs=1e-3)


def test_linkability_by_hand():
    # synthetic = training rows (i, i); the attacker links a row when its
    # nearest synthetic row is the same on column a and on column b: always
    # for training rows, never for control rows (i, 3 − i) with i ≠ 3 − i.
    train = {"a": [0.0, 1.0, 2.0, 3.0], "b": [0.0, 1.0, 2.0, 3.0]}
    control = {"a": [0.0, 1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0, 0.0]}
    kinds = {"a": "numeric", "b": "numeric"}
    risk = linkability_risk(frames_of(train, control, train, kinds), aux=(["a"], ["b"]))
    assert risk.attacks == 4
    assert risk.attack_rate == pytest.approx(wilson_rate(4, 4)[0])
    assert risk.control_rate == pytest.approx(wilson_rate(4, 0)[0])


def test_inference_by_hand():
    # the nearest synthetic row on a carries the training row's own secret,
    # and the other secret for each control row
    train = {"a": [0.0, 1.0, 2.0, 3.0], "s": list("xyxy")}
    control = {"a": [0.0, 1.0, 2.0, 3.0], "s": list("yxyx")}
    kinds = {"a": "numeric", "s": "categorical"}
    risk = inference_risk(frames_of(train, control, train, kinds), "s")
    assert (risk.attacks, risk.attack_rate, risk.control_rate) == (
        4, pytest.approx(wilson_rate(4, 4)[0]), pytest.approx(wilson_rate(4, 0)[0]))
    numbers = {"a": [0.0, 1.0, 2.0, 3.0], "s": [100.0, 200.0, 300.0, 400.0]}
    near = {"a": [0.0, 1.0, 2.0, 3.0], "s": [104.0, 190.0, 330.0, 400.0]}  # within 5%: 3
    numeric = inference_risk(frames_of(near, numbers, numbers, {"a": "numeric",
                                                                 "s": "numeric"}), "s")
    assert numeric.attack_rate == pytest.approx(wilson_rate(4, 3)[0])


def test_the_same_counts_and_risks_as_anonymeter():
    # Tables and anonymeter's results recorded by scripts/anonymeter_reference.py
    # (anonymeter 1.1.0 in its own venv; it pins numpy below 2).
    ref = json.loads(REFERENCE.read_text())
    tables = {k: pd.DataFrame(v) for k, v in ref["tables"].items()}
    kinds = ref["kinds"]
    frames = align(tables["ori"], tables["control"], tables["syn"], kinds)
    n = len(tables["ori"])
    link = linkability_risk(frames, aux=tuple(ref["aux_cols"]), attacks=n)
    for name, got in (("linkability", link),
                      ("inference", inference_risk(frames, ref["secret"], attacks=n))):
        want = ref[name]
        assert _count(got.attack_rate, n) == want["n_success"], name
        assert _count(got.control_rate, n) == want["n_control"], name
        assert got.value == pytest.approx(want["risk"], abs=1e-9), name
        assert (got.ci_low, got.ci_high) == pytest.approx(want["ci"], abs=1e-9), name
    for case in ref["risk_arithmetic"]:
        got = Risk.from_counts(case["n"], case["success"], case["control"], case["baseline"])
        assert got.value == pytest.approx(case["risk"], abs=1e-12)
        assert (got.ci_low, got.ci_high) == pytest.approx(case["ci"], abs=1e-12)


def _count(rate: float, n: int) -> int:
    """Invert the Wilson point estimate back to the success count."""
    z2 = 1.959963984540054**2
    return round(rate * (n + z2) - 0.5 * z2)
