"""Sampling at scale: one process against a local Dask cluster, to Parquet.

    python scripts/bench_scale.py [--rows 10000000 100000000] [--workers 2]
                                  [--rows-per-partition 1000000] [--bundle B --trust K]

Measured in this run on this machine, side by side for each row count:

* one process: ``hzg sample``'s path (``iter_batches`` on every core, one
  Parquet file streamed batch by batch), its wall time and peak RSS;
* a ``distributed.LocalCluster`` of ``--workers`` worker processes with one
  thread each: ``provisioner.dask.to_parquet`` (one part file per partition),
  its wall time, and the peak RSS of every worker process;
* the ratio of their rows/s. Flat memory means the workers' peaks do not
  grow with the row count.

Without ``--bundle`` a generator is first trained on adult at ε = 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def _load(args: argparse.Namespace):
    from provisioner.generator import load

    if args.trust:
        return load(args.bundle, trust=args.trust)
    return load(args.bundle, insecure_skip_verify=True)


def _worker_peak_mb() -> float:
    """Peak RSS of a Dask worker process (sent by value: defined in __main__)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def worker(args: argparse.Namespace) -> None:
    """One measurement in a fresh process; prints a JSON line."""
    result: dict[str, object] = {}
    if args.worker == "fit":
        from provisioner.keys import SigningKey
        from trainer.config import PrivacyConfig, TrainConfig
        from trainer.train import train

        bundle = train(str(DATA), TrainConfig(privacy=PrivacyConfig(epsilon=1.0, delta=1e-5)))
        bundle.save(args.bundle, SigningKey.generate("bench"))
    elif args.worker == "single":
        from provisioner.sinks import write_rows

        source = _load(args)
        start = time.perf_counter()
        result["rows"] = write_rows(source.iter_batches(args.n, seed=1), source.columns,
                                    args.output)
        result["seconds"] = time.perf_counter() - start
        result["bytes"] = _size(Path(args.output))
    else:
        from distributed import Client, LocalCluster

        from provisioner.dask import to_parquet

        source = _load(args)
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(lambda: None)  # workers are up before the clock starts
            start = time.perf_counter()
            to_parquet(source, args.n, args.output, seed=1,
                       rows_per_partition=args.rows_per_partition)
            result["seconds"] = time.perf_counter() - start
            peaks = client.run(_worker_peak_mb)
            result["worker_peak_mb"] = sorted(peaks.values())
        result["rows"] = args.n
        result["bytes"] = _size(Path(args.output))
    result["peak_mb"] = _workers.peak_mb()
    print(json.dumps(result))


def run_worker(*extra: str) -> dict:
    return _workers.run_worker(__file__, *extra)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 100_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows-per-partition", type=int, default=1_000_000)
    parser.add_argument("--bundle", help="a .hzg to sample (default: train one on adult)")
    parser.add_argument("--trust", help="the bundle's trusted key (default: skip checks)")
    parser.add_argument("--worker", choices=["fit", "single", "cluster"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0

    with tempfile.TemporaryDirectory(dir=os.environ.get("HZG_BENCH_TMP")) as folder:
        bundle = args.bundle
        common: list[str] = []
        if bundle is None:
            bundle = str(Path(folder) / "adult.hzg")
            run_worker("--worker", "fit", "--bundle", bundle)
        if args.trust:
            common = ["--trust", args.trust]
        print(f"one process: {os.cpu_count()} cores visible; cluster: {args.workers} worker "
              f"processes x 1 thread, {args.rows_per_partition:,} rows per partition")
        print(f"{'rows':>13}  {'path':<24}{'seconds':>9}{'rows/s':>12}{'vs one':>8}"
              f"{'output':>10}  peak RSS", flush=True)
        for n in args.rows:
            single_out = Path(folder) / "single.parquet"
            single = run_worker("--worker", "single", "--bundle", bundle, "--n", str(n),
                                "--output", str(single_out), *common)
            single_out.unlink()
            rate = single["rows"] / single["seconds"]
            print(f"{n:>13,}  {'one process':<24}{single['seconds']:>9.1f}{rate:>12,.0f}"
                  f"{'1.00':>8}{single['bytes'] / 1e6:>8,.0f}MB  {single['peak_mb']:.0f} MB",
                  flush=True)
            cluster_out = Path(folder) / "cluster"
            cluster = run_worker("--worker", "cluster", "--bundle", bundle, "--n", str(n),
                                 "--output", str(cluster_out), "--workers", str(args.workers),
                                 "--rows-per-partition", str(args.rows_per_partition),
                                 *common)
            shutil.rmtree(cluster_out)
            Path(str(cluster_out) + ".provenance.json").unlink(missing_ok=True)
            crate = cluster["rows"] / cluster["seconds"]
            peaks = ", ".join(f"{p:.0f}" for p in cluster["worker_peak_mb"])
            print(f"{n:>13,}  {f'LocalCluster x{args.workers}':<24}{cluster['seconds']:>9.1f}"
                  f"{crate:>12,.0f}{crate / rate:>8.2f}{cluster['bytes'] / 1e6:>8,.0f}MB  "
                  f"workers {peaks} MB (client {cluster['peak_mb']:.0f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
