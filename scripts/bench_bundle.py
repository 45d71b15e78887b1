"""Bundle size, load+verify time and import time, beside numpy's .npz.

    python scripts/bench_bundle.py [--repeats 20]

Everything is measured in this run on this machine; the ratios are what to
read (the machines are shared and noisy). ``.npz`` is the baseline a numpy
user would otherwise reach for: it has no signature, no limits and no
schema, so it is a floor for load time, not a peer in safety.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner import (  # noqa: E402
    Bundle,
    GeneratorInfo,
    ModelSpec,
    SigningKey,
    TrustedKey,
    TrustStore,
    open_bundle,
)


def made_bundle(total_bytes: int, seed: int = 0) -> Bundle:
    """A MADE generator of about ``total_bytes`` of trained-like weights.

    Four string columns share V tokens; the direct layer (V x V) dominates,
    so V is about sqrt(bytes / 4). Weights are Gaussian, masked as MADE's.
    """
    from provisioner.models.made import MadeConfig, masks, tensor_shapes
    from scripts.forge import made_header, non_dp_privacy, string_column

    per_column = max(2, int((total_bytes / 4) ** 0.5) // 4)
    columns = [string_column(f"c{j}", [f"v{i}" for i in range(per_column)])
               for j in range(4)]
    header = made_header(columns, hidden=[16], direct=True, privacy=non_dp_privacy())
    config = MadeConfig.from_plain(header["model"]["config"])
    rng = np.random.default_rng(seed)
    mask = masks(config)
    tensors = {name: (rng.normal(0, 0.05, size=shape) * mask.get(name, 1)).astype(np.float32)
               for name, shape in tensor_shapes(config).items()}
    return Bundle(GeneratorInfo("ab" * 16, "bench", 1, "bench", 0),
                  ModelSpec("made", header["model"]["config"]), header["schema"],
                  header["privacy"], {}, tensors)


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm the page cache and code paths
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def import_seconds(statement: str, repeats: int) -> float:
    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
        return time.perf_counter() - start

    base = statistics.median(run("pass") for _ in range(repeats))
    return statistics.median(run(statement) for _ in range(repeats)) - base


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    key = SigningKey.generate("bench")
    trust = TrustStore([TrustedKey(key.public_key, "bench", "memory")])
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for label, size in (("small (~50 KB)", 50_000), ("large (~10 MB)", 10_000_000)):
            bundle = made_bundle(size)
            tensors = dict(bundle.tensors)
            raw = sum(a.nbytes for a in tensors.values())
            hzg_path = Path(folder) / f"{size}.hzg"
            bundle.save(hzg_path, key)
            npz_path = Path(folder) / f"{size}.npz"
            npzc_path = Path(folder) / f"{size}c.npz"
            np.savez(npz_path, **tensors)
            np.savez_compressed(npzc_path, **tensors)

            def load_npz(path=npz_path):
                with np.load(path) as data:
                    return {k: data[k] for k in data.files}

            def load_hzg(path=hzg_path):
                return open_bundle(path, trust=trust).tensors

            assert all(np.array_equal(load_hzg()[k], tensors[k]) for k in tensors)
            t_hzg = median_seconds(load_hzg, args.repeats)
            t_npz = median_seconds(load_npz, args.repeats)
            t_npzc = median_seconds(lambda p=npzc_path: load_npz(p), args.repeats)
            rows.append((label, raw, hzg_path.stat().st_size, npz_path.stat().st_size,
                         npzc_path.stat().st_size, t_hzg, t_npz, t_npzc))

    print("bundle size and load time (median of", args.repeats, "runs; .hzg = read + "
          "Ed25519 verify + SHA-256 + zstd + strict msgpack)")
    print(f"{'bundle':<16}{'raw B':>12}{'.hzg B':>12}{'.npz B':>12}{'npz zip B':>12}"
          f"{'hzg/raw':>9}{'load .hzg':>12}{'load .npz':>12}{'npz zip':>12}"
          f"{'hzg/npz':>9}{'hzg/zip':>9}")
    for label, raw, hzg, npz, npzc, t_hzg, t_npz, t_npzc in rows:
        print(f"{label:<16}{raw:>12,}{hzg:>12,}{npz:>12,}{npzc:>12,}{hzg / raw:>9.2f}"
              f"{t_hzg * 1e3:>10.2f}ms{t_npz * 1e3:>10.2f}ms{t_npzc * 1e3:>10.2f}ms"
              f"{t_hzg / t_npz:>9.2f}{t_hzg / t_npzc:>9.2f}")
    repeats = max(5, args.repeats // 2)
    t_numpy = import_seconds("import numpy", repeats)
    t_prov = import_seconds("import provisioner", repeats)
    t_jax = import_seconds("import jax", max(3, repeats // 2))
    print()
    print(f"import time (median of {repeats} fresh processes, minus an empty interpreter)")
    print(f"{'import numpy':<22}{t_numpy * 1e3:>8.0f} ms")
    print(f"{'import provisioner':<22}{t_prov * 1e3:>8.0f} ms  "
          f"({t_prov / t_numpy:.2f}x numpy alone)")
    print(f"{'import jax':<22}{t_jax * 1e3:>8.0f} ms  "
          f"(what the light install avoids: {t_jax / t_prov:.1f}x provisioner)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
