"""Sampling speed and memory, and fit time, beside SDV CTGAN and smartnoise MST.

    python scripts/bench_sample.py [--rows 10000000] [--no-peers]

Measured in this run on this machine, each figure in a fresh process whose
peak RSS is reported:

* HZG fit time on adult at ε = 1 (`trainer.train`, the full 32,561 rows);
* HZG sampling rows/s into numpy tables and into one pandas DataFrame (1M
  rows), and to files: --rows rows (default 10M) to CSV and to Parquet,
  streamed;
* when installed (scripts/peers.py): SDV CTGAN fit time and sampling rows/s,
  smartnoise MST fit time, on the same table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import _workers  # noqa: E402
DATA = ROOT.parent / "shared" / "data" / "adult.csv"
if not DATA.exists():
    DATA = ROOT / "examples" / "adult.csv.gz"


def worker(args: argparse.Namespace) -> None:
    """Run one measurement and print a JSON line (called in a fresh process)."""
    result: dict[str, float] = {}
    if args.worker == "fit":
        from trainer.config import PrivacyConfig, TrainConfig
        from trainer.train import train

        start = time.perf_counter()
        bundle = train(str(DATA), TrainConfig(privacy=PrivacyConfig(epsilon=1.0, delta=1e-5)))
        result["seconds"] = time.perf_counter() - start
        from provisioner.keys import SigningKey

        bundle.save(args.bundle, SigningKey.generate("bench"))
    else:
        from provisioner.generator import load

        generator = load(args.bundle, insecure_skip_verify=True)
        if args.worker == "pandas":  # imported before the clock, as in the peers' worker
            import pandas  # noqa: F401
            import pyarrow  # noqa: F401
        start = time.perf_counter()
        if args.worker == "memory":
            rows = sum(t.num_rows for t in generator.iter_batches(args.rows, seed=1))
        elif args.worker == "pandas":
            rows = len(generator.sample(args.rows, seed=1).to_pandas())
        else:
            from provisioner.sinks import write_rows

            rows = write_rows(generator.iter_batches(args.rows, seed=1),
                              generator.schema.columns, args.output)
            result["bytes"] = os.path.getsize(args.output)
        result["seconds"] = time.perf_counter() - start
        result["rows"] = rows
    result["peak_mb"] = _workers.peak_mb()
    print(json.dumps(result))


def run_worker(*extra: str) -> dict:
    return _workers.run_worker(__file__, *extra)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--worker", choices=["fit", "memory", "pandas", "file"], help=argparse.SUPPRESS)
    parser.add_argument("--bundle", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0

    print(f"{'measurement':<40}{'speed':>22}{'size':>16}{'peak RSS':>12}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        bundle = str(Path(folder) / "adult.hzg")
        fit = run_worker("--worker", "fit", "--bundle", bundle)
        print_row(("HZG fit, adult, eps=1", f"{fit['seconds']:.1f} s", "",
                   f"{fit['peak_mb']:.0f} MB"))
        memory = run_worker("--worker", "memory", "--bundle", bundle,
                            "--rows", str(args.memory_rows))
        hzg_rate = memory["rows"] / memory["seconds"]
        print_row((f"HZG sample {args.memory_rows:,} rows (numpy)", f"{hzg_rate:,.0f} rows/s",
                   "", f"{memory['peak_mb']:.0f} MB"))
        frame = run_worker("--worker", "pandas", "--bundle", bundle,
                           "--rows", str(args.memory_rows))
        pandas_rate = frame["rows"] / frame["seconds"]
        print_row((f"HZG sample {args.memory_rows:,} rows (DataFrame)",
                   f"{pandas_rate:,.0f} rows/s", "", f"{frame['peak_mb']:.0f} MB"))
        for suffix in (".csv", ".parquet"):
            path = str(Path(folder) / f"out{suffix}")
            try:
                result = run_worker("--worker", "file", "--bundle", bundle, "--rows",
                                    str(args.rows), "--output", path)
            except SystemExit as exc:
                print_row((f"HZG {args.rows:,} rows to {suffix}", "failed", "", str(exc)[:60]))
                continue
            print_row((f"HZG {args.rows:,} rows to {suffix}",
                       f"{result['rows'] / result['seconds']:,.0f} rows/s",
                       f"{result['bytes'] / 1e6:,.0f} MB file", f"{result['peak_mb']:.0f} MB"))
            os.remove(path)
        if not args.no_peers:
            peer_figures(pandas_rate, fit["seconds"])
    return 0


def print_row(row: tuple[str, str, str, str]) -> None:
    """Print one row of the table as soon as it is measured."""
    name, speed, size, peak = row
    print(f"{name:<40}{speed:>22}{size:>16}{peak:>12}", flush=True)


def peer_figures(hzg_rate: float, hzg_fit: float) -> None:
    """Print CTGAN's and MST's figures beside ours, each as soon as measured."""
    try:
        from scripts import peers
    except ImportError:
        print("peers: scripts/peers.py is missing")
        return
    import pandas as pd

    frame = pd.read_csv(DATA, keep_default_na=False, na_values=[""])
    print(f"\n{'peer (same table, same run)':<40}{'fit':>10}{'sample rows/s':>16}"
          f"{'HZG fit is':>14}{'HZG samples':>14}", flush=True)
    available = peers.available_peers()
    # CTGAN samples 200k rows (its rate is flat beyond ~25k); MST's sampling is
    # slow and only its fit time is compared
    for name, eps, rows in (("ctgan", None, 200_000), ("mst", 1.0, 26_048)):
        status = available.get(name, "missing")
        if status.startswith("missing"):
            print(f"{name:<40}  ({status})")
            continue
        result = peers.fit_and_sample(name, frame, rows, epsilon=eps)
        print(f"{name:<40}{result.fit_seconds:>9.0f}s{result.rows_per_second:>16,.0f}"
              f"{result.fit_seconds / hzg_fit:>12.1f}x"
              f"{hzg_rate / result.rows_per_second:>13.1f}x", flush=True)
    print("(ratios: peer fit time / HZG fit time, HZG rows/s into a DataFrame / peer "
          "rows/s into a DataFrame; higher is better for HZG)")


if __name__ == "__main__":
    sys.exit(main())
