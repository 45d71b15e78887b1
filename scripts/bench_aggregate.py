"""How good is a mixture of owners' generators? Adult, each generator at ε = 1.

    python scripts/bench_aggregate.py [--data PATH] [--runs 3] [--epsilon 1] [--no-dp]

The benchmark split of adult (``perm = numpy.random.default_rng(0)
.permutation(32561)``; ``perm[:26048]`` train, the rest holdout) is the
pooled real table. Owners each hold part of it:

* random split: two owners, each a random half of the pooled rows;
* split by ``sex``: one owner holds the men, the other the women (the two
  tables have different distributions, even different category lists).

Every generator (the pooled one, and each owner's) is trained at the same
(ε, δ); the mixtures are ``provisioner.aggregate([...], weights="rows")``.
All are asked for 26,048 rows and scored against the pooled real data with
``trainer.evaluate`` (1-way and 2-way TVD, TSTR AUC for ``income`` on the
holdout). Each run retrains everything (DP noise differs run to run); the
table shows the mean and, in brackets, the range over runs. The last lines
check the sex split's row mix against the owners' DP row counts.
``--no-dp`` trains every generator without DP (weights ``equal`` then, as
no row count is released): what is left of the gap to the pooled generator
is the cost of mixing itself rather than of DP noise on smaller tables.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "adult.csv"
FALLBACK_DATA = ROOT / "examples" / "adult.csv.gz"
TRAIN_ROWS = 26048
DELTA = 1e-5
TARGET = "income"


def load_split(path: Path) -> tuple[Any, Any]:
    import pandas as pd

    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    perm = np.random.default_rng(0).permutation(len(frame))
    return (frame.iloc[perm[:TRAIN_ROWS]].reset_index(drop=True),
            frame.iloc[perm[TRAIN_ROWS:]].reset_index(drop=True))


def fit(table: Any, owner: str, epsilon: float | None) -> Any:
    """A verified Generator trained on ``table``, as a lab would load it."""
    from provisioner.bundle import decode_bundle
    from provisioner.generator import Generator
    from provisioner.keys import SigningKey, TrustedKey, TrustStore
    from trainer.config import PrivacyConfig, TrainConfig
    from trainer.train import train

    privacy = (PrivacyConfig(enabled=False) if epsilon is None
               else PrivacyConfig(epsilon=epsilon, delta=DELTA))
    config = TrainConfig(privacy=privacy, owner=owner, name=owner)
    key = SigningKey.generate(owner)
    data = train(table, config).to_bytes(key)
    trust = TrustStore([TrustedKey(key.public_key, owner, "bench")])
    return Generator.from_opened(decode_bundle(data, trust=trust))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path,
                        default=DEFAULT_DATA if DEFAULT_DATA.exists() else FALLBACK_DATA)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--no-dp", action="store_true", help="train without DP (reference)")
    args = parser.parse_args()
    epsilon = None if args.no_dp else args.epsilon
    weights = "equal" if args.no_dp else "rows"
    warnings.filterwarnings("ignore")
    from provisioner.aggregate import aggregate
    from trainer.evaluate import report

    train, holdout = load_split(args.data)
    halves = np.random.default_rng(1).permutation(len(train))
    owners = {
        "random A": train.iloc[np.sort(halves[: len(train) // 2])],
        "random B": train.iloc[np.sort(halves[len(train) // 2:])],
        "men": train[train["sex"] == "Male"],
        "women": train[train["sex"] == "Female"],
    }
    print(f"adult: pooled {len(train):,} train / {len(holdout):,} holdout rows; owners: "
          + ", ".join(f"{k} {len(v):,}" for k, v in owners.items())
          + ("; every generator WITHOUT DP" if args.no_dp
             else f"; every generator at eps={args.epsilon:g}, delta={DELTA:g}"), flush=True)
    names = ["pooled", "random A alone", "random B alone", "mixture random A+B",
             "men alone", "women alone", "mixture men+women"]
    scores: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
    mixes = []
    for run in range(args.runs):
        start = time.perf_counter()
        gens = {"pooled": fit(train, "pooled", epsilon)}
        gens.update({k: fit(v, k.replace(" ", "-"), epsilon) for k, v in owners.items()})
        random_mix = aggregate([gens["random A"], gens["random B"]], weights=weights)
        sex_mix = aggregate([gens["men"], gens["women"]], source_column="source",
                            weights=weights if not args.no_dp else [len(owners["men"]),
                                                                    len(owners["women"])])
        sources = {"pooled": gens["pooled"], "random A alone": gens["random A"],
                   "random B alone": gens["random B"], "mixture random A+B": random_mix,
                   "men alone": gens["men"], "women alone": gens["women"],
                   "mixture men+women": sex_mix}
        for name, source in sources.items():
            synthetic = source.sample(TRAIN_ROWS, seed=run + 1)
            frame = synthetic.to_pandas()
            if name == "mixture men+women":
                share = float(np.mean(frame["source"] == sex_mix.labels[0]))
                mixes.append((share, float(sex_mix.weights[0]),
                              len(sex_mix.columns) - 1, len(train.columns)))
                frame = frame.drop(columns="source")
            metrics = report(frame, train, holdout, target=TARGET)
            scores[name].append((metrics["tvd_1way"], metrics["tvd_2way"],
                                 metrics["tstr_auc"]))
        print(f"run {run + 1}/{args.runs}: 5 fits and 7 samples in "
              f"{time.perf_counter() - start:.0f} s", flush=True)

    def cell(values: list[float], digits: int = 4) -> str:
        mean = float(np.mean(values))
        if len(values) == 1:
            return f"{mean:.{digits}f}"
        return f"{mean:.{digits}f} [{min(values):.3f}-{max(values):.3f}]"

    pooled = np.array(scores["pooled"])
    print(f"\n{'generator (scored on pooled real)':<34}{'1-way TVD':>24}{'2-way TVD':>24}"
          f"{'TSTR AUC':>24}{'d2-way':>9}{'dTSTR':>9}")
    for name in names:
        values = np.array(scores[name])
        gap = values.mean(axis=0) - pooled.mean(axis=0)
        print(f"{name:<34}{cell(values[:, 0]):>24}{cell(values[:, 1]):>24}"
              f"{cell(values[:, 2]):>24}{gap[1]:>+9.4f}{gap[2]:>+9.4f}")
    print("(d2-way, dTSTR: mean difference to the pooled generator; lower TVD and higher "
          "TSTR are better)")
    for share, weight, columns, expected in mixes:
        print(f"men+women row mix: men {share:.4f} of rows, weight from the row counts "
              f"{weight:.4f} "
              f"(relative difference {abs(share - weight) / weight:.2%}); union schema "
              f"{columns} of {expected} columns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
