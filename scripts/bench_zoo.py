"""Fidelity of HZG on the zoo of public tables, beside independent columns and peers.

    python scripts/bench_zoo.py [--zoo DIR] [--tables storms weather ...]
        [--epsilons 1 3] [--runs 1] [--fast] [--peers dpmm-mst dpmm-aim]
        [--baseline-root DIR] [--cache out/zoo] [--json FILE] [--set KEY=VALUE]

Each table ``DIR/NAME.csv.gz`` (default: ``shared/data/zoo`` in the folder holding the
repository) is split 80/20 with ``numpy.random.default_rng(0).permutation``
(first 80% train); the training part is written back as CSV text and given
to ``trainer.train`` exactly as ``hzg train FILE`` reads it, with one
declaration: ``rownames`` (R's row number) is an id, regenerated and left
out of every metric. Each generator draws as many rows as the training part.

Metrics (computed here, on the real training part as reference):

* bins: numeric and datetime columns in (at most) 20 quantile bins of the
  real training part, or one bin per value when they have at most 20, as in
  ``trainer.evaluate``; categorical columns keep
  their 20 most frequent real values as bins and pool every other value,
  the rare token included, in one "other" bin (a 56,000-title column then
  scores its frequent values, not whether unique strings were copied);
  null is a bin of its own;
* **1-way / 2-way TVD**: mean over columns / all pairs of columns of the
  total-variation distance of the binned marginals (integer codes and one
  ``bincount`` per pair, so 46 columns cost about a second);
* **indep**: the same for a non-private baseline that samples each column
  independently from the real training part;
* **TSTR**: a HistGradientBoostingClassifier trained on synthetic rows,
  ROC AUC on the real holdout for the table's target (one-vs-rest weighted
  by prevalence when it has more than two classes), beside train-on-real;
* the three worst columns and pairs, and every column whose 1-way TVD
  exceeds 0.1 with what the bundle did to it (kind, values kept, share of
  rare tokens, range) and its worst bin.

Peers (``scripts/peers.py``: dpmm's MST and AIM, DP discretisation, in the
peers venv) are given the exact category lists of the training part, as
dpmm does by default (not DP: it favours them), with values beyond a
column's 100 most frequent pooled first (AIM's domain would not fit
otherwise); AIM's rounds are bounded (see ``peers.DPMM_AIM_ROUNDS``).
Their results, and the baseline's, are cached under ``--cache`` by table,
ε and settings, so that an iteration on HZG reruns only HZG.

The privacy unit is one row. baseball (player seasons) and storms
(observations of a storm) hold several rows per entity: a row-level
guarantee does not protect a player or a storm as a whole.

Runs on 2 shared cores take long: use ``nice -n 10``; ``--fast`` runs four
tables (storms, happiness, nasscds, weather) at ε = 3 with one fit. Two runs
side by side need ``OMP_NUM_THREADS=1``: otherwise the OpenMP threads of
their TSTR classifiers spin against each other and one TSTR takes minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trainer.evaluate import fidelity  # noqa: E402 - after the path line above

DEFAULT_ZOO = ROOT.parent / "shared" / "data" / "zoo"
TARGETS = {
    "movies": "Action", "seattlepets": "species", "mplsstops": "problem",
    "randhie": "female", "happiness": "happy", "baseball": "lg", "storms": "status",
    "gss_wages": "gender", "weather": "origin", "nasscds": "dead",
}
FAST_TABLES = ("storms", "happiness", "nasscds", "weather")
ID_COLUMN = "rownames"
DELTA = 1e-5
BINS = 20
TOP_VALUES = 20
PEER_MAX_CATEGORIES = 100
LOUD = 0.1  # 1-way TVD above which a column is listed with its reason


# --- data --------------------------------------------------------------------


def load_table(path: Path) -> tuple[Any, Any]:
    """Text frames of the training and holdout parts (cells as written)."""
    import pandas as pd

    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    perm = np.random.default_rng(0).permutation(len(text))
    cut = int(len(text) * 0.8)
    return (text.iloc[perm[:cut]].reset_index(drop=True),
            text.iloc[perm[cut:]].reset_index(drop=True))


def typed_frame(text: Any) -> tuple[Any, dict[str, str]]:
    """Typed frame for the metrics, and each column's metric kind.

    Numbers as pandas would read them; ISO datetimes as epoch seconds; the
    rest strings (None for an empty cell).
    """
    import pandas as pd

    out, kinds = {}, {}
    for name in text.columns:
        cells = pd.Series([None if v is None or v == "" or v != v else v
                           for v in text[name].tolist()], dtype=object)
        numbers = pd.to_numeric(cells, errors="coerce")
        present = cells.notna()
        if present.any() and numbers[present].notna().mean() == 1.0:
            out[name], kinds[name] = numbers.astype(float), "num"
            continue
        stamps = pd.to_datetime(cells, errors="coerce", utc=True, format="ISO8601")
        if present.any() and stamps[present].notna().mean() >= 0.99:
            out[name], kinds[name] = _seconds(stamps), "num"
            continue
        out[name], kinds[name] = cells, "cat"
    return pd.DataFrame(out), kinds


def _seconds(stamps: Any) -> Any:
    import pandas as pd

    values = stamps.astype("datetime64[ns, UTC]")
    seconds = values.astype("int64").astype(float) / 1e9
    seconds[values.isna().to_numpy()] = np.nan
    return pd.Series(seconds, index=stamps.index)


def conform(synthetic: Any, kinds: dict[str, str]) -> Any:
    """A generator's output in the metric types of the real columns."""
    import pandas as pd

    out = {}
    for name, kind in kinds.items():
        if name not in synthetic:
            out[name] = pd.Series([None] * len(synthetic), dtype=object)
            continue
        column = synthetic[name].reset_index(drop=True)
        if kind == "num":
            if pd.api.types.is_datetime64_any_dtype(column.dtype):
                if getattr(column.dt, "tz", None) is None:
                    column = column.dt.tz_localize("UTC")
                out[name] = _seconds(column)
            elif pd.api.types.is_numeric_dtype(column.dtype) and not \
                    pd.api.types.is_bool_dtype(column.dtype):
                out[name] = column.astype(float)
            else:
                text = column.astype(object).where(column.notna(), None)
                numbers = pd.to_numeric(text, errors="coerce")
                if numbers.notna().sum() < 0.5 * text.notna().sum():
                    stamps = pd.to_datetime(text, errors="coerce", utc=True,
                                            format="ISO8601")
                    numbers = _seconds(stamps)
                out[name] = numbers.astype(float)
        else:
            out[name] = pd.Series([None if v is None or v is pd.NA
                                   or (isinstance(v, float) and v != v) else _text(v)
                                   for v in column.tolist()], dtype=object)
    return pd.DataFrame(out)


def _text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def independent_columns(train: Any, n: int, seed: int = 1) -> Any:
    rng = np.random.default_rng(seed)
    return train.apply(lambda c: c.to_numpy()[rng.integers(0, len(c), n)])


# --- metrics -----------------------------------------------------------------


class Coder:
    """Integer bin codes of each column, fixed on the real training part."""

    def __init__(self, reference: Any, kinds: dict[str, str]):
        self.names = list(kinds)
        self.kinds = kinds
        self.edges: dict[str, np.ndarray] = {}
        self.values: dict[str, dict[str, int]] = {}
        self.labels: dict[str, list[str]] = {}
        for name in self.names:
            column = reference[name]
            if kinds[name] == "num":
                values = column.dropna().to_numpy(dtype=float)
                edges = fidelity.numeric_edges(values, BINS)
                self.edges[name] = edges
                inner = edges[1:-1]
                self.labels[name] = ([f"<{_short(edges[1])}" if len(edges) > 2 else "all"]
                                     + [f"[{_short(a)},{_short(b)})"
                                        for a, b in zip(inner, inner[1:])]
                                     + ([f">={_short(edges[-2])}"] if len(edges) > 2
                                        else []))[:max(len(edges) - 1, 1)]
            else:
                counts = column.dropna().value_counts()
                top = [str(v) for v in counts.index[:TOP_VALUES]]
                self.values[name] = {v: i for i, v in enumerate(top)}
                self.labels[name] = top + ["(other)"]
            self.labels[name] = self.labels[name] + ["(null)"]

    def size(self, name: str) -> int:
        return len(self.labels[name])

    def code_column(self, name: str, column: Any) -> np.ndarray:
        """Bin codes of one column; null is the last code, "other" the one before."""
        import pandas as pd

        k = self.size(name)
        if self.kinds[name] == "num":
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            code = np.clip(np.searchsorted(self.edges[name][1:-1], values, side="right"), 0,
                           max(k - 2, 0))
            code[np.isnan(values)] = k - 1
            return code.astype(np.int64)
        lookup, other = self.values[name], k - 2
        return np.array([k - 1 if v is None or v != v else lookup.get(v, other)
                         for v in column.tolist()], dtype=np.int64)

    def codes(self, frame: Any) -> dict[str, np.ndarray]:
        return {name: self.code_column(name, frame[name]) for name in self.names}


def _short(x: float) -> str:
    return f"{x:.4g}"


def tvds(real: dict[str, np.ndarray], synth: dict[str, np.ndarray], coder: Coder
         ) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """1-way and 2-way TVDs over the coder's bins (one bincount per pair)."""
    names = coder.names
    nr, ns = len(next(iter(real.values()))), len(next(iter(synth.values())))
    one = {}
    for name in names:
        k = coder.size(name)
        p = np.bincount(real[name], minlength=k) / nr
        q = np.bincount(synth[name], minlength=k) / ns
        one[name] = float(0.5 * np.abs(p - q).sum())
    two = {}
    for i, x in enumerate(names):
        kx = coder.size(x)
        for y in names[i + 1:]:
            ky = coder.size(y)
            p = np.bincount(real[x] * ky + real[y], minlength=kx * ky) / nr
            q = np.bincount(synth[x] * ky + synth[y], minlength=kx * ky) / ns
            two[(x, y)] = float(0.5 * np.abs(p - q).sum())
    return one, two


def tstr(train: Any, test: Any, target: str | None, coder: Coder, seed: int = 0) -> float:
    """Train on ``train`` (synthetic or real), ROC AUC on the real ``test`` (NaN if
    the classifier cannot be fitted, with a line saying why)."""
    if target is None:
        return float("nan")
    try:
        return _tstr(train, test, target, coder, seed)
    except ValueError as error:
        print(f"      TSTR failed: {str(error).splitlines()[0][:120]}")
        return float("nan")


def _tstr(train: Any, test: Any, target: str, coder: Coder, seed: int) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    y_test_raw = test[target]
    keep_test = y_test_raw.notna().to_numpy()
    classes = [_text(v) for v in y_test_raw[keep_test].value_counts().index]
    y_train_raw = train[target]
    keep_train = y_train_raw.notna().to_numpy()
    y_train = np.array([_text(v) for v in y_train_raw[keep_train].tolist()])
    y_test = np.array([_text(v) for v in y_test_raw[keep_test].tolist()])
    if len(set(y_train) & set(classes)) < 2:
        return 0.5
    features = [n for n in coder.names if n != target]

    def matrix(frame: Any, rows: np.ndarray) -> np.ndarray:
        import pandas as pd

        cols = []
        for name in features:
            if coder.kinds[name] == "num":
                cols.append(pd.to_numeric(frame[name], errors="coerce")
                            .to_numpy(dtype=float)[rows])
            else:
                codes = coder.code_column(name, frame[name]).astype(float)
                codes[codes == coder.size(name) - 1] = np.nan
                cols.append(codes[rows])
        out = np.stack(cols, axis=1)
        out[:, np.isnan(out).all(axis=0)] = 0.0  # sklearn cannot bin an all-null column
        return out

    mask = np.array([coder.kinds[n] == "cat" for n in features])
    model = HistGradientBoostingClassifier(categorical_features=mask, random_state=seed,
                                           max_iter=100, early_stopping=False)
    model.fit(matrix(train, keep_train), y_train)
    proba = model.predict_proba(matrix(test, keep_test))
    known = list(model.classes_)
    if len(classes) == 2:
        positive = classes[-1]  # the less frequent class
        score = proba[:, known.index(positive)] if positive in known else np.zeros(len(y_test))
        return float(roc_auc_score(y_test == positive, score))
    full = np.zeros((len(y_test), len(classes)))
    for j, c in enumerate(classes):
        if c in known:
            full[:, j] = proba[:, known.index(c)]
    present = [j for j, c in enumerate(classes) if (y_test == c).any() and (y_test != c).any()]
    weights = np.array([(y_test == classes[j]).mean() for j in present])
    aucs = np.array([roc_auc_score(y_test == classes[j], full[:, j]) for j in present])
    return float((weights * aucs).sum() / weights.sum())


# --- reasons -----------------------------------------------------------------


def reason(name: str, real: dict[str, np.ndarray], synth: dict[str, np.ndarray],
           coder: Coder, raw_synth: Any, schema: dict[str, Any] | None,
           real_frame: Any) -> str:
    """What the bundle did to a column, and its worst bin (diagnostic text)."""
    k = coder.size(name)
    p = np.bincount(real[name], minlength=k) / len(real[name])
    q = np.bincount(synth[name], minlength=k) / len(synth[name])
    worst = int(np.argmax(np.abs(p - q)))
    parts = [f"worst bin {coder.labels[name][worst]} real {p[worst]:.3f} "
             f"synth {q[worst]:.3f}"]
    column = None
    if schema is not None:
        column = next((c for c in schema["columns"] if c["name"] == name), None)
    if column is None:
        return "; ".join(parts)
    kind = f"{column['kind']}/{column['value_type']}"
    if column["kind"] == "categorical":
        distinct = real_frame[name].dropna().nunique()
        kept = len(column.get("categories", []))
        rare = column.get("rare_label")
        share = 0.0
        if rare is not None and name in raw_synth:
            share = float((raw_synth[name].astype(object) == rare).mean())
        parts.insert(0, f"{kind}: {kept} of {distinct} values kept, {share:.0%} rare")
    elif column["kind"] in ("numeric", "datetime"):
        edges = column["cell_edges"]
        values = real_frame[name].dropna().to_numpy(dtype=float)
        lo, hi = float(edges[0]), float(edges[-1])
        if column["kind"] == "numeric" and len(values):
            outside = float(((values < lo) | (values >= hi)).mean())
            parts.insert(0, f"{kind}: grid [{_short(lo)}, {_short(hi)}) over real "
                         f"[{_short(values.min())}, {_short(values.max())}] "
                         f"({outside:.0%} outside), {len(column['bin_starts'])} bins,"
                         f" {column.get('decimals', 0)} decimals")
        else:
            parts.insert(0, f"{kind}: {len(column['bin_starts'])} bins")
    else:
        parts.insert(0, kind)
    return "; ".join(parts)


# --- generators ----------------------------------------------------------------


def cache_path(cache: Path, *key: Any) -> Path:
    digest = hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:16]
    return cache / f"{key[0]}-{key[1]}-{digest}.parquet"


def run_hzg(train_csv: Path, n: int, epsilon: float | None, root: str | None,
            config: dict[str, Any] | None = None,
            kinds: dict[str, str] | None = None) -> Any:
    from scripts.hzg_runner import fit_and_sample

    schema = {"columns": {ID_COLUMN: {"kind": "id"},
                          **{c: {"kind": k} for c, k in (kinds or {}).items()}}}
    return fit_and_sample(str(train_csv), n, epsilon=epsilon, delta=DELTA, schema=schema,
                          config=config, root=root)


def recipe_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["epochs=10", "privacy.metadata_share=0.2"]`` as a plain config mapping."""
    plain: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"bench_zoo: --set wants KEY=VALUE, not {pair!r}")
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        *parents, leaf = key.split(".")
        node = plain
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return plain


def run_peer(peer: str, train: Any, n: int, epsilon: float, cache: Path,
             table: str) -> tuple[Any, float] | str:
    from scripts import peers

    key = (table, peer, epsilon, DELTA, PEER_MAX_CATEGORIES, peers.peer_settings(peer))
    path = cache_path(cache, *key)
    if path.exists():
        import pandas as pd

        meta = json.loads(path.with_suffix(".json").read_text())
        return pd.read_parquet(path), float(meta["fit_seconds"])
    try:
        result = peers.fit_and_sample(peer, train, n, epsilon=epsilon, delta=DELTA, seed=0,
                                      max_categories=PEER_MAX_CATEGORIES)
    except Exception as error:  # noqa: BLE001 - a failing peer is reported, not fatal
        return f"failed: {type(error).__name__}: {str(error).splitlines()[-1][:120]}"
    cache.mkdir(parents=True, exist_ok=True)
    result.frame.to_parquet(path, index=False)
    path.with_suffix(".json").write_text(json.dumps({"fit_seconds": result.fit_seconds,
                                                     "settings": result.settings}))
    return result.frame, result.fit_seconds


# --- the run -------------------------------------------------------------------


def evaluate_table(name: str, path: Path, args: Any, out: list[dict[str, Any]]) -> None:
    import tempfile

    train_text, hold_text = load_table(path)
    target = TARGETS.get(name)
    columns = [c for c in train_text.columns if c != ID_COLUMN]
    train, kinds = typed_frame(train_text[columns])
    hold = conform(typed_frame(hold_text[columns])[0], kinds)
    coder = Coder(train, kinds)
    real_codes = coder.codes(train)
    n = len(train)
    tstr_real = tstr(train, hold, target, coder)
    print(f"\n== {name}: {n} train / {len(hold)} holdout rows, {len(columns)} columns "
          f"(+ {ID_COLUMN}), target {target}, TSTR on real {tstr_real:.3f}", flush=True)
    base_synth = independent_columns(train, n)
    base_one, base_two = tvds(real_codes, coder.codes(base_synth), coder)
    base = {"tvd_1way": float(np.mean(list(base_one.values()))),
            "tvd_2way": float(np.mean(list(base_two.values()))),
            "tstr": tstr(base_synth, hold, target, coder)}
    header = (f"  {'generator':<22}{'1-way':>7}{'2-way':>7}{'indep2':>8}{'ratio':>7}"
              f"{'TSTR':>7}{'real':>7}{'fit s':>8}  worst columns / pairs")
    print(header)
    print(f"  {'independent columns':<22}{base['tvd_1way']:>7.3f}{base['tvd_2way']:>7.3f}"
          f"{base['tvd_2way']:>8.3f}{1.0:>7.2f}{base['tstr']:>7.3f}{tstr_real:>7.3f}"
          f"{0.0:>8.1f}")
    with tempfile.TemporaryDirectory(prefix="hzg-zoo-") as tmp:
        train_csv = Path(tmp) / f"{name}.csv"
        train_text.to_csv(train_csv, index=False)
        runs: list[tuple[str, float | None, Any]] = []
        for eps in args.epsilons:
            for run in range(args.runs):
                label = f"HZG eps={eps:g}" + (f" #{run + 1}" if args.runs > 1 else "")
                runs.append((label, eps, ("hzg", None)))
                if args.baseline_root:
                    runs.append((label.replace("HZG", "HZG@base"), eps,
                                 ("hzg", args.baseline_root)))
            for peer in args.peers:
                runs.append((f"{peer} eps={eps:g}", eps, ("peer", peer)))
        for label, eps, (what, who) in runs:
            schema = None
            started = time.perf_counter()
            try:
                if what == "hzg":
                    result = run_hzg(train_csv, n, eps, who, args.recipe,
                                     args.declared.get(name))
                    raw, fit, schema = result.frame, result.fit_seconds, result.schema
                    for line in result.notices:
                        print(f"  {'':<22}notice: {line[:150]}", flush=True)
                else:
                    got = run_peer(who, train, n, eps, args.cache, name)
                    if isinstance(got, str):
                        print(f"  {label:<22}  {got}", flush=True)
                        continue
                    raw, fit = got
            except Exception as error:  # noqa: BLE001 - one failing fit is reported
                last = (str(error).strip().splitlines() or ["?"])[-1][:160]
                print(f"  {label:<22}  failed after {time.perf_counter() - started:.0f} s: "
                      f"{type(error).__name__}: {last}", flush=True)
                out.append({"table": name, "generator": label, "epsilon": eps,
                            "error": last})
                continue
            synth = conform(raw, kinds)
            synth_codes = coder.codes(synth)
            one, two = tvds(real_codes, synth_codes, coder)
            row = {"table": name, "generator": label, "epsilon": eps,
                   "tvd_1way": float(np.mean(list(one.values()))),
                   "tvd_2way": float(np.mean(list(two.values()))),
                   "tvd_1way_columns": one,
                   "indep_1way": base["tvd_1way"], "indep_2way": base["tvd_2way"],
                   "tstr": tstr(synth, hold, target, coder),
                   "tstr_real": tstr_real, "fit_seconds": fit,
                   "worst_columns": sorted(one.items(), key=lambda kv: -kv[1])[:3],
                   "worst_pairs": [(f"{a} x {b}", v) for (a, b), v in
                                   sorted(two.items(), key=lambda kv: -kv[1])[:3]]}
            loud = {c: v for c, v in one.items() if v > LOUD}
            row["loud"] = {c: (v, reason(c, real_codes, synth_codes, coder, raw, schema, train))
                           for c, v in sorted(loud.items(), key=lambda kv: -kv[1])}
            out.append(row)
            ratio = row["tvd_2way"] / base["tvd_2way"] if base["tvd_2way"] else float("nan")
            worst = ", ".join(f"{c} {v:.2f}" for c, v in row["worst_columns"])
            print(f"  {label:<22}{row['tvd_1way']:>7.3f}{row['tvd_2way']:>7.3f}"
                  f"{base['tvd_2way']:>8.3f}{ratio:>7.2f}{row['tstr']:>7.3f}"
                  f"{tstr_real:>7.3f}{fit:>8.1f}  {worst}", flush=True)
            print(f"  {'':<22}{'':>44}  " + ", ".join(f"{p} {v:.2f}"
                                                      for p, v in row["worst_pairs"]))
            for c, (v, why) in row["loud"].items():
                print(f"      1-way {v:.3f} {c}: {why}")
            for c in args.declared.get(name, {}):
                print(f"      {c}: {released_share(raw, schema, c)}")


def released_share(raw: Any, schema: dict[str, Any] | None, name: str) -> str:
    """What a declared column's synthetic values are: released values, the
    rare label, or made-up fillers."""
    column = next((c for c in (schema or {}).get("columns", []) if c["name"] == name), None)
    if column is None or column["kind"] != "categorical":
        return "not a categorical/text column in this bundle"
    values = raw[name].dropna().astype(str)
    released = values.isin([str(v) for v in column["categories"]]).mean()
    rare = (values == column["rare_label"]).mean() if column["rare_label"] else 0.0
    return (f"{len(column['categories'])} released values make {released:.1%} of rows, "
            f"{column['rare_label']} {rare:.1%}, fillers {1 - released - rare:.1%}"
            + (f" (filler {column['filler']})" if column.get("filler") else ""))


def summary(results: list[dict[str, Any]]) -> None:
    rows = [r for r in results if "error" not in r]
    if not rows:
        return
    print("\n== summary: 2-way TVD / independent columns (lower is better; bar: < 1 on every "
          "table, mean <= 0.70 at eps=3 and <= 0.85 at eps=1)")
    generators = sorted({(r["generator"].split(" #")[0]) for r in rows})
    tables = sorted({r["table"] for r in rows})
    print(f"  {'generator':<22}" + "".join(f"{t[:9]:>10}" for t in tables) + f"{'mean':>8}"
          f"{'worse':>7}")
    for g in generators:
        ratios = []
        cells = []
        for t in tables:
            mine = [r for r in rows if r["table"] == t and r["generator"].split(" #")[0] == g]
            if not mine:
                cells.append(f"{'-':>10}")
                continue
            ratio = float(np.mean([r["tvd_2way"] / r["indep_2way"] for r in mine]))
            ratios.append(ratio)
            cells.append(f"{ratio:>10.2f}")
        print(f"  {g:<22}" + "".join(cells) + f"{np.mean(ratios):>8.2f}"
              f"{sum(r >= 1 for r in ratios):>7d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", type=Path, default=DEFAULT_ZOO,
                        help="folder of the zoo's NAME.csv.gz files (default: %(default)s)")
    parser.add_argument("--tables", nargs="+", help=f"subset of {sorted(TARGETS)}")
    parser.add_argument("--epsilons", type=float, nargs="+", default=None)
    parser.add_argument("--runs", type=int, default=1, help="HZG fits per table and epsilon")
    parser.add_argument("--fast", action="store_true",
                        help=f"tables {', '.join(FAST_TABLES)} at eps=3, one fit")
    parser.add_argument("--peers", nargs="*", default=[],
                        help="peers from scripts/peers.py, e.g. dpmm-mst dpmm-aim")
    parser.add_argument("--baseline-root", default=None,
                        help="also fit HZG from this checkout (e.g. a worktree of an "
                             "earlier commit), in the same run")
    parser.add_argument("--cache", type=Path, default=ROOT / "out" / "zoo-cache",
                        help="peer results cached here (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="write all results to this file")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="a recipe setting for HZG's fits (TrainConfig keys, "
                             "privacy.KEY for the budget split), e.g. "
                             "privacy.metadata_share=0.2; repeatable")
    parser.add_argument("--declare", action="append", default=[], metavar="TABLE.COLUMN=KIND",
                        help="declare a column's kind in HZG's schema file, e.g. "
                             "movies.title=text; repeatable")
    args = parser.parse_args()
    args.recipe = recipe_overrides(args.overrides)
    args.declared = {}
    for pair in args.declare:
        where, _, kind = pair.partition("=")
        table, _, column = where.partition(".")
        if not (table and column and kind):
            raise SystemExit(f"bench_zoo: --declare wants TABLE.COLUMN=KIND, not {pair!r}")
        args.declared.setdefault(table, {})[column] = kind
    if not args.zoo.is_dir():
        print(f"bench_zoo: zoo folder {args.zoo} not found; pass --zoo DIR with the "
              "NAME.csv.gz tables (see the zoo's README)", file=sys.stderr)
        return 1
    tables = args.tables or (list(FAST_TABLES) if args.fast else sorted(TARGETS))
    unknown = [t for t in tables if not (args.zoo / f"{t}.csv.gz").exists()]
    if unknown:
        print(f"bench_zoo: no {', '.join(f'{t}.csv.gz' for t in unknown)} in {args.zoo}",
              file=sys.stderr)
        return 1
    if args.epsilons is None:
        args.epsilons = [3.0] if args.fast else [1.0, 3.0]
    warnings.filterwarnings("ignore")
    print(f"zoo benchmark: {len(tables)} tables, eps {args.epsilons}, delta={DELTA:g}, "
          f"{args.runs} HZG fit(s) each; bins: {BINS} quantiles / top {TOP_VALUES} values"
          + (f"; recipe {' '.join(args.overrides)}" if args.overrides else ""))
    results: list[dict[str, Any]] = []
    for name in tables:
        evaluate_table(name, args.zoo / f"{name}.csv.gz", args, results)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1, default=str))
    summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
