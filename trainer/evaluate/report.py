"""The evaluation as one self-contained HTML file (plots embedded, no network).

Reading order: the notice that these figures are not DP, the verdict table
(what is good, what is weak, what to do), then the evidence: distributions,
associations, prediction, privacy, groups, and the privacy statement in
plain words. Every number shown is rendered from the same
:class:`~trainer.evaluate.result.EvaluationResult` as ``--json`` and carries
its place in that JSON (``data-metric``) so a test can hold them equal.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from trainer.evaluate.result import EvaluationResult

__all__ = ("SECTIONS", "render_html")

# (id, title) of each section, in order; the screenshot script reads these
SECTIONS = (
    ("top", "Verdict"),
    ("distributions", "Column distributions"),
    ("associations", "Associations between columns"),
    ("prediction", "Prediction"),
    ("privacy", "Privacy of the rows"),
    ("groups", "Groups, tails and unique rows"),
    ("statement", "The privacy statement in plain words"),
)

REAL, SYNTHETIC = "#4c72b0", "#dd8452"
STATUS_COLOURS = {"good": "#2e7d32", "weak": "#b26a00", "poor": "#c62828"}

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       margin: 0; color: #1d1d1f; background: #fafafa; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 0 0 12px; border-bottom: 2px solid #ddd; padding-bottom: 6px; }
h3 { font-size: 16px; margin: 18px 0 8px; }
section { background: #fff; border: 1px solid #e3e3e3; border-radius: 8px;
          padding: 20px 24px; margin: 20px 0; }
.subtitle { color: #555; margin: 0 0 14px; }
.notice { background: #fdecea; border: 2px solid #c62828; color: #7f1d1d; border-radius: 6px;
          padding: 12px 16px; font-weight: 600; margin: 12px 0; }
.dp { border-radius: 6px; padding: 10px 16px; margin: 12px 0; font-weight: 600; }
.dp.yes { background: #e8f5e9; border: 1px solid #2e7d32; color: #1b5e20; }
.dp.no { background: #fdecea; border: 2px solid #c62828; color: #7f1d1d; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 6px 0 10px; }
th, td { border-bottom: 1px solid #eee; padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.status { font-weight: 700; text-transform: uppercase; font-size: 12px; letter-spacing: .04em;
          white-space: nowrap; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
nav a { margin-right: 14px; color: #1a5fb4; text-decoration: none; font-size: 14px; }
.small { color: #666; font-size: 13px; }
ul.words li { margin: 4px 0; }
"""


# --- numbers tied to their JSON place ------------------------------------------


def shown(value: Any, spec: str, percent: bool) -> str:
    """How the report writes a number: ``format(value, spec)``, ×100 and "%" for a
    share, "–" for a missing value."""
    if value is None:
        return "–"
    return format(100 * value, spec) + "%" if percent else format(value, spec)


def number(path: Sequence[Any], value: Any, digits: int = 3, *, percent: bool = False,
           spec: str | None = None) -> str:
    """A number shown in the report, tagged with its place in the JSON."""
    if spec is None:
        spec = "," if isinstance(value, int) and not isinstance(value, bool) else f".{digits}f"
    tag = html.escape(json.dumps(list(path)), quote=True)
    raw = html.escape(json.dumps(value), quote=True)
    return (f'<span data-metric="{tag}" data-value="{raw}" data-spec="{spec}"'
            f'{" data-percent" if percent else ""}>{shown(value, spec, percent)}</span>')


def _row(cells: Sequence[str], *, header: bool = False, numeric: Sequence[bool] = ()) -> str:
    tag = "th" if header else "td"
    out = []
    for i, cell in enumerate(cells):
        cls = ' class="num"' if i < len(numeric) and numeric[i] else ""
        out.append(f"<{tag}{cls}>{cell}</{tag}>")
    return "<tr>" + "".join(out) + "</tr>"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    body = [_row([html.escape(h) for h in head], header=True, numeric=numeric)]
    body += [_row(r, numeric=numeric) for r in rows]
    return "<table>" + "".join(body) + "</table>"


def _e(text: Any) -> str:
    return html.escape(str(text))


# --- plots -----------------------------------------------------------------------


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{data}">'


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False})
    return plt


def _short(label: str, width: int = 14) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _histograms(histograms: dict[str, dict[str, list[Any]]], tvds: dict[str, float]) -> str:
    plt = _pyplot()
    names = list(histograms)
    cols = 3
    rows = math.ceil(len(names) / cols)
    figure, axes = plt.subplots(rows, cols, figsize=(11, 2.9 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        h = histograms[name]
        x = range(len(h["labels"]))
        ax.bar([i - 0.2 for i in x], h["real"], width=0.4, color=REAL, label="real")
        ax.bar([i + 0.2 for i in x], h["synthetic"], width=0.4, color=SYNTHETIC,
               label="synthetic")
        ax.set_title(f"{_short(name, 28)}  (TVD {tvds[name]:.3f})", fontsize=10)
        step = max(1, len(h["labels"]) // 8)
        ax.set_xticks(list(x)[::step])
        ax.set_xticklabels([_short(_tick(v)) for v in h["labels"]][::step], rotation=35,
                           ha="right", fontsize=7)
        ax.set_ylabel("share of rows", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=2, fontsize=9,
                  bbox_to_anchor=(0.5, 1.0), frameon=False)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.25 / (2.9 * rows)))
    return _png(figure)


def _tick(label: Any) -> str:
    """Bin labels: numbers written compactly (12.3k, 1.2M), the rest as they are."""
    try:
        x = float(label)
    except (TypeError, ValueError):
        return str(label)
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(x) >= size:
            return f"{x / size:.3g}{suffix}"
    return f"{x:.4g}"


def _heatmaps(names: list[str], real: list[list[float]], synthetic: list[list[float]]
              ) -> str:
    """Real and synthetic side by side, then their difference, large enough to read."""
    import numpy as np

    plt = _pyplot()
    r, s = np.asarray(real), np.asarray(synthetic)
    labels = [_short(n, 18) for n in names]

    def panel(ax: Any, m: Any, title: str, cmap: str, lo: float, hi: float) -> None:
        image = ax.imshow(m, cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=11)
        ax.set_xticks(range(len(names)))
        ax.set_yticks(range(len(names)))
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
        ax.set_yticklabels(labels, fontsize=8)
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)

    side = max(4.5, 0.3 * len(names) + 2.5)
    pair, axes = plt.subplots(1, 2, figsize=(2 * side + 1, side))
    panel(axes[0], r, "real rows: Cramér's V", "viridis", 0.0, 1.0)
    panel(axes[1], s, "synthetic rows: Cramér's V", "viridis", 0.0, 1.0)
    pair.tight_layout()
    diff, ax = plt.subplots(figsize=(side + 1.5, side))
    panel(ax, s - r, "synthetic − real (blue: association lost)", "RdBu_r", -0.5, 0.5)
    diff.tight_layout()
    return _png(pair) + _png(diff)


def _importances(real: dict[str, float], synthetic: dict[str, float]) -> str:
    plt = _pyplot()
    names = sorted(real, key=lambda n: -real[n])
    figure, ax = plt.subplots(figsize=(10, 0.32 * len(names) + 1.2))
    y = range(len(names))
    ax.barh([i - 0.2 for i in y], [real[n] for n in names], height=0.4, color=REAL,
            label="model trained on real rows")
    ax.barh([i + 0.2 for i in y], [synthetic[n] for n in names], height=0.4, color=SYNTHETIC,
            label="model trained on synthetic rows")
    ax.set_yticks(list(y))
    ax.set_yticklabels([_short(n, 24) for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("permutation importance (drop of the holdout score)")
    ax.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return _png(figure)


def _dcr_plot(d: dict[str, Any]) -> str:
    plt = _pyplot()
    edges = d["histogram_edges"]
    mids = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    width = (edges[1] - edges[0]) * 0.42 if len(edges) > 1 else 0.1
    total_s = max(sum(d["histogram_synthetic"]), 1)
    total_h = max(sum(d["histogram_holdout"]), 1)
    figure, ax = plt.subplots(figsize=(10, 3))
    ax.bar([m - width / 2 for m in mids], [c / total_s for c in d["histogram_synthetic"]],
           width=width, color=SYNTHETIC, label="synthetic row → nearest training row")
    ax.bar([m + width / 2 for m in mids], [c / total_h for c in d["histogram_holdout"]],
           width=width, color=REAL, label="holdout row → nearest training row")
    ax.set_xlabel("distance to the closest training record (Gower; the last bar holds the tail)")
    ax.set_ylabel("share of rows")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return _png(figure)


# --- sections --------------------------------------------------------------------


def _top(p: dict[str, Any], result: EvaluationResult) -> str:
    gen = p["generator"]
    title = gen.get("name") or "generator"
    privacy = p["privacy"]
    if privacy.get("dp"):
        eps = number(["privacy", "epsilon"], privacy["epsilon"], spec=".4g")
        delta = number(["privacy", "delta"], privacy["delta"], spec=".2g")
        dp = (f'<div class="dp yes">Differentially private: ε = {eps}, δ = {delta} per row '
              "(the bundle's signed statement).</div>")
    else:
        dp = ('<div class="dp no">This generator is NOT differentially private '
              '(trained with --insecure-no-dp). Do not release it.</div>')
    rows = []
    for i, v in enumerate(p["verdicts"]):
        colour = STATUS_COLOURS[v["status"]]
        rows.append([_e(v["area"]),
                     f'<span class="status" style="color:{colour}">{_e(v["status"])}</span>',
                     _e(v["finding"]), _e(v["advice"])])
    ident = ", ".join(f"{k} {_e(gen[k])}" for k in ("id", "version", "owner") if gen.get(k))
    return (
        f'<section id="top"><h1>Evaluation of {_e(title)}</h1>'
        f'<p class="subtitle">{ident}. Compared with {number(["rows", "train"], p["rows"]["train"])}'
        f' training rows, {number(["rows", "holdout"], p["rows"]["holdout"])} holdout rows and '
        f'{number(["rows", "synthetic"], p["rows"]["synthetic"])} synthetic rows '
        f'(seed {number(["seed"], p["seed"])}).</p>'
        f'<div class="notice">{_e(p["notice"])}</div>{dp}'
        f'<nav>' + "".join(f'<a href="#{sid}">{_e(t)}</a>' for sid, t in SECTIONS[1:]) + "</nav>"
        f"<h2 style='margin-top:16px'>Verdict</h2>"
        + _table(["area", "status", "finding", "what to do"], rows, [False] * 4)
        + "</section>")


def _distributions(p: dict[str, Any]) -> str:
    f = p["fidelity"]
    rows = [[_e(name), number(["fidelity", "tvd_1way", name], v)]
            for name, v in sorted(f["tvd_1way"].items(), key=lambda kv: -kv[1])]
    return (
        '<section id="distributions"><h2>Column distributions</h2>'
        '<p>Share of rows per bin (numbers: 20 quantile bins of the real training rows; '
        'categories: the 30 most frequent values). Mean 1-way total variation distance '
        f'{number(["fidelity", "tvd_1way_mean"], f["tvd_1way_mean"])} '
        '(0: identical, 1: disjoint).</p>'
        + _histograms(f["histograms"], f["tvd_1way"])
        + "<h3>1-way TVD per column</h3>"
        + _table(["column", "TVD"], rows, [False, True]) + "</section>")


def _associations(p: dict[str, Any]) -> str:
    f = p["fidelity"]
    rows = [[_e(a), _e(b), number(["fidelity", "worst_pairs", i, 2], v)]
            for i, (a, b, v) in enumerate(f["worst_pairs"])]
    return (
        '<section id="associations"><h2>Associations between columns</h2>'
        f'<p>Cramér\'s V between every pair of columns. Mean |difference| '
        f'{number(["fidelity", "association_difference_mean"], f["association_difference_mean"])}'
        f', largest {number(["fidelity", "association_difference_max"], f["association_difference_max"])}'
        f'; mean 2-way TVD {number(["fidelity", "tvd_2way_mean"], f["tvd_2way_mean"])}.</p>'
        + _heatmaps(f["columns"], f["association_real"], f["association_synthetic"])
        + "<h3>Pairs of columns with the largest 2-way TVD</h3>"
        + _table(["column", "column", "2-way TVD"], rows, [False, False, True]) + "</section>")


def _prediction(p: dict[str, Any]) -> str:
    t = p["target"]
    if t is None:
        return ('<section id="prediction"><h2>Prediction</h2><p>No --target was given, so no '
                'model was trained.</p></section>')
    metric = "ROC AUC" if t["metric"] == "roc_auc" else "R²"
    what = (f"predicting {_e(t['target'])} = {_e(t['positive'])}" if t["positive"] is not None
            else f"predicting {_e(t['target'])}")
    scores = _table(["model trained on", f"{metric} on real holdout rows"], [
        ["real training rows", number(["target", "real_score"], t["real_score"])],
        ["synthetic rows", number(["target", "synthetic_score"], t["synthetic_score"])],
    ], [False, True])
    coefficients = sorted(t["coefficients"].items(), key=lambda kv: -abs(kv[1][0]))[:15]
    coef_rows = [[_e(name), number(["target", "coefficients", name, 0], a),
                  number(["target", "coefficients", name, 1], b)]
                 for name, (a, b) in coefficients]
    return (
        f'<section id="prediction"><h2>Prediction</h2><p>Gradient-boosted trees {what}, '
        'trained on each table and tested on the real holdout rows.</p>' + scores
        + "<h3>Which features matter</h3>"
        f'<p>Rank correlation of the two models\' permutation importances: ρ = '
        f'{number(["target", "importance_rank_correlation"], t["importance_rank_correlation"], 2)}.</p>'
        + _importances(t["importances_real"], t["importances_synthetic"])
        + "<h3>Linear model coefficients (15 largest on real rows)</h3>"
        "<p class='small'>Numbers as z-scores of the real training rows, categories one-hot "
        "against their first value.</p>"
        + _table(["feature", "real rows", "synthetic rows"], coef_rows, [False, True, True])
        + "</section>")


def _risk_row(label: str, path: list[Any], risk: dict[str, Any]) -> list[str]:
    return [_e(label), number(path + ["value"], risk["value"]),
            number(path + ["ci_low"], risk["ci_low"]) + " – " + number(path + ["ci_high"],
                                                                        risk["ci_high"]),
            number(path + ["attack_rate"], risk["attack_rate"]),
            number(path + ["control_rate"], risk["control_rate"]),
            number(path + ["attacks"], risk["attacks"])]


def _privacy(p: dict[str, Any]) -> str:
    d = p["distance"]
    table = _table(["measure", "value", "yardstick"], [
        ["median distance to the closest training row",
         number(["distance", "dcr_synthetic", "p50"], d["dcr_synthetic"]["p50"]) + " (synthetic)",
         number(["distance", "dcr_holdout", "p50"], d["dcr_holdout"]["p50"]) + " (holdout rows)"],
        ["5th percentile of that distance",
         number(["distance", "dcr_synthetic", "p05"], d["dcr_synthetic"]["p05"]) + " (synthetic)",
         number(["distance", "dcr_holdout", "p05"], d["dcr_holdout"]["p05"]) + " (holdout rows)"],
        ["synthetic rows nearer the training rows than the holdout",
         number(["distance", "dcr_share"], d["dcr_share"], 1, percent=True), "50% = no signal"],
        ["synthetic rows equal to a training row",
         number(["distance", "exact_copy_rate"], d["exact_copy_rate"], 2, percent=True),
         number(["distance", "holdout_copy_rate"], d["holdout_copy_rate"], 2, percent=True)
         + " of holdout rows equal a training row"],
        ["membership-inference AUC (distance attack)",
         number(["distance", "mia_auc"], d["mia_auc"]), "0.5 = chance"],
    ], [False, True, False])
    risks = [_risk_row("singling out", ["singling_out"], p["singling_out"]),
             _risk_row("linkability", ["linkability"], p["linkability"])]
    risks += [_risk_row(f"inference of {name}", ["inference", name], r)
              for name, r in p["inference"].items()]
    return (
        '<section id="privacy"><h2>Privacy of the rows</h2>'
        f'<p>Distances on {number(["distance", "rows"], d["rows"])} rows per side: members are '
        'training rows, non-members holdout rows the generator never saw.</p>'
        + _dcr_plot(d) + table
        + "<h3>Attacks (anonymeter's definitions)</h3>"
        "<p class='small'>Risk = excess success against training rows over holdout rows, "
        "normalised; 0 means the synthetic rows help an attacker no more against the people "
        "they were trained on than against anyone else.</p>"
        + _table(["attack", "risk", "95% interval", "success (train)", "success (holdout)",
                  "attacks"], risks, [False, True, True, True, True, True])
        + "</section>")


def _groups(p: dict[str, Any]) -> str:
    parts = ['<section id="groups"><h2>Groups, tails and unique rows</h2>']
    if p["bias"]:
        for column, groups in p["bias"].items():
            rows = [[_e(g["group"]), number(["bias", column, i, "real_rows"], g["real_rows"]),
                     number(["bias", column, i, "real_rate"], g["real_rate"]),
                     number(["bias", column, i, "synthetic_rows"], g["synthetic_rows"]),
                     number(["bias", column, i, "synthetic_rate"], g["synthetic_rate"])]
                    for i, g in enumerate(groups)]
            parts.append(f"<h3>Positive rate of the target by {_e(column)}</h3>")
            parts.append(_table([column, "real rows", "real rate", "synthetic rows",
                                 "synthetic rate"], rows, [False, True, True, True, True]))
        parts.append("<p class='small'>A group without synthetic rows (–) was not released "
                     "by the generator's DP vocabulary: its rows come out as a rare value, "
                     "counted in &lt;other&gt;.</p>")
    else:
        parts.append("<p>No --sensitive columns were given.</p>")
    tail_rows = [[_e(t["column"]), number(["tails", i, "threshold"], t["threshold"], spec=".6g"),
                  number(["tails", i, "real_share"], t["real_share"], 2, percent=True),
                  number(["tails", i, "synthetic_share"], t["synthetic_share"], 2, percent=True)]
                 for i, t in enumerate(p["tails"])]
    parts.append("<h3>Rows above the real 99th percentile</h3>")
    parts.append(_table(["column", "threshold", "real rows", "synthetic rows"], tail_rows,
                        [False, True, True, True]))
    if p["quasi_identifiers"]:
        parts.append("<h3>Unique on the quasi-identifiers</h3>")
        parts.append(
            f"<p>Rows whose {_e(', '.join(p['quasi_identifiers']))} occur once in their table "
            f"(k = 1): {number(['unique_real'], p['unique_real'], 1, percent=True)} of real "
            f"training rows, {number(['unique_synthetic'], p['unique_synthetic'], 1, percent=True)}"
            " of synthetic rows.</p>")
    parts.append("</section>")
    return "".join(parts)


def _statement(p: dict[str, Any]) -> str:
    privacy = p["privacy"]
    words = "".join(f"<li>{_e(line)}</li>" for line in p["privacy_in_words"])
    phases = ""
    if privacy.get("dp"):
        rows = [[_e(ph["name"]),
                 number(["privacy", "phases", i, "epsilon"], ph["epsilon"], spec=".4g"),
                 number(["privacy", "phases", i, "delta"], ph["delta"], spec=".3g")]
                for i, ph in enumerate(privacy.get("phases", []))]
        phases = _table(["phase", "ε", "δ"], rows, [False, True, True])
    return ('<section id="statement"><h2>The privacy statement in plain words</h2>'
            '<p>What the bundle itself says (signed by its owner), independent of the '
            f'measurements above.</p><ul class="words">{words}</ul>{phases}</section>')


def render_html(result: EvaluationResult) -> str:
    """The report as one HTML document (plots embedded as PNG data URIs)."""
    p = result.to_plain()
    body = (_top(p, result) + _distributions(p) + _associations(p) + _prediction(p)
            + _privacy(p) + _groups(p) + _statement(p))
    title = _e(f"HZG evaluation: {p['generator'].get('name') or 'generator'}")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title}</title><style>{CSS}</style></head>"
            f"<body><main>{body}<p class='small'>Made by hzg evaluate. {_e(p['notice'])}</p>"
            "</main></body></html>\n")
