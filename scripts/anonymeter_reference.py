"""Record anonymeter's results on fixed tables, for tests/trainer/evaluate/test_risks.py.

anonymeter holds numpy below 2, so it cannot be installed beside HZG; run
this in a venv of its own and commit the JSON it writes::

    python3 -m venv /tmp/venv-anon && /tmp/venv-anon/bin/pip install anonymeter==1.1.0
    /tmp/venv-anon/bin/python scripts/anonymeter_reference.py

The tables are small and tie-free (continuous numbers), so anonymeter's
attacks on every row are deterministic and our implementation must give the
same success counts and the same risk and interval.
"""

from __future__ import annotations

import json
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent.parent / "tests" / "trainer" / "evaluate" / \
    "anonymeter_reference.json"


def table(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    x = rng.normal(0, 1, n)
    return pd.DataFrame({
        "x": (x + shift).round(6),
        "y": (2 * x + rng.normal(0, 0.5, n)).round(6),
        "z": rng.gamma(2.0, 3.0, n).round(6),
        "c": np.where(x + rng.normal(0, 0.7, n) > 0, "hi", "lo"),
        "d": rng.choice(["p", "q", "r"], n),
    })


def main() -> int:
    from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator
    from anonymeter.stats.confidence import EvaluationResults

    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(20231)
    ori, control = table(rng, 60, 0.0), table(rng, 60, 0.0)
    # a generator that half-memorises: half copied rows, half fresh ones
    syn = pd.concat([ori.iloc[:30], table(rng, 90, 0.1)], ignore_index=True)
    aux = (["x", "c"], ["y", "z", "d"])
    n = len(ori)
    link = LinkabilityEvaluator(ori=ori, syn=syn, control=control, aux_cols=aux,
                                n_attacks=n).evaluate(n_jobs=1)
    inference = InferenceEvaluator(ori=ori, syn=syn, control=control,
                                   aux_cols=["x", "y", "z", "d"], secret="c",
                                   n_attacks=n).evaluate(n_jobs=1)

    def record(evaluator):
        res = evaluator.results()
        risk = res.risk()
        return {"n_success": int(res.n_success), "n_control": int(res.n_control),
                "risk": risk.value, "ci": list(risk.ci)}

    cases = []
    for n_att, success, control_n, baseline in ((500, 120, 80, 10), (100, 3, 5, 1),
                                                (50, 50, 0, 2), (200, 77, 77, 9)):
        risk = EvaluationResults(n_attacks=n_att, n_success=success, n_baseline=baseline,
                                 n_control=control_n).risk()
        cases.append({"n": n_att, "success": success, "control": control_n,
                      "baseline": baseline, "risk": risk.value, "ci": list(risk.ci)})
    out = {
        "anonymeter": version("anonymeter"),
        "kinds": {"x": "numeric", "y": "numeric", "z": "numeric", "c": "categorical",
                  "d": "categorical"},
        "aux_cols": [list(a) for a in aux],
        "secret": "c",
        "tables": {k: v.to_dict("list") for k, v in
                   (("ori", ori), ("control", control), ("syn", syn))},
        "linkability": record(link),
        "inference": record(inference),
        "risk_arithmetic": cases,
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}: linkability {out['linkability']}, inference {out['inference']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
