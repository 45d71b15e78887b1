"""Peer synthesizers (smartnoise-synth, SDV) for side-by-side benchmarks.

    python scripts/peers.py            # list the peers and where they run

Benchmarks call::

    from scripts.peers import available_peers, fit_and_sample
    available_peers()   # {"mst": "subprocess:/…/.venv-peers/bin/python", ...}
    result = fit_and_sample("mst", train, 26048, epsilon=1.0, delta=1e-5, seed=0)
    result.frame, result.fit_seconds, result.rows_per_second, result.peak_rss_mb

Peers: ``mst``, ``aim``, ``dpctgan`` (smartnoise-synth, DP), ``dpmm-mst``,
``dpmm-aim`` (dpmm, DP) and ``ctgan``, ``tvae`` (SDV, **no DP**; ``epsilon``
must be None for them). ``column_pair_trends(real, synthetic)`` scores a
sample with SDMetrics' QualityReport in the same way.

Where a peer runs. smartnoise-synth and sdv pin ``pandas<3`` (and
smartnoise-synth ``opacus<0.15``), so they cannot live in the project venv
(pandas 3, opacus 1.6), and dpmm pins ``pandas==2.1.0``. They live in a separate venv, by default
``<repo>/.venv-peers`` (override with ``HZG_PEERS_PYTHON=/path/to/python``;
several paths separated by ``os.pathsep``; ``none`` disables the lookup).
A peer importable by the current interpreter runs "in-process"; otherwise it
runs in a worker subprocess of the peers venv's python within the same
benchmark run: the training frame goes over as Parquet (CSV when pyarrow is
missing on either side) in a temporary directory, the sample comes back the
same way, and fit and sampling are timed inside the worker. ``peak_rss_mb`` is
the worker's peak resident set size (``getrusage``), None when run
in-process. With ``timeout_s`` an in-process peer also runs in a worker (of
the current interpreter) so that it can be stopped.

Settings: each peer's defaults as a user would call them.
smartnoise: ``Synthesizer.create(name, epsilon=ε, delta=δ, verbose=False)``
then ``fit(data, categorical_columns=…, continuous_columns=…,
preprocessor_eps=0.1·ε)`` (bounds of continuous columns are inferred with DP,
which needs a preprocessor budget; smartnoise subtracts it from ε). Nulls in
categorical columns become a placeholder category (``<null>``) and are mapped
back to None; nulls in numeric columns set ``nullable=True``. SDV:
``Metadata.detect_from_dataframes`` then ``CTGANSynthesizer(metadata)`` /
``TVAESynthesizer(metadata)`` (300 epochs, CPU). ``seed`` seeds numpy, random
and torch in the fitting process (smartnoise's OpenDP noise for bounds is not
seedable).
dpmm: ``MSTPipeline`` / ``AIMPipeline(epsilon=0.9·ε, delta=δ,
proc_epsilon=0.1·ε)``: PrivTree DP discretisation of numeric columns on
bounds found with DP, the rest of ε for the model; dpmm reads category
lists from the data (not DP, in the peer's favour). AIM's rounds are
bounded to ``DPMM_AIM_ROUNDS`` with ``DPMM_AIM_ITERS`` inference iterations
each, or it runs for many minutes per table.

The returned frame has the input's columns in order: numeric columns numeric
(integer when the input column was integer and the sample has no nulls,
rounded), other columns strings with nulls as missing values.

This file only uses the standard library at import time and never imports
the HZG package: the worker side runs it inside the peers venv.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
PEERS = ("mst", "aim", "dpctgan", "ctgan", "tvae", "dpmm-mst", "dpmm-aim")
DP_PEERS = ("mst", "aim", "dpctgan", "dpmm-mst", "dpmm-aim")
DPMM_PEERS = ("dpmm-mst", "dpmm-aim")
# AIM plans 16 rounds per column by default and refits a graphical model
# each round (474 s on adult at full strength): bound the rounds (the budget
# is then split over fewer, less noisy measurements) and the inner iterations.
DPMM_AIM_ROUNDS = 30
DPMM_AIM_ITERS = 300
PREPROCESSOR_FRACTION = 0.1
NULL_TOKEN = "<null>"
_TEST_PEER = "_resample"  # internal: bootstrap of the training rows, for tests

_IMPORTS = {
    "mst": ("snsynth", "snsynth.mst"),
    "aim": ("snsynth", "snsynth.aim"),
    "dpctgan": ("snsynth", "snsynth.pytorch.nn.dpctgan"),
    "ctgan": ("sdv.single_table",),
    "tvae": ("sdv.single_table",),
    "dpmm-mst": ("dpmm.pipelines",),
    "dpmm-aim": ("dpmm.pipelines",),
    "sdmetrics": ("sdmetrics.reports.single_table",),
}
_DISTRIBUTIONS = {"mst": "smartnoise-synth", "aim": "smartnoise-synth",
                  "dpctgan": "smartnoise-synth", "ctgan": "sdv", "tvae": "sdv",
                  "dpmm-mst": "dpmm", "dpmm-aim": "dpmm", "sdmetrics": "sdmetrics"}


class PeerUnavailable(RuntimeError):
    """The peer is installed neither here nor in a peers venv."""


@dataclasses.dataclass
class PeerResult:
    frame: Any  # pandas.DataFrame, n rows, the input's columns
    fit_seconds: float
    sample_seconds: float
    rows_per_second: float  # sampling only
    peak_rss_mb: float | None  # of the process that fitted (None: in-process)
    settings: str
    runner: str = "in-process"  # or "subprocess:<python>"


# --------------------------------------------------------------------------
# discovery

def _probe_here() -> dict[str, Any]:
    """Which peers this interpreter can import, with versions and pyarrow."""
    import warnings
    from importlib import metadata

    out: dict[str, Any] = {"peers": {}, "versions": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for peer, modules in _IMPORTS.items():
            try:
                for module in modules:
                    importlib.import_module(module)
                out["peers"][peer] = "ok"
            except Exception as error:  # noqa: BLE001 - report any import failure
                reason = f"{type(error).__name__}: {error}".splitlines()[0]
                out["peers"][peer] = reason[:200]
    for dist in ("smartnoise-synth", "sdv", "ctgan", "dpmm", "sdmetrics", "opacus", "torch",
                 "pandas", "numpy"):
        try:
            out["versions"][dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        importlib.import_module("pyarrow")
        out["pyarrow"] = True
    except ImportError:
        out["pyarrow"] = False
    return out


def _candidate_pythons() -> list[str]:
    setting = os.environ.get("HZG_PEERS_PYTHON")
    if setting is not None:
        if setting.strip().lower() in ("", "none", "0", "off"):
            return []
        return [p for p in setting.split(os.pathsep) if p]
    return [str(DEFAULT_PEERS_PYTHON)]


def _worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


_PROBES: dict[str, dict[str, Any]] = {}


def _probe(python: str) -> dict[str, Any]:
    if python in _PROBES:
        return _PROBES[python]
    if python == "in-process":
        result = _probe_here()
    elif not Path(python).exists():
        result = {"error": f"{python} not found"}
    else:
        try:
            done = subprocess.run([python, str(Path(__file__).resolve()), "--probe"],
                                  capture_output=True, text=True, timeout=300,
                                  env=_worker_env(), cwd=tempfile.gettempdir())
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["?"])[-1]
                result = {"error": f"probe of {python} failed: {tail[:200]}"}
            else:
                result = json.loads(done.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as error:
            result = {"error": f"probe of {python} failed: {error}"}
    _PROBES[python] = result
    return result


def _locate(peer: str) -> tuple[str, str, dict[str, Any]]:
    """(status, python or 'in-process', probe) for one peer."""
    here = _probe("in-process")
    if here["peers"].get(peer) == "ok":
        return "in-process", "in-process", here
    reasons = [f"not importable here ({here['peers'].get(peer)})"]
    for python in _candidate_pythons():
        probe = _probe(python)
        if "error" in probe:
            reasons.append(probe["error"])
        elif probe["peers"].get(peer) == "ok":
            return f"subprocess:{python}", python, probe
        else:
            reasons.append(f"{python}: {probe['peers'].get(peer)}")
    if not _candidate_pythons():
        reasons.append("peers venv lookup disabled (HZG_PEERS_PYTHON)")
    return "missing: " + "; ".join(reasons), "", {}


def available_peers() -> dict[str, str]:
    """Peer name -> "in-process" | "subprocess:<python>" | "missing: <reason>"."""
    return {peer: _locate(peer)[0] for peer in PEERS}


# --------------------------------------------------------------------------
# the fitting side (runs in-process or in the worker)

def _seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed)
    except ImportError:
        pass
    try:
        import torch
        torch.manual_seed(seed)
    except ImportError:
        pass


def _version(dist: str) -> str:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _fit_sample_local(peer: str, train: Any, n: int, numeric: list[str],
                      categorical: list[str], epsilon: float | None, delta: float,
                      seed: int, max_categories: int | None = None
                      ) -> tuple[Any, float, float, str]:
    """Fit ``peer`` on ``train``, draw ``n`` rows: (frame, fit s, sample s, notes)."""
    import warnings

    warnings.filterwarnings("ignore")
    _seed_everything(seed)
    if peer == _TEST_PEER:
        start = time.perf_counter()
        fit = time.perf_counter() - start
        start = time.perf_counter()
        out = train.sample(n=n, replace=True, random_state=seed).reset_index(drop=True)
        return out, fit, time.perf_counter() - start, "bootstrap of the training rows"
    if peer in DPMM_PEERS:
        return _fit_sample_dpmm(peer, train, n, numeric, categorical, epsilon, delta, seed,
                                max_categories)
    if peer in DP_PEERS:
        from snsynth import Synthesizer

        if epsilon is None:
            raise ValueError(f"{peer} is a DP synthesizer: give epsilon")
        data = train.copy()
        placeholder = NULL_TOKEN
        for column in categorical:
            values = set(data[column].dropna().astype(str).unique())
            while placeholder in values:
                placeholder = "<" + placeholder + ">"
        for column in categorical:
            data[column] = [placeholder if v is None or v != v else str(v)
                            for v in data[column].tolist()]
        nullable = bool(numeric) and bool(data[numeric].isna().any().any())
        pre_eps = PREPROCESSOR_FRACTION * epsilon if numeric else 0.0
        start = time.perf_counter()
        synth = Synthesizer.create(peer, epsilon=float(epsilon), delta=float(delta),
                                   verbose=False)
        synth.fit(data, categorical_columns=list(categorical),
                  continuous_columns=list(numeric), preprocessor_eps=pre_eps,
                  nullable=nullable)
        fit = time.perf_counter() - start
        start = time.perf_counter()
        out = synth.sample(n)
        sample = time.perf_counter() - start
        import pandas as pd
        if not isinstance(out, pd.DataFrame):
            out = pd.DataFrame(out, columns=list(train.columns))
        for column in categorical:
            out[column] = [None if v is None or v != v or str(v) == placeholder
                           else str(v) for v in out[column].tolist()]
        settings = (f"smartnoise-synth {_version('smartnoise-synth')} {peer} defaults, "
                    f"eps={epsilon:g} delta={delta:g}, "
                    f"preprocessor_eps={PREPROCESSOR_FRACTION:g}*eps for DP bounds of "
                    f"continuous columns, default binning, categorical nulls as "
                    f"'{placeholder}'" + (", nullable=True" if nullable else ""))
        spent = getattr(synth, "epsilon_list", None)
        if spent:  # DP-CTGAN: eps after 0, 1, ... epochs; it stops once over budget
            budget = float(getattr(synth, "epsilon", epsilon))
            epochs = len(spent) - 1 if float(spent[-1]) > budget else len(spent)
            settings += (f"; trained {epochs} epochs, last accountant check eps "
                         f"{float(spent[-1]):.4g} (training budget {budget:.4g})")
        return out, fit, sample, settings
    if peer in ("ctgan", "tvae"):
        if epsilon is not None:
            raise ValueError(f"SDV {peer} has no DP: pass epsilon=None")
        from sdv.metadata import Metadata
        from sdv.single_table import CTGANSynthesizer, TVAESynthesizer

        # sdv >= 2.0 takes and returns {table name: frame}; sdv 1.x plain frames
        major = _version("sdv").split(".")[0]
        two = major.isdigit() and int(major) >= 2
        start = time.perf_counter()
        if two:
            metadata = Metadata.detect_from_dataframes({"table": train})
        else:
            metadata = Metadata.detect_from_dataframe(train, table_name="table")
        cls = CTGANSynthesizer if peer == "ctgan" else TVAESynthesizer
        synth = cls(metadata)
        synth.fit({"table": train} if two else train)
        fit = time.perf_counter() - start
        start = time.perf_counter()
        out = synth.sample(num_rows=n)
        sample = time.perf_counter() - start
        if isinstance(out, dict):
            out = out["table"]
        settings = (f"sdv {_version('sdv')} {cls.__name__} defaults (no DP; "
                    f"{getattr(synth, 'epochs', '?')} epochs, batch "
                    f"{getattr(synth, 'batch_size', '?')}, CPU), detected metadata")
        return out, fit, sample, settings
    raise ValueError(f"unknown peer {peer!r}; one of {', '.join(PEERS)}")


def peer_settings(peer: str) -> str:
    """The settings of a peer that change its output (for benchmark caches)."""
    if peer == "dpmm-aim":
        return f"rounds={DPMM_AIM_ROUNDS} n_iters={DPMM_AIM_ITERS} pre={PREPROCESSOR_FRACTION}"
    if peer in DP_PEERS:
        return f"defaults pre={PREPROCESSOR_FRACTION}"
    return "defaults"


def _pool_rare(data: Any, categorical: list[str], max_categories: int | None,
               placeholder: str = "<other>") -> list[str]:
    """Pool values beyond each column's ``max_categories`` most frequent (in place)."""
    pooled = []
    if not max_categories:
        return pooled
    for column in categorical:
        counts = data[column].value_counts()
        if len(counts) > max_categories:
            keep = set(counts.index[:max_categories])
            values = data[column]
            data[column] = values.where(values.isin(keep) | values.isna(), placeholder)
            pooled.append(column)
    return pooled


def _fit_sample_dpmm(peer: str, train: Any, n: int, numeric: list[str],
                     categorical: list[str], epsilon: float | None, delta: float, seed: int,
                     max_categories: int | None) -> tuple[Any, float, float, str]:
    """dpmm's MST or AIM pipeline with its DP discretisation (PrivTree)."""
    from dpmm.pipelines import AIMPipeline, MSTPipeline

    if epsilon is None:
        raise ValueError(f"{peer} is a DP synthesizer: give epsilon")
    data = train.copy()
    for column in categorical:
        data[column] = [None if v is None or v != v else str(v)
                        for v in data[column].tolist()]
        data[column] = data[column].astype(object)
    pooled = _pool_rare(data, categorical, max_categories)
    pre_eps = PREPROCESSOR_FRACTION * epsilon
    aim = peer == "dpmm-aim"
    gen_kwargs = {"rounds": DPMM_AIM_ROUNDS, "n_iters": DPMM_AIM_ITERS} if aim else {}
    cls = AIMPipeline if aim else MSTPipeline
    start = time.perf_counter()
    model = cls(epsilon=float(epsilon) - pre_eps, delta=float(delta),
                proc_epsilon=pre_eps, gen_kwargs=gen_kwargs)
    model.fit(data, domain={}, random_state=seed)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    out = model.generate(n_records=n, random_state=seed)
    sample = time.perf_counter() - start
    settings = (f"dpmm {_version('dpmm')} {cls.__name__}, eps={epsilon:g} in all "
                f"({PREPROCESSOR_FRACTION:g} of it for PrivTree DP discretisation, auto "
                f"bins) delta={delta:g}; category lists read from the data (dpmm's "
                f"default, not DP)")
    if aim:
        settings += (f"; rounds bounded to {DPMM_AIM_ROUNDS} (default 16 per column), "
                     f"{DPMM_AIM_ITERS} inference iterations per round (default 1000)")
    if pooled:
        settings += (f"; values beyond the {max_categories} most frequent pooled in "
                     f"{', '.join(pooled)}")
    return out, fit, sample, settings


def _column_pair_trends_local(real: Any, synthetic: Any, numeric: list[str],
                              categorical: list[str]) -> dict[str, Any]:
    from sdmetrics.reports.single_table import QualityReport

    metadata = {"columns": {**{c: {"sdtype": "numerical"} for c in numeric},
                            **{c: {"sdtype": "categorical"} for c in categorical}}}
    report = QualityReport()
    report.generate(real, synthetic, metadata, verbose=False)
    properties = report.get_properties()
    scores = dict(zip(properties["Property"], properties["Score"]))
    details = report.get_details("Column Pair Trends")
    pairs = [[str(a), str(b), float(v)] for a, b, v in
             zip(details["Column 1"], details["Column 2"], details["Score"])]
    return {"column_shapes": float(scores.get("Column Shapes", float("nan"))),
            "column_pair_trends": float(scores.get("Column Pair Trends", float("nan"))),
            "column_pair_trends_shared_bins": _shared_bins_trends(real, synthetic, numeric,
                                                                  details),
            "pairs": pairs, "version": _version("sdmetrics")}


def _shared_bins_trends(real: Any, synthetic: Any, numeric: list[str], details: Any) -> float:
    """Column Pair Trends over the report's own pairs, with one set of bins.

    The report (sdmetrics 0.32) bins a numeric column of each table on that
    table's own range (ten equal bins from its minimum to its maximum), so a
    synthetic column whose range ends one value short of the real one (ages
    to 89 instead of 90) is scored on shifted bins. SDMetrics' pair metric
    ContingencySimilarity bins both tables on the real column's range; this
    is that metric over the pairs the report averages ("Meets Threshold?").
    """
    import numpy as np
    from sdmetrics.column_pairs import ContingencySimilarity

    scores = []
    for a, b, score, meets in zip(details["Column 1"], details["Column 2"], details["Score"],
                                  details["Meets Threshold?"]):
        if not meets:
            continue
        continuous = [c for c in (a, b) if c in numeric]
        if len(continuous) == 2:  # correlation: no bins involved
            scores.append(float(score))
            continue
        scores.append(float(ContingencySimilarity.compute(
            real[[a, b]], synthetic[[a, b]], continuous_column_names=continuous or None)))
    return float(np.mean(scores)) if scores else float("nan")


def column_pair_trends(real: Any, synthetic: Any, *, timeout_s: float | None = None
                       ) -> dict[str, Any]:
    """SDMetrics' QualityReport (numeric dtypes numerical, the rest categorical).

    Returns ``{"column_pair_trends", "column_shapes", "pairs": [[a, b, score]],
    "version"}``; runs in the peers venv when sdmetrics is not importable here.
    """
    real = real.reset_index(drop=True)
    synthetic = synthetic[list(real.columns)].reset_index(drop=True)
    numeric, categorical = _column_kinds(real)
    for frame in (real, synthetic):
        for column in categorical:
            frame[column] = [None if v is None or v != v else str(v)
                             for v in frame[column].tolist()]
        for column in numeric:
            frame[column] = frame[column].astype(float)
    status, python, probe = _locate("sdmetrics")
    if status.startswith("missing"):
        raise PeerUnavailable(f"sdmetrics: {status}")
    if python == "in-process":
        return _column_pair_trends_local(real, synthetic, numeric, categorical)
    job_dir = Path(tempfile.mkdtemp(prefix="hzg-sdmetrics-"))
    try:
        parquet = importlib.util.find_spec("pyarrow") is not None and probe.get("pyarrow")
        real_file = _write_frame(real, job_dir / "real", bool(parquet))
        synth_file = _write_frame(synthetic, job_dir / "synthetic", bool(parquet))
        (job_dir / "job.json").write_text(json.dumps({
            "task": "sdmetrics", "real": real_file.name, "synthetic": synth_file.name,
            "numeric": numeric, "categorical": categorical}))
        done = subprocess.run([python, str(Path(__file__).resolve()), "--worker",
                               str(job_dir)], capture_output=True, text=True,
                              env=_worker_env(), cwd=str(job_dir), timeout=timeout_s)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"sdmetrics worker ({python}) exited with "
                               f"{done.returncode}:\n{tail}")
        return json.loads((job_dir / "result.json").read_text())
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def _conform(out: Any, train: Any, numeric: list[str], categorical: list[str]) -> Any:
    """The sample with the input's column order and dtype conventions."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(index=pd.RangeIndex(len(out)))
    for column in train.columns:
        values = out[column] if column in out.columns else pd.Series([None] * len(out))
        values = pd.Series(values).reset_index(drop=True)
        if column in numeric:
            floats = pd.to_numeric(values, errors="coerce").astype(float)
            if train[column].dtype.kind in "iu" and not floats.isna().any():
                frame[column] = np.round(floats.to_numpy()).astype(np.int64)
            else:
                frame[column] = floats.to_numpy()
        else:
            cells = [None if v is None or v is pd.NA
                     or (isinstance(v, float) and v != v) else str(v)
                     for v in values.tolist()]
            series = pd.Series(cells, dtype=object)
            try:
                series = series.astype(train[column].dtype)
            except (TypeError, ValueError):
                pass
            frame[column] = series.to_numpy() if series.dtype == object else series
    return frame


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# --------------------------------------------------------------------------
# data exchange with the worker

def _write_frame(frame: Any, path_stem: Path, use_parquet: bool) -> Path:
    if use_parquet:
        path = path_stem.with_suffix(".parquet")
        frame.to_parquet(path, index=False)
    else:
        path = path_stem.with_suffix(".csv")
        frame.to_csv(path, index=False, na_rep="")
    return path


def _read_frame(path: Path, categorical: list[str]) -> Any:
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    dtypes = {c: object for c in categorical}
    return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=dtypes)


def _worker(job_dir: str) -> int:
    """Worker entry (peers venv): job.json + train.* in, sample.* + result.json out."""
    job_path = Path(job_dir)
    job = json.loads((job_path / "job.json").read_text())
    if job.get("task") == "sdmetrics":
        real = _read_frame(job_path / job["real"], job["categorical"])
        synthetic = _read_frame(job_path / job["synthetic"], job["categorical"])
        result = _column_pair_trends_local(real, synthetic, job["numeric"],
                                           job["categorical"])
        (job_path / "result.json").write_text(json.dumps(result))
        return 0
    train = _read_frame(job_path / job["train_file"], job["categorical"])
    if job["train_file"].endswith(".csv"):  # CSV loses integer-vs-string: restore kinds
        import pandas as pd
        for column in job["numeric"]:
            train[column] = pd.to_numeric(train[column], errors="coerce")
    out, fit, sample, settings = _fit_sample_local(
        job["peer"], train, job["n"], job["numeric"], job["categorical"],
        job["epsilon"], job["delta"], job["seed"], job.get("max_categories"))
    out = _conform(out, train, job["numeric"], job["categorical"])
    sample_file = _write_frame(out, job_path / "sample", job["parquet"])
    (job_path / "result.json").write_text(json.dumps({
        "fit_seconds": fit, "sample_seconds": sample, "settings": settings,
        "peak_rss_mb": _peak_rss_mb(), "sample_file": sample_file.name}))
    return 0


def _run_worker(python: str, peer: str, train: Any, n: int, numeric: list[str],
                categorical: list[str], epsilon: float | None, delta: float, seed: int,
                timeout_s: float | None, parquet: bool,
                max_categories: int | None = None) -> PeerResult:
    job_dir = Path(tempfile.mkdtemp(prefix=f"hzg-peer-{peer}-"))
    try:
        train_file = _write_frame(train, job_dir / "train", parquet)
        (job_dir / "job.json").write_text(json.dumps({
            "peer": peer, "n": int(n), "epsilon": epsilon, "delta": float(delta),
            "seed": int(seed), "numeric": numeric, "categorical": categorical,
            "train_file": train_file.name, "parquet": parquet,
            "max_categories": max_categories}))
        with open(job_dir / "stdout.txt", "wb") as out, \
                open(job_dir / "stderr.txt", "wb") as err:
            process = subprocess.Popen(
                [python, str(Path(__file__).resolve()), "--worker", str(job_dir)],
                stdout=out, stderr=err, env=_worker_env(), cwd=str(job_dir),
                start_new_session=True)
            try:
                code = process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise TimeoutError(
                    f"{peer} did not finish within {timeout_s:g} s") from None
            except BaseException:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise
        if code != 0:
            stderr = (job_dir / "stderr.txt").read_text(errors="replace")
            lines = stderr.strip().splitlines()
            tail = "\n".join(lines[-15:])
            raise RuntimeError(f"{peer} worker ({python}) exited with {code}:\n{tail}")
        result = json.loads((job_dir / "result.json").read_text())
        frame = _read_frame(job_dir / result["sample_file"], categorical)
        frame = _conform(frame, train, numeric, categorical)
        sample_s = float(result["sample_seconds"])
        return PeerResult(frame=frame, fit_seconds=float(result["fit_seconds"]),
                          sample_seconds=sample_s,
                          rows_per_second=(n / sample_s if sample_s > 0
                                           else float("inf")),
                          peak_rss_mb=float(result["peak_rss_mb"]),
                          settings=result["settings"], runner=f"subprocess:{python}")
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


# --------------------------------------------------------------------------
# public entry point

def _column_kinds(train: Any) -> tuple[list[str], list[str]]:
    import pandas as pd

    numeric, categorical = [], []
    for column in train.columns:
        dtype = train[column].dtype
        if (pd.api.types.is_numeric_dtype(dtype)
                and not pd.api.types.is_bool_dtype(dtype)):
            numeric.append(str(column))
        else:
            categorical.append(str(column))
    return numeric, categorical


def fit_and_sample(peer: str, train: Any, n: int, *, epsilon: float | None,
                   delta: float = 1e-5, seed: int = 0,
                   timeout_s: float | None = None,
                   max_categories: int | None = None) -> PeerResult:
    """Fit ``peer`` on ``train`` (a pandas DataFrame) and draw ``n`` rows.

    Numeric dtypes are continuous columns, everything else categorical.
    ``epsilon`` is required for the DP peers and must be None for ``ctgan`` and
    ``tvae``. ``max_categories`` (dpmm peers only) pools the values beyond each
    categorical column's most frequent into one, so that a high-cardinality
    column fits in the peer's domain. Raises PeerUnavailable, TimeoutError, or RuntimeError (worker
    failure, with the tail of its stderr).
    """
    if peer not in PEERS and peer != _TEST_PEER:
        raise ValueError(f"unknown peer {peer!r}; one of {', '.join(PEERS)}")
    if peer in DP_PEERS and (epsilon is None or epsilon <= 0):
        raise ValueError(f"{peer} is a DP synthesizer: give epsilon > 0")
    if peer in ("ctgan", "tvae") and epsilon is not None:
        raise ValueError(f"SDV {peer} has no DP: pass epsilon=None")
    if n <= 0:
        raise ValueError("n must be positive")
    train = train.reset_index(drop=True)
    train.columns = [str(c) for c in train.columns]
    numeric, categorical = _column_kinds(train)
    if peer == _TEST_PEER:
        status, python = f"subprocess:{sys.executable}", sys.executable
        probe = {"pyarrow": importlib.util.find_spec("pyarrow") is not None}
    else:
        status, python, probe = _locate(peer)
    if status.startswith("missing"):
        raise PeerUnavailable(f"{peer}: {status}")
    here_parquet = importlib.util.find_spec("pyarrow") is not None
    if python == "in-process" and timeout_s is None:
        out, fit, sample, settings = _fit_sample_local(
            peer, train, n, numeric, categorical, epsilon, delta, seed, max_categories)
        frame = _conform(out, train, numeric, categorical)
        return PeerResult(frame=frame, fit_seconds=fit, sample_seconds=sample,
                          rows_per_second=n / sample if sample > 0 else float("inf"),
                          peak_rss_mb=None, settings=settings, runner="in-process")
    if python == "in-process":
        python = sys.executable
    parquet = here_parquet and bool(probe.get("pyarrow", False))
    return _run_worker(python, peer, train, n, numeric, categorical, epsilon, delta,
                       seed, timeout_s, parquet, max_categories)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--probe"]:
        print(json.dumps(_probe_here()))
        return 0
    if argv[:1] == ["--worker"] and len(argv) == 2:
        return _worker(argv[1])
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    for peer, status in available_peers().items():
        print(f"{peer:<9}{status}")
    for python in _candidate_pythons():
        versions = _probe(python).get("versions")
        if versions:
            print(f"{python}: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
