"""Per-kind derivation of the bundle's column schema from declarations and releases.

Everything the bundle says about the data outside the weights comes from
here, and each value either was declared public by the owner
(``trainer.declarations``) or is post-processing of an accounted release
(``trainer.releases``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from provisioner.schema import Column, Schema
from trainer.calibrate import MarginalTarget
from trainer.column_types import TypedColumn, TypedTable
from trainer.declarations import Declarations
from trainer.dependencies import declared_mapping, dependency_mapping
from trainer.releases.needs import MetadataOptions, plan_needs
from trainer.releases.noise import MetadataNoise, NoiseSource
from trainer.releases.record import MAIN_PHASE, Release
from trainer.releases.stage_a import NULL_Z, StageA, run_stage_a
from trainer.releases.stage_b import run_stage_b

__all__ = ("RARE_LABEL", "TEXT_FILLER", "DerivedMetadata", "derive_metadata")

RARE_LABEL = "__rare__"
# A text column's filler when no shape is declared or survives selection:
# "text-" and eight random lowercase letters (HZG.md 6.5 grammar; x escaped)
TEXT_FILLER = "te\\xt-aaaaaaaa"
RARE_Z = 2.0  # the rare token is kept when its noisy count exceeds 2 standard deviations
MOSTLY_RARE = 0.5  # above this noisy share of rare values, tell the owner
SHAPE_SHARE = 0.5  # a text column's released shape must cover this share of its rest


def _null_estimate(stage_a: StageA, name: str, nullable: bool) -> tuple[float, float]:
    """Released null count of a column (clamped at 0) and its noise variance.

    A column found not nullable (its noisy null count is below the bar)
    counts no nulls: taking the noise for nulls would bias its marginal.
    """
    if not nullable:
        return 0.0, 0.0
    return (max(stage_a.null_counts.get(name, 0.0), 0.0),
            stage_a.null_sigmas.get(name, 0.0) ** 2)


def _with_null(target: MarginalTarget, nullable: bool, fallback: int | None,
               null_count: float, null_var: float) -> MarginalTarget:
    """Add the null token, or fold nulls into the token they are encoded as."""
    counts, variances = list(target.counts), list(target.variances)
    absent = None if target.absent is None else list(target.absent)
    if nullable:
        counts.append(null_count)
        variances.append(null_var)
        if absent is not None:
            absent.append(False)
    elif fallback is not None:
        counts[fallback] += null_count
        variances[fallback] += null_var
    return MarginalTarget(np.asarray(counts, dtype=float), np.asarray(variances, dtype=float),
                          None if absent is None else np.asarray(absent, dtype=bool))


def _timezone(column: TypedColumn) -> str | None:
    """The zone outputs show a datetime column in: a zone-aware source dtype's
    (a declared storage type), or UTC for text read with an offset (``%z``:
    the cells are instants). Days are dates, never instants."""
    if column.kind != "datetime" or column.unit == "D":
        return None
    if column.timezone is not None:
        return _zone_name(column.timezone)
    return "UTC" if column.format is not None and "%z" in column.format else None


def _zone_name(name: str) -> str:
    """A pandas zone's name in the bundle's form; UTC for a name it cannot
    hold (the instants are UTC either way)."""
    from provisioner.schema import TIMEZONE

    fixed = re.fullmatch(r"(?:UTC)?([+-]\d\d):?(\d\d)", name)
    if fixed:
        return "UTC" if fixed.group(1)[1:] + fixed.group(2) == "0000" else \
            f"{fixed.group(1)}:{fixed.group(2)}"
    return name if TIMEZONE.match(name) else "UTC"


@dataclasses.dataclass(frozen=True)
class DerivedMetadata:
    """The bundle's column schema plus what training needs from the same releases.

    Attributes:
      schema: the bundle's column schema (``provisioner.schema.Schema``).
      releases: the accounted releases that produced it.
      null_fallback: token used for nulls in a column without a null token.
      marginals: noisy token counts and their noise variances (post-processing
        of DP releases), per column whose releases cover every token.
      notices: what the owner should know, from noisy counts only (a column
        that comes out mostly rare, cells that did not parse).
      dependencies: declared functional dependencies, dependent name ->
        (source name, dependent token per source token), learned in stage B.
    """

    schema: Schema
    releases: tuple[Release, ...]
    null_fallback: dict[str, int]
    marginals: dict[str, MarginalTarget] = dataclasses.field(default_factory=dict)
    notices: tuple[str, ...] = ()
    dependencies: dict[str, tuple[str, np.ndarray]] = dataclasses.field(default_factory=dict)


def derive_metadata(table: TypedTable, declared: Declarations, noise: MetadataNoise,
                    options: MetadataOptions, rows_noisy: int, source: NoiseSource,
                    *, dp: bool = True) -> DerivedMetadata:
    """Build the bundle's schema: declared facts, or DP releases of the data.

    Args:
      table: the typed table.
      declared: public declarations.
      noise: noise scales (fixed before this call from the budget plan).
      options: binning options (public).
      rows_noisy: the released row count (phase 1).
      source: OS-seeded noise.
      dp: False only for non-private runs; then noise scales are ignored
        (they should be tiny) and columns are marked exact. Never mixed.
    """
    needs = plan_needs(table, declared)
    stage_a = run_stage_a(table, declared, needs, noise, options, rows_noisy, source)
    bin_counts: dict[str, MarginalTarget] = {}
    grids = run_stage_b(table, declared, needs, stage_a, noise, options, rows_noisy, source,
                        bin_counts)
    columns: list[Column] = []
    marginals: dict[str, MarginalTarget] = {}
    fallback: dict[str, int] = {}
    notices: list[str] = []
    for column in table.columns:
        d = declared.get(column.name)
        # a declared category list with declared nullability is counted only
        # for the calibration targets: nothing in the column's entry is derived
        counted_only = (column.kind in ("categorical", "text") and d.categories is not None
                        and d.nullable is not None)
        touched = ((column.name in needs.vocab and not counted_only)
                   or column.name in needs.ranged or column.name in needs.shapes
                   or column.name in needs.fine or column.origin != "declared")
        # "public" means declared (schema file or storage type), nothing else
        origin = ("dp" if dp else "exact") if touched else "public"
        if d.nullable is not None:
            nullable = d.nullable
        elif column.kind == "id":
            nullable = False
        else:
            bar = NULL_Z * stage_a.null_sigmas.get(column.name, 0.0)
            nullable = stage_a.null_counts.get(column.name, 0.0) > bar
        if column.kind in ("categorical", "text"):
            counts = stage_a.category_counts.get(column.name)
            null_count, null_var = _null_estimate(stage_a, column.name, nullable)
            rest = rows_noisy - sum(counts or ()) - null_count
            filler = _text_filler(column.name, d.pattern, stage_a, rest) \
                if column.kind == "text" else None
            if column.value_type == "boolean":
                categories: Sequence[Any] = (False, True)
                rare = None
            elif d.categories is not None:
                categories = d.categories
                rare = RARE_LABEL if d.rare or filler else None
            else:
                categories = stage_a.categories[column.name]
                rare = RARE_LABEL
            out = Column(column.name, "categorical", column.value_type, nullable, origin,
                         categories=tuple(categories), rare_label=rare, filler=filler)
            if not nullable:
                # any null cell becomes the most frequent released value (DP
                # counts); set whether or not the column has nulls
                fallback[column.name] = int(np.argmax(counts)) if counts else 0
            if counts is not None:
                # the released (or declared) values' counts, and the rare token's rest
                sigma = noise.vocab_sigma
                values, variances = list(counts), [sigma**2] * len(counts)
                absent = [False] * len(counts)
                if rare is not None:
                    rest_var = noise.row_count_variance + len(counts) * sigma**2 + null_var
                    # the rare token only stands for values that were folded into
                    # it: when the released counts leave no clear rest, it is absent
                    values.append(max(rest, 0.0))
                    variances.append(rest_var)
                    absent.append(bool(rest <= RARE_Z * math.sqrt(rest_var)))
                marginals[column.name] = _with_null(
                    MarginalTarget(np.asarray(values), np.asarray(variances), np.asarray(absent)),
                    nullable, fallback.get(column.name), null_count, null_var)
                if (rare is not None and rows_noisy > 0 and rest > MOSTLY_RARE * rows_noisy
                        and filler is None):
                    notices.append(
                        f"column {column.name!r}: about {rest / rows_noisy:.0%} of rows "
                        f"(a noisy estimate) hold values too rare to release at this "
                        f"budget and come out as {RARE_LABEL}; if its values are public, "
                        "declare them (categories = [...] in the schema file); if it is "
                        "free text (names, titles, comments), declare kind = \"text\" "
                        "to get made-up strings instead; or give it a higher epsilon")
        elif column.kind in ("numeric", "datetime"):
            grid = grids[column.name]
            decimals = 0
            if column.kind == "numeric" and column.value_type == "float":
                decimals = d.decimals if d.decimals is not None else stage_a.decimals[column.name]
            elif column.kind == "numeric" and d.decimals is not None:
                decimals = min(d.decimals, 0)
            out = Column(column.name, column.kind,
                         "datetime" if column.kind == "datetime" else column.value_type,
                         nullable, origin, decimals=decimals, grid=grid,
                         unit=column.unit if column.kind == "datetime" else None,
                         format=column.format if column.kind == "datetime" else None,
                         timezone=_timezone(column))
            if not nullable:
                starts = np.asarray(grid.bin_starts)
                mass = np.add.reduceat(np.asarray(grid.cell_weights), starts)
                fallback[column.name] = int(np.argmax(mass))
            if column.name in bin_counts:
                null_count, null_var = _null_estimate(stage_a, column.name, nullable)
                marginals[column.name] = _with_null(
                    bin_counts[column.name], nullable, fallback.get(column.name),
                    null_count, null_var)
        else:
            if column.value_type == "integer":
                out = Column(column.name, "id", "integer", False, origin, style="sequence")
            else:
                pattern = d.pattern or stage_a.patterns.get(column.name)
                style = "pattern" if pattern else "uuid"
                out = Column(column.name, "id", "string", False, origin, style=style,
                             pattern=pattern)
        columns.append(out)
    by_name = {c.name: c for c in columns}
    dependencies = {}
    for source_name, dependent_name in needs.dependencies + needs.mapped:
        source_column, dependent = by_name[source_name], by_name[dependent_name]
        declared_pairs = declared.get(dependent_name).mapping
        dependencies[dependent_name] = (source_name, dependency_mapping(
            source_column, dependent, table, fallback, noise.grid_sigma, source)
            if declared_pairs is None else
            declared_mapping(source_column, dependent, declared_pairs))
        marginals.pop(dependent_name, None)  # it follows from the source's
        if dependent.kind == "numeric" and any(
                b - a > 1 for a, b in zip(dependent.grid.bin_starts,
                                          list(dependent.grid.bin_starts[1:])
                                          + [dependent.grid.num_cells])):
            notices.append(f"column {dependent_name!r} is determined_by {source_name!r} "
                           "but has bins wider than one value: the dependency holds "
                           "between bins, not exact values; declare its edges to fix them")
    notices.extend(_unparsed_notices(table, stage_a))
    releases: list[Release] = []
    if not dp:
        return DerivedMetadata(Schema(tuple(columns), rows=None), (), fallback, marginals,
                               tuple(notices), dependencies)
    z_a = needs.stage_a_multiplier(noise)
    if z_a is not None:
        releases.append(Release(
            "metadata-stage-a", MAIN_PHASE, "gaussian",
            {"noise_multiplier": z_a, "vocab_sigma": noise.vocab_sigma,
             "range_sigma": noise.range_sigma, "threshold": noise.threshold,
             "atom_threshold": noise.atom_threshold,
             "threshold_delta_per_column": noise.threshold_delta,
             "partition_selection_columns": len(needs.partition),
             "partition_selections": needs.selections},
            tuple(sorted(set(needs.vocab) | set(needs.shapes) | set(needs.ranged))), z_a,
            extra_delta=noise.threshold_delta * needs.selections))
    z_b = needs.stage_b_multiplier(noise)
    if z_b is not None:
        releases.append(Release(
            "metadata-stage-b", MAIN_PHASE, "gaussian",
            {"noise_multiplier": z_b, "grid_sigma": noise.grid_sigma,
             "histograms": needs.stage_b_histograms,
             "dependencies": [list(pair) for pair in needs.dependencies]},
            tuple(dict.fromkeys(needs.fine + tuple(c for pair in needs.dependencies
                                                   for c in pair))), z_b))
    return DerivedMetadata(Schema(tuple(columns), rows=rows_noisy), tuple(releases), fallback,
                           marginals, tuple(notices), dependencies)


def _text_filler(name: str, declared: str | None, stage_a: StageA, rest: float) -> str:
    """A text column's filler: the declared pattern; else the released shape
    when its noisy count is at least half the noisy number of rows it would
    stand for (so that most fillers have the shape the rare values have: a
    title column's commonest shape, one word of seven letters, holds a few
    percent of its titles and is not used); else the public form.

    Post-processing of stage A's counts and the row count.
    """
    if declared is not None:
        return declared
    shape = stage_a.patterns.get(name)
    if shape and stage_a.pattern_counts.get(name, 0.0) >= SHAPE_SHARE * rest:
        return shape
    return TEXT_FILLER


def _unparsed_notices(table: TypedTable, stage_a: StageA) -> tuple[str, ...]:
    """One line per column whose noisy count of unparsed cells is clearly above 0."""
    lines = []
    for column in table.columns:
        count = stage_a.unparsed_counts.get(column.name)
        sigma = stage_a.null_sigmas.get(column.name, 0.0) / math.sqrt(2)
        if count is None or count <= NULL_Z * sigma:
            continue
        what = column.value_type if column.kind != "datetime" else (
            f"datetimes ({column.format})" if column.format else "datetimes")
        lines.append(f"column {column.name!r}: about {max(round(count), 1)} cells (a noisy "
                     f"count) are not {what} and were read as null")
    return tuple(lines)
