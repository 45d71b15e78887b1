"""Fidelity and privacy of synthetic adult data: HZG beside baselines and peers.

    python scripts/bench_quality.py [--data PATH] [--epsilons 1 3] [--runs 1]
                                    [--peers dpmm-mst dpmm-aim mst ...] [--no-peers]
                                    [--schema FILE] [--baseline-root DIR]

Split (documented in shared/data/README.md): ``perm =
numpy.random.default_rng(0).permutation(32561)``; rows ``perm[:26048]`` train,
the rest are the holdout. Every generator is fitted on the training part and
asked for 26,048 rows; metrics are those of ``trainer.evaluate`` (numeric
columns in 20 quantile bins of the real training part). Peers run only when
installed (scripts/peers.py: smartnoise-synth for MST/AIM/DP-CTGAN, sdv for
CTGAN/TVAE, in a separate venv when they cannot share ours), in the same run,
on the same split, with their default settings (dpmm's AIM with bounded
rounds, see scripts/peers.py). "solo" counts synthetic rows holding a
category that a single training row holds (a privacy leak). "CPT" is
SDMetrics' QualityReport Column Pair Trends (numeric columns numerical, the
rest categorical; run in the peers venv when sdmetrics cannot live in
ours). "CPT*" averages the same pairs with both tables' numeric columns
binned on the real column's range (the report, sdmetrics 0.32, bins each
table on its own range, so a synthetic range one value short shifts every
bin). "FD" is the share of synthetic rows whose ``education-num`` is the
one every real row with their ``education`` has (a functional dependency of
the data; 1.0 for the real rows).

``--baseline-root DIR`` also fits HZG from another checkout (a worktree of
an earlier commit) in the same run; then both HZGs are fitted in worker
processes, alternating, so that their fit seconds compare. With ``--runs``
above 1 a "mean" row follows each group of fits.
"""

from __future__ import annotations

import argparse
import sys
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


def hzg_fitter(epsilon: float | None, schema: dict[str, Any] | None = None,
               root: str | None = None) -> Callable[[Any, int], tuple[Any, float]]:
    """HZG through scripts/hzg_runner.py (in a worker of ``root`` when given)."""
    def fit_sample(train: Any, n: int) -> tuple[Any, float]:
        from scripts.hzg_runner import fit_and_sample

        result = fit_and_sample(train, n, epsilon=epsilon, delta=DELTA, schema=schema,
                                root=root)
        return result.frame, result.fit_seconds

    return fit_sample


def dependency_share(synthetic: Any, train: Any, source: str = "education",
                     dependent: str = "education-num") -> float:
    """Share of synthetic rows whose ``dependent`` is the training rows' mode for
    their ``source`` value (rows with a source value unseen in training count
    as violations)."""
    if source not in train or dependent not in train:
        return float("nan")
    mapping = train.groupby(source)[dependent].agg(lambda s: s.mode().iloc[0])
    expected = synthetic[source].map(mapping)
    held = expected.notna() & (synthetic[dependent].astype(float)
                               == expected.astype(float))
    return float(held.mean())


def pair_trends(synthetic: Any, train: Any) -> tuple[float, float]:
    """SDMetrics Column Pair Trends as its report computes it, and over the
    same pairs with the real table's bins for both (see scripts/peers.py);
    NaN when sdmetrics is not installed anywhere."""
    from scripts import peers

    try:
        result = peers.column_pair_trends(train, synthetic)
    except peers.PeerUnavailable:
        return float("nan"), float("nan")
    return (float(result["column_pair_trends"]),
            float(result.get("column_pair_trends_shared_bins", float("nan"))))


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


def print_row(name: str, m: dict[str, float]) -> None:
    print(f"{name:<28}{m['tvd_1way']:>8.4f}{m['tvd_2way']:>8.4f}"
          f"{m['assoc_diff']:>8.4f}{m['tstr_auc']:>8.4f}{m['cpt']:>7.3f}"
          f"{m.get('cpt_shared', float('nan')):>7.3f}{m['fd']:>7.3f}"
          f"{m['dcr_share']:>7.3f}{m['exact_copy_rate']:>9.5f}"
          f"{int(round(m['solo'])):>6d}{m['fit']:>8.1f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path,
                        default=DEFAULT_DATA if DEFAULT_DATA.exists() else FALLBACK_DATA)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--runs", type=int, default=1, help="HZG fits per epsilon")
    parser.add_argument("--peers", nargs="*", default=["dpmm-mst", "dpmm-aim"],
                        help="peers from scripts/peers.py (dpmm-mst dpmm-aim mst aim "
                             "dpctgan ctgan tvae)")
    parser.add_argument("--schema", type=Path, help="a schema file of declarations for HZG")
    parser.add_argument("--baseline-root", default=None,
                        help="also fit HZG from this checkout, in the same run")
    parser.add_argument("--no-sdmetrics", action="store_true",
                        help="skip SDMetrics' Column Pair Trends")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-dp-reference", action="store_true",
                        help="skip HZG without DP")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from trainer.evaluate import report

    train, holdout = load_split(args.data)
    schema = None
    if args.schema is not None:
        from trainer.declarations import Declarations

        Declarations.load(args.schema)  # fail early on a bad file
        import tomllib
        import json as json_module

        text = args.schema.read_text(encoding="utf-8")
        schema = (json_module.loads(text) if args.schema.suffix == ".json"
                  else tomllib.loads(text))
    here = str(ROOT) if args.baseline_root else None
    candidates: list[tuple[str, Callable[[Any, int], tuple[Any, float]] | None]] = [
        ("real training data", real_train),
        ("independent columns", independent_columns),
    ]
    for eps in args.epsilons:
        for run in range(args.runs):
            suffix = f" #{run + 1}" if args.runs > 1 else ""
            candidates.append((f"HZG eps={eps:g}{suffix}", hzg_fitter(eps, schema, here)))
            if args.baseline_root:
                candidates.append((f"HZG@base eps={eps:g}{suffix}",
                                   hzg_fitter(eps, None, args.baseline_root)))
    if not args.no_dp_reference:
        candidates.append(("HZG without DP", hzg_fitter(None, schema, here)))
    if not args.no_peers:
        from scripts import peers

        available = peers.available_peers()
        for peer in args.peers:
            label = ("" if peer in peers.DPMM_PEERS else
                     "smartnoise" if peer in peers.DP_PEERS else "SDV (no DP)")
            for eps in (args.epsilons if peer in peers.DP_PEERS else [None]):
                name = f"{label} {peer}".strip() + ("" if eps is None else f" eps={eps:g}")
                missing = available.get(peer, "missing").startswith("missing")
                candidates.append((name, None if missing else peer_fitter(peer, eps)))

    header = (f"{'generator':<28}{'1-way':>8}{'2-way':>8}{'assoc':>8}{'TSTR':>8}"
              f"{'CPT':>7}{'CPT*':>7}{'FD':>7}{'DCR':>7}{'copies':>9}{'solo':>6}{'fit s':>8}")
    print(f"adult: {len(train)} train / {len(holdout)} holdout rows, delta={DELTA:g}, "
          f"target {TARGET}")
    print(header)
    print("-" * len(header))
    groups: dict[str, list[dict[str, float]]] = {}
    for name, fit_sample in candidates:
        if fit_sample is None:
            print(f"{name:<28}  (not installed)")
            continue
        try:
            synthetic, fit = fit_sample(train, TRAIN_ROWS)
        except Exception as error:  # noqa: BLE001 - one failing generator is reported
            last = (str(error).strip().splitlines() or ["?"])[-1][:120]
            print(f"{name:<28}  failed: {type(error).__name__}: {last}", flush=True)
            continue
        if name == "real training data":
            metrics = report(train, train, holdout, target=TARGET)
            metrics["dcr_share"] = float("nan")
            metrics["exact_copy_rate"] = report(holdout, train, holdout)["exact_copy_rate"]
            name = "real train (copies: holdout)"
        else:
            metrics = report(synthetic, train, holdout, target=TARGET)
        metrics["cpt"], metrics["cpt_shared"] = ((float("nan"), float("nan"))
                                                 if args.no_sdmetrics
                                                 else pair_trends(synthetic, train))
        metrics["fd"] = dependency_share(synthetic, train)
        metrics["solo"] = singleton_rows(synthetic, train)
        metrics["fit"] = fit
        print_row(name, metrics)
        groups.setdefault(name.split(" #")[0], []).append(metrics)
    for group, rows in groups.items():
        if len(rows) > 1:
            print_row(f"{group} mean of {len(rows)}",
                      {k: float(np.mean([m[k] for m in rows])) for k in rows[0]})
    if args.baseline_root:
        for eps in args.epsilons:
            mine = groups.get(f"HZG eps={eps:g}", [])
            base = groups.get(f"HZG@base eps={eps:g}", [])
            if mine and base:
                ratio = np.mean([m["fit"] for m in mine]) / np.mean([m["fit"] for m in base])
                print(f"fit time eps={eps:g}: HZG / HZG@base = {ratio:.2f} "
                      f"(mean of {len(mine)} and {len(base)} fits, same run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
