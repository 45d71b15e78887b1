"""Audit the trainer's DP claim empirically, in one training run per row.

    python scripts/audit_dp.py [--data adult.csv] [--epsilon 1] [--canaries 100000]

Trains the real trainer once honestly and once per negative control (the
plan with one field replaced: clipping off, noise / 10, shuffled fixed-size
batches, metadata read from the raw data), each with gradient and row
canaries (``trainer.audit``), and prints the ε lower bound at 95% beside
the claimed ε. The honest bound must stay at or below the claim; every
control must be flagged (bound above the claim). Defaults: adult's benchmark
training split, ε = 1, the default recipe, 100,000 gradient canaries.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# UCI Adult as shipped with the repository (the same 32,561 rows)
DEFAULT = ROOT / "examples" / "adult.csv.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--canaries", type=int, default=100_000, help="gradient canaries")
    parser.add_argument("--row-canaries", type=int, default=200)
    parser.add_argument("--controls", nargs="*", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from trainer.audit import CONTROLS, AuditSettings, run_audit
    from trainer.config import PrivacyConfig, TrainConfig

    frame = pd.read_csv(args.data, keep_default_na=False, na_values=[""])
    if len(frame) == 32561:  # adult: the benchmark training split
        frame = frame.iloc[np.random.default_rng(0).permutation(32561)[:26048]]
    frame = frame.reset_index(drop=True)
    config = TrainConfig(privacy=PrivacyConfig(epsilon=args.epsilon))
    settings = AuditSettings(gradient_canaries=args.canaries, row_canaries=args.row_canaries,
                             seed=args.seed)
    print(f"data {args.data} ({len(frame)} rows), claimed epsilon {args.epsilon:g}, "
          f"{args.canaries} gradient + {args.row_canaries} row canaries, seed {args.seed}")
    print(f"{'run':<13} {'claimed eps':>11} {'lower bound':>11} {'gradient r/v':>13} "
          f"{'rows r/v':>9} {'steps':>5} {'verdict':<22} {'seconds':>7}")
    failures = 0
    started = time.perf_counter()
    for control in args.controls or CONTROLS:
        r = run_audit(frame, config, control=control, settings=settings)
        expected = control != "honest"
        ok = r.flagged == expected
        failures += not ok
        verdict = ("flagged" if r.flagged else "consistent with claim") + ("" if ok else " (!)")
        print(f"{control:<13} {r.claimed_epsilon:>11.4f} {r.lower_bound:>11.3f} "
              f"{r.gradient.right:>6}/{r.gradient.guesses:<6} {r.rows.right:>4}/{r.rows.guesses:<4} "
              f"{r.steps:>5} {verdict:<22} {r.seconds:>7.1f}", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s; "
          + ("every control flagged, honest run within its claim" if not failures
             else f"{failures} unexpected result(s)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
