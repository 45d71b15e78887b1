"""Evaluate a generator on-prem: utility and privacy against the real rows.

Everything here reads the REAL table, so its results are not differentially
private: they stay on-prem (the owner's report) unless the owner explicitly
embeds a summary, marked as such (``hzg evaluate --embed-summary``).

One module per question, data flowing top to bottom:

* :mod:`~trainer.evaluate.frames` — real and synthetic tables in one plain form;
* :mod:`~trainer.evaluate.fidelity` — 1-way and 2-way TVD, associations;
* :mod:`~trainer.evaluate.downstream` — train on synthetic, test on real;
  importances and coefficients;
* :mod:`~trainer.evaluate.distance` — closest records, copies, membership inference;
* :mod:`~trainer.evaluate.risks` — singling out, linkability, inference
  (anonymeter's definitions);
* :mod:`~trainer.evaluate.groups` — bias per group, tails, unique rows;
* :mod:`~trainer.evaluate.result` — :class:`EvaluationResult` and its verdicts;
* :mod:`~trainer.evaluate.report` — the self-contained HTML report.

Example::

    result = evaluate_generator(provisioner.load("adult.hzg", trust="acme.pub"),
                                train, holdout, target="income", sensitive=["sex"])
    result.fidelity.tvd_1way_mean, result.distance.mia_auc
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trainer.evaluate.result import EvaluationResult, Fidelity

__all__ = ("EvaluationResult", "evaluate", "evaluate_generator", "report")

Frame = Any


def _fidelity(frames: Any) -> Fidelity:
    from trainer.evaluate.fidelity import (
        association_matrix,
        binned,
        column_tvds,
        frame_codes,
        pair_tvds,
    )

    edges, codes = frame_codes(frames)
    one = column_tvds(codes)
    two = pair_tvds(codes)
    real_v, syn_v = association_matrix(codes, 0), association_matrix(codes, 1)
    upper = np.triu_indices(len(codes), 1)
    diff = np.abs(real_v - syn_v)[upper]
    worst = sorted(((a, b, v) for (a, b), v in two.items()), key=lambda x: -x[2])[:10]
    real_bins = binned(frames.train, edges)
    syn_bins = binned(frames.synthetic, edges)
    histograms = {}
    for name in frames.columns:
        labels, counts = np.unique(np.concatenate([real_bins[name], syn_bins[name]]).astype(str),
                                   return_counts=True)
        if edges[name] is None and len(labels) > 30:  # the 30 most frequent values
            keep = np.argsort(-counts, kind="stable")[:30]
            labels = labels[np.sort(keep)]
        real_share = [float(np.mean(real_bins[name] == v)) for v in labels]
        syn_share = [float(np.mean(syn_bins[name] == v)) for v in labels]
        shown = labels.tolist()
        if edges[name] is not None:
            cut = edges[name]
            shown = [_bin_label(v, cut) for v in shown]
        histograms[name] = {"labels": shown, "real": real_share, "synthetic": syn_share}
    return Fidelity(
        tvd_1way=one,
        tvd_1way_mean=float(np.mean(list(one.values()))),
        tvd_2way_mean=float(np.mean(list(two.values()))) if two else 0.0,
        worst_pairs=worst,
        columns=list(codes),
        association_real=real_v.tolist(),
        association_synthetic=syn_v.tolist(),
        association_difference_mean=float(diff.mean()) if diff.size else 0.0,
        association_difference_max=float(diff.max()) if diff.size else 0.0,
        histograms=histograms)


def _bin_label(label: str, cut: np.ndarray) -> str:
    if not label.startswith("b"):
        return label
    i = int(label[1:])
    return f"{cut[i]:.4g}"


def evaluate(
    synthetic: Frame,
    train: Frame,
    holdout: Frame,
    *,
    kinds: Mapping[str, str] | None = None,
    target: str | None = None,
    sensitive: Sequence[str] = (),
    quasi_identifiers: Sequence[str] = (),
    privacy: Mapping[str, Any] | None = None,
    generator: Mapping[str, Any] | None = None,
    seed: int = 0,
    attacks: int = 500,
) -> EvaluationResult:
    """Every metric of the package on these three tables.

    Args:
      synthetic, train, holdout: DataFrames with the same columns.
      kinds: column -> kind (default: from the training table's dtypes).
      target: the column to predict (model-based utility and bias).
      sensitive: columns whose groups the bias view compares (needs target).
      quasi_identifiers: columns of the uniqueness (k-anonymity) view.
      privacy: the bundle's privacy statement (header.privacy).
      generator: the bundle's identity, for the report.
      seed: seeds every sample and attack.
      attacks: attacks per anonymeter-style risk.
    """
    from provisioner.errors import ConfigError
    from trainer.evaluate.distance import distance_privacy
    from trainer.evaluate.downstream import positive_class, target_models
    from trainer.evaluate.frames import align, is_numeric_kind
    from trainer.evaluate.groups import group_rates, tails, unique_share
    from trainer.evaluate.risks import inference_risk, linkability_risk, singling_out_risk

    frames = align(train, holdout, synthetic, kinds)
    for name in [target, *sensitive, *quasi_identifiers]:
        if name is not None and name not in frames.kinds:
            raise ConfigError(f"column {name!r} is not among the evaluated columns "
                              f"{frames.columns}")
    if sensitive and target is None:
        raise ConfigError("--sensitive compares the target's rate per group: give --target")
    models = target_models(frames, target, seed=seed) if target else None
    bias = {}
    if target and sensitive:
        if is_numeric_kind(frames.kinds[target]):
            raise ConfigError(f"--sensitive needs a categorical --target; {target!r} is numeric")
        positive = models.positive if models else positive_class(frames.holdout, target)
        bias = {c: group_rates(frames, c, target, positive) for c in sensitive}
    secrets = list(dict.fromkeys([*sensitive, *([target] if target else [])]))
    qis = list(quasi_identifiers)
    return EvaluationResult(
        generator=dict(generator or {}),
        rows={"train": len(train), "holdout": len(holdout), "synthetic": len(synthetic)},
        seed=seed,
        fidelity=_fidelity(frames),
        target=models,
        distance=distance_privacy(frames, seed=seed),
        singling_out=singling_out_risk(frames, attacks=attacks, seed=seed),
        linkability=linkability_risk(frames, attacks=attacks, seed=seed),
        inference={s: inference_risk(frames, s, attacks=attacks, seed=seed) for s in secrets},
        bias=bias,
        tails=tails(frames),
        quasi_identifiers=qis,
        unique_real=unique_share(frames.train, qis) if qis else None,
        unique_synthetic=unique_share(frames.synthetic, qis) if qis else None,
        privacy=dict(privacy or {}),
    )


def evaluate_generator(generator: Any, train: Frame, holdout: Frame, *, rows: int | None = None,
                       seed: int = 0, **options: Any) -> EvaluationResult:
    """Sample ``rows`` (default: as many as ``train``) with the provisioner's own
    sampler and :func:`evaluate` them."""
    n = len(train) if rows is None else rows
    synthetic = generator.sample(n, seed=seed).to_pandas()
    kinds = {c.name: c.kind for c in generator.columns}
    info = generator.info if hasattr(generator, "info") else None
    identity = {} if info is None else {
        "name": info.name, "id": info.id, "version": info.version, "owner": info.owner}
    return evaluate(synthetic, train, holdout, kinds=kinds, seed=seed,
                    privacy=generator.privacy.to_plain(), generator=identity, **options)


def report(synthetic: Frame, train: Frame, holdout: Frame, *, target: str | None = None,
           columns: Sequence[str] | None = None) -> dict[str, float]:
    """The few headline figures the quality benchmarks print, as a dict.

    ``tvd_1way``, ``tvd_2way``, ``assoc_diff``, ``dcr_share``,
    ``exact_copy_rate`` and, with a target, ``tstr_auc`` (the definitions of
    the modules above; DCR on up to 10,000 rows a side).
    """
    from trainer.evaluate.distance import distance_privacy
    from trainer.evaluate.downstream import target_models
    from trainer.evaluate.frames import align

    columns = list(columns or train.columns)
    frames = align(train[columns], holdout[columns], synthetic[columns])
    fidelity = _fidelity(frames)
    distance = distance_privacy(frames, max_rows=10_000)
    out = {
        "tvd_1way": fidelity.tvd_1way_mean,
        "tvd_2way": fidelity.tvd_2way_mean,
        "assoc_diff": fidelity.association_difference_mean,
        "dcr_share": distance.dcr_share,
        "exact_copy_rate": distance.exact_copy_rate,
    }
    if target is not None:
        out["tstr_auc"] = target_models(frames, target).synthetic_score
    return out
