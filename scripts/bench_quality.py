"""Fidelity and privacy of synthetic adult data: HZG beside baselines and peers.

    python scripts/bench_quality.py [--data PATH] [--epsilons 1 3] [--runs 1]
                                    [--peers mst aim dpctgan ctgan] [--no-peers]

Split (documented in shared/data/README.md): ``perm =
numpy.random.default_rng(0).permutation(32561)``; rows ``perm[:26048]`` train,
the rest are the holdout. Every generator is fitted on the training part and
asked for 26,048 rows; metrics are those of ``trainer.evaluate`` (numeric
columns in 20 quantile bins of the real training part). Peers run only when
installed (scripts/peers.py: smartnoise-synth for MST/AIM/DP-CTGAN, sdv for
CTGAN/TVAE, in a separate venv when they cannot share ours), in the same run,
on the same split, with their default settings. "solo" counts synthetic rows
holding a category that a single training row holds (a privacy leak).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "adult.csv"
FALLBACK_DATA = ROOT / "examples" / "adult.csv.gz"
TARGET = "income"
TRAIN_ROWS = 26048
DELTA = 1e-5


def load_split(path: Path) -> tuple[Any, Any]:
    import pandas as pd

    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    perm = np.random.default_rng(0).permutation(len(frame))
    return (frame.iloc[perm[:TRAIN_ROWS]].reset_index(drop=True),
            frame.iloc[perm[TRAIN_ROWS:]].reset_index(drop=True))


def hzg_fitter(epsilon: float | None) -> Callable[[Any, int], tuple[Any, float]]:
    def fit_sample(train: Any, n: int) -> tuple[Any, float]:
        from provisioner.bundle import decode_bundle
        from provisioner.generator import Generator
        from provisioner.keys import SigningKey, TrustedKey, TrustStore
        from trainer.config import PrivacyConfig, TrainConfig
        from trainer.train import train as hzg_train

        privacy = (PrivacyConfig(enabled=False) if epsilon is None
                   else PrivacyConfig(epsilon=epsilon, delta=DELTA))
        start = time.perf_counter()
        bundle = hzg_train(train, TrainConfig(privacy=privacy))
        fit = time.perf_counter() - start
        key = SigningKey.generate("bench")
        opened = decode_bundle(bundle.to_bytes(key),
                               trust=TrustStore([TrustedKey(key.public_key, "b", "m")]))
        return Generator.from_opened(opened).sample(n, seed=1).to_pandas(), fit

    return fit_sample


def independent_columns(train: Any, n: int) -> tuple[Any, float]:
    rng = np.random.default_rng(1)
    return train.apply(lambda c: c.sample(n, replace=True, random_state=rng).to_numpy()), 0.0


def real_train(train: Any, n: int) -> tuple[Any, float]:
    return train, 0.0


def peer_fitter(peer: str, epsilon: float | None) -> Callable[[Any, int], tuple[Any, float]]:
    """A peer from scripts/peers.py (its own venv when it cannot live in ours)."""
    def fit_sample(train: Any, n: int) -> tuple[Any, float]:
        from scripts import peers

        result = peers.fit_and_sample(peer, train, n, epsilon=epsilon, delta=DELTA, seed=0)
        return result.frame, result.fit_seconds

    return fit_sample


def singleton_rows(synthetic: Any, train: Any) -> int:
    """Synthetic rows holding a category that exactly one training row holds.

    Such a value can only come from reading the data without privacy; a DP
    vocabulary keeps it with probability at most delta.
    """
    count = 0
    for column in train.columns:
        if train[column].dtype.kind in "if":
            continue
        counts = train[column].value_counts()
        singles = set(counts.index[counts == 1])
        if singles and column in synthetic:
            count += int(synthetic[column].isin(singles).sum())
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path,
                        default=DEFAULT_DATA if DEFAULT_DATA.exists() else FALLBACK_DATA)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--runs", type=int, default=1, help="HZG fits per epsilon")
    parser.add_argument("--peers", nargs="*", default=["mst", "aim", "dpctgan", "ctgan"],
                        help="peers from scripts/peers.py (mst aim dpctgan ctgan tvae)")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-dp-reference", action="store_true",
                        help="skip HZG without DP")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from trainer.evaluate import report

    train, holdout = load_split(args.data)
    candidates: list[tuple[str, Callable[[Any, int], tuple[Any, float]] | None]] = [
        ("real training data", real_train),
        ("independent columns", independent_columns),
    ]
    for eps in args.epsilons:
        for run in range(args.runs):
            candidates.append((f"HZG eps={eps:g}" + (f" #{run + 1}" if args.runs > 1 else ""),
                               hzg_fitter(eps)))
    if not args.no_dp_reference:
        candidates.append(("HZG without DP", hzg_fitter(None)))
    if not args.no_peers:
        from scripts import peers

        available = peers.available_peers()
        for peer in args.peers:
            label = "smartnoise" if peer in peers.DP_PEERS else "SDV (no DP)"
            for eps in (args.epsilons if peer in peers.DP_PEERS else [None]):
                name = f"{label} {peer}" + ("" if eps is None else f" eps={eps:g}")
                missing = available.get(peer, "missing").startswith("missing")
                candidates.append((name, None if missing else peer_fitter(peer, eps)))

    header = (f"{'generator':<28}{'1-way':>8}{'2-way':>8}{'assoc':>8}{'TSTR':>8}"
              f"{'DCR':>7}{'copies':>9}{'solo':>6}{'fit s':>8}")
    print(f"adult: {len(train)} train / {len(holdout)} holdout rows, delta={DELTA:g}, "
          f"target {TARGET}")
    print(header)
    print("-" * len(header))
    for name, fit_sample in candidates:
        if fit_sample is None:
            print(f"{name:<28}  (not installed)")
            continue
        synthetic, fit = fit_sample(train, TRAIN_ROWS)
        if name == "real training data":
            metrics = report(train, train, holdout, target=TARGET)
            metrics["dcr_share"] = float("nan")
            metrics["exact_copy_rate"] = report(holdout, train, holdout)["exact_copy_rate"]
            name = "real train (copies: holdout)"
        else:
            metrics = report(synthetic, train, holdout, target=TARGET)
        print(f"{name:<28}{metrics['tvd_1way']:>8.4f}{metrics['tvd_2way']:>8.4f}"
              f"{metrics['assoc_diff']:>8.4f}{metrics['tstr_auc']:>8.4f}"
              f"{metrics['dcr_share']:>7.3f}{metrics['exact_copy_rate']:>9.5f}"
              f"{singleton_rows(synthetic, train):>6d}{fit:>8.1f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
