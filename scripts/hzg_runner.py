"""Fit HZG and sample from it, here or from another checkout, for benchmarks.

    from scripts.hzg_runner import fit_and_sample
    result = fit_and_sample(train, 26048, epsilon=1.0, delta=1e-5)
    result = fit_and_sample("train.csv", n, epsilon=3.0, schema={...},
                            root="../hzg-old")   # a checkout of an older commit

``train`` is a pandas DataFrame or a CSV/Parquet path (a path goes through
the same reader as ``hzg train FILE``). ``schema`` is a plain schema-file
mapping (``{"columns": {"rownames": {"kind": "id"}}}``). With ``root`` the
fit runs in a worker subprocess of the current interpreter whose imports
come from that checkout (``PYTHONPATH=root``), so a benchmark can time
today's trainer beside an earlier commit's in one run; fit seconds are
measured inside the worker. The sample is drawn with seed 1, and comes back
as a DataFrame with the bundle's schema (plain) beside it.

This module only uses the standard library at import time: a worker imports
the trainer of its root, never the caller's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class HzgResult:
    frame: Any  # pandas.DataFrame of n synthetic rows
    fit_seconds: float
    schema: dict[str, Any]  # the bundle's schema, plain
    notices: list[str]  # what the trainer reported to the owner (if anything)
    root: str


def _fit_here(train: Any, n: int, epsilon: float | None, delta: float,
              schema: dict[str, Any] | None, config: dict[str, Any]) -> tuple[Any, float,
                                                                            dict, list[str]]:
    from provisioner.bundle import decode_bundle
    from provisioner.generator import Generator
    from provisioner.keys import SigningKey, TrustedKey, TrustStore
    import inspect

    from trainer import declarations as declaration_module
    from trainer.config import TrainConfig
    from trainer.train import train as hzg_train

    privacy = ({"enabled": False} if epsilon is None
               else {"epsilon": float(epsilon), "delta": float(delta)})
    plain = dict(config, privacy=dict(config.get("privacy", {}), **privacy))
    train_config = TrainConfig.from_plain(plain, "bench")
    # the parsed schema file was called SchemaFile and the keyword schema= before
    # the front end was split (older checkouts run through here too)
    parser = getattr(declaration_module, "Declarations", None) or getattr(
        declaration_module, "SchemaFile")
    declared = parser.from_plain(schema or {"columns": {}}, "bench schema")
    keyword = ("declarations" if "declarations" in inspect.signature(hzg_train).parameters
               else "schema")
    reports: list[Any] = []
    start = time.perf_counter()
    bundle = hzg_train(train, train_config, report=reports, **{keyword: declared})
    fit = time.perf_counter() - start
    key = SigningKey.generate("bench")
    opened = decode_bundle(bundle.to_bytes(key),
                           trust=TrustStore([TrustedKey(key.public_key, "b", "m")]))
    frame = Generator.from_opened(opened).sample(n, seed=1).to_pandas()
    notices = [str(x) for x in getattr(reports[0], "notices", ())] if reports else []
    return frame, fit, bundle.schema, notices


def fit_and_sample(train: Any, n: int, *, epsilon: float | None, delta: float = 1e-5,
                   schema: dict[str, Any] | None = None,
                   config: dict[str, Any] | None = None,
                   root: str | os.PathLike[str] | None = None,
                   timeout_s: float | None = None) -> HzgResult:
    """Train HZG on ``train`` (ε None: without DP) and draw ``n`` rows with seed 1."""
    config = dict(config or {})
    if root is None:
        frame, fit, plain, notices = _fit_here(train, n, epsilon, delta, schema, config)
        return HzgResult(frame, fit, plain, notices, "in-process")
    root = str(Path(root).resolve())
    if not (Path(root) / "trainer").is_dir():
        raise FileNotFoundError(f"{root} is not an HZG checkout (no trainer/ folder)")
    job = Path(tempfile.mkdtemp(prefix="hzg-runner-"))
    try:
        if isinstance(train, (str, os.PathLike)):
            source = Path(train)
            train_file = job / ("train" + "".join(source.suffixes))
            shutil.copyfile(source, train_file)
        else:
            train_file = job / "train.parquet"
            train.to_parquet(train_file, index=False)
        (job / "job.json").write_text(json.dumps({
            "train": train_file.name, "n": int(n), "epsilon": epsilon, "delta": delta,
            "schema": schema, "config": config}))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["PYTHONPATH"] = root
        with open(job / "stderr.txt", "wb") as err:
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker",
                                   str(job)], stdout=subprocess.DEVNULL, stderr=err,
                                  env=env, cwd=root, timeout=timeout_s)
        if done.returncode != 0:
            tail = (job / "stderr.txt").read_text(errors="replace").strip().splitlines()[-12:]
            raise RuntimeError(f"HZG worker ({root}) exited with {done.returncode}:\n"
                               + "\n".join(tail))
        import pandas as pd

        result = json.loads((job / "result.json").read_text())
        frame = pd.read_parquet(job / "sample.parquet")
        return HzgResult(frame, float(result["fit_seconds"]), result["schema"],
                         result["notices"], root)
    finally:
        shutil.rmtree(job, ignore_errors=True)


def _worker(job_dir: str) -> int:
    job_path = Path(job_dir)
    job = json.loads((job_path / "job.json").read_text())
    train = str(job_path / job["train"])
    if train.endswith(".parquet"):
        import pandas as pd

        train = pd.read_parquet(train)
    frame, fit, plain, notices = _fit_here(train, job["n"], job["epsilon"], job["delta"],
                                           job["schema"], job["config"])
    frame.to_parquet(job_path / "sample.parquet", index=False)
    (job_path / "result.json").write_text(json.dumps(
        {"fit_seconds": fit, "schema": plain, "notices": notices}, default=str))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"] and len(sys.argv) == 3:
        sys.path.insert(0, os.environ.get("PYTHONPATH", str(ROOT)))
        sys.exit(_worker(sys.argv[2]))
    print(__doc__)
