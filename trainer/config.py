"""Training configuration: privacy budget and the fixed recipe.

The recipe (model size, learning rate, steps, batch as a fraction of the
table) is fixed in advance and scaled by the table size, never tuned on the
private table: tuning on private data would spend budget that no privacy
statement records (a hyper-parameter search on the private rows is itself a
release of them). The defaults were
chosen on the public UCI Adult data.

A TOML file can set any field (``hzg train --config FILE.toml``)::

    epochs = 20
    hidden = [128]
    [privacy]
    epsilon = 3.0
    delta = 1e-6
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from provisioner._checks import positive, positive_int, probability
from provisioner._files import TEXT_FILE_LIMIT, read_capped
from provisioner.errors import ConfigError

MAX_EPSILON = 20.0
# the metadata share holds for tables up to this many columns (adult has 15);
# wider tables get proportionally more (see PrivacyConfig.wide_metadata_share)
METADATA_REFERENCE_COLUMNS = 16
# Beyond this even --allow-large-epsilon stops: exp(epsilon) overflows the
# accountant's arithmetic near 700, and epsilon = 100 already promises nothing.
HARD_MAX_EPSILON = 100.0


@dataclasses.dataclass(frozen=True)
class PrivacyConfig:
    """The privacy budget and how it is split.

    Attributes:
      enabled: False trains WITHOUT differential privacy (for comparisons);
        the bundle then says so and everything in it is exact.
      epsilon: total ε (default 1.0).
      delta: total δ; default 1e-6, which is below 1/rows for tables under a
        million rows (larger tables must give δ explicitly). Refused when
        δ ≥ 1/rows.
      row_count_share: fraction of ε for the noisy row count (Laplace).
      typing_share: further fraction of ε for the typing release (noisy
        counts of the cell classes of every column whose type is not
        declared); with the row count it forms the first phase. Unused when
        declarations and storage types fix every column's type.
      typing_delta_share: fraction of δ for the first phase when it holds
        the typing release.
      metadata_share: fraction of the main phase's budget, in squared
        Gaussian-equivalent units, for the metadata releases (the rest is
        DP-SGD's), for a table of up to ``METADATA_REFERENCE_COLUMNS``
        columns with metadata releases.
      wide_metadata_share: the most a wider table's metadata gets: the share
        grows in proportion to the number of such columns (public: fixed by
        kinds and declarations), up to this, so that each histogram's noise
        stays near a 16-column table's instead of growing like the square
        root of the columns. Equal to ``metadata_share``: no scaling.
      vocabulary_share: fraction of the metadata budget for stage A (value
        lists, ranges); the rest goes to stage B (fine numeric histograms).
      threshold_delta_share: fraction of δ for partition selection.
      dependency_checks: how many candidate functional dependencies the
        dependency check may test after training (0: none). Candidates come
        from rows sampled from the trained model (post-processing); each
        test is a noisy joint histogram (the mapping) and a noisy count of
        the rows that break it (see ``trainer.dependencies``).
      dependency_share: fraction of the main phase's budget, in squared
        Gaussian-equivalent units, for the dependency check (taken from
        DP-SGD).
      range_noise_ratio: noise of range/decimal histograms relative to that
        of value counts (they need less precision).
      accountant: "pld" (tight) or "rdp".
      allow_large_epsilon: permit ε above 20, which gives little protection.
    """

    enabled: bool = True
    epsilon: float = 1.0
    delta: float | None = None
    row_count_share: float = 0.01
    typing_share: float = 0.05
    typing_delta_share: float = 0.05
    metadata_share: float = 0.2
    wide_metadata_share: float = 0.6
    vocabulary_share: float = 0.6
    threshold_delta_share: float = 0.25
    range_noise_ratio: float = 1.5
    dependency_checks: int = 8
    dependency_share: float = 0.02
    accountant: str = "pld"
    allow_large_epsilon: bool = False

    def __post_init__(self) -> None:
        if not self.enabled:
            return
        positive(epsilon=self.epsilon)
        if self.epsilon > HARD_MAX_EPSILON:
            raise ConfigError(
                f"epsilon={self.epsilon:g} is above {HARD_MAX_EPSILON:g}, where a DP "
                "guarantee means nothing and cannot be accounted; use a smaller epsilon "
                "or --insecure-no-dp"
            )
        if self.epsilon > MAX_EPSILON and not self.allow_large_epsilon:
            raise ConfigError(
                f"epsilon={self.epsilon} gives little protection (the limit is "
                f"{MAX_EPSILON:g}); pass --allow-large-epsilon if you mean it"
            )
        if self.delta is not None:
            probability(delta=self.delta)
        probability(row_count_share=self.row_count_share,
                    typing_share=self.typing_share,
                    typing_delta_share=self.typing_delta_share,
                    metadata_share=self.metadata_share,
                    wide_metadata_share=self.wide_metadata_share,
                    vocabulary_share=self.vocabulary_share,
                    threshold_delta_share=self.threshold_delta_share,
                    dependency_share=self.dependency_share)
        if not isinstance(self.dependency_checks, int) or not 0 <= self.dependency_checks <= 64:
            raise ConfigError("dependency_checks must be an integer from 0 to 64")
        positive(range_noise_ratio=self.range_noise_ratio)
        if self.row_count_share + self.typing_share >= 1:
            raise ConfigError("row_count_share + typing_share must leave budget for the "
                              "main phase (their sum must be below 1)")
        if self.typing_delta_share + self.threshold_delta_share >= 1:
            raise ConfigError("typing_delta_share + threshold_delta_share must be below 1")
        if self.accountant not in ("pld", "rdp"):
            raise ConfigError(f"accountant must be 'pld' or 'rdp', not {self.accountant!r}")

    def resolved_delta(self, rows: int) -> float:
        """δ for a table of ``rows`` rows: the given one or the default (1e-6),
        checked to be below 1/rows (see ``trainer.budget.resolve_delta``)."""
        from trainer.budget import resolve_delta

        return resolve_delta(self.delta, rows)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything ``trainer.train`` needs besides the table.

    Attributes:
      privacy: the budget.
      epochs: passes over the data (steps = epochs / sampling rate).
      batch_size: expected rows per step; None = about rows / 13.
      learning_rate: Adam's initial rate (cosine decay to 0).
      clip_norm: per-example gradient clip C (with Adam, C only scales).
      hidden: widths of MADE's hidden layers (1 to 8 layers).
      direct: include MADE's direct input -> output layer.
      numeric_bins: target bins per numeric column.
      fine_cells: cells of the fine grid of wide numeric columns.
      max_categories: most values kept per categorical column.
      calibrate_marginals: after training, match the model's one-way
        marginals to the released DP counts (post-processing, free).
      init_from_marginals: start the output biases at the log of the released
        marginals (post-processing, free).
      init_independent: start the weights into the logits at zero, so that
        training starts from independent columns.
      max_minutes: stop training after this long (steps actually taken are
        what the privacy statement records).
      name, owner, version, expires_days: the generator's identity.
      seed: only for non-private runs (a known seed voids DP noise).
    """

    privacy: PrivacyConfig = PrivacyConfig()
    epochs: float = 20.0
    batch_size: int | None = None
    # 2e-2: on the zoo at eps=1 (3 fits per table) 2-way TVD over independent
    # columns averaged 0.643 against 0.677 at 1e-2, no table worse; 3e-2 gave
    # 0.650 (wide tables worse), 5e-3 0.746. With noise dominating each
    # step, Adam moves every weight about lr per step: the rate sets how far
    # the few hundred steps carry the weights (on adult: 2-way 0.046 vs 0.048)
    learning_rate: float = 2e-2
    clip_norm: float = 1.0
    # one layer: on adult (3 fits each, delta 1e-5) it matched two layers of
    # 128 at eps=1 (2-way TVD 0.048 both) and beat them at eps=3 (0.032 vs
    # 0.035), and samples ~1.2x faster
    hidden: tuple[int, ...] = (128,)
    direct: bool = True
    numeric_bins: int = 20
    fine_cells: int = 100
    max_categories: int = 1000
    calibrate_marginals: bool = True
    init_from_marginals: bool = True
    # on the zoo at eps=1 (3 fits per table, same day) 2-way TVD over
    # independent columns averaged 0.63 against 0.65 from random output
    # weights, 7 of 10 tables better; adult eps=1 2-way 0.044 vs 0.046
    init_independent: bool = True
    max_minutes: float | None = None
    name: str | None = None
    owner: str | None = None
    version: int = 1
    expires_days: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        positive(epochs=self.epochs, learning_rate=self.learning_rate,
                 clip_norm=self.clip_norm)
        if self.batch_size is not None:
            positive_int(batch_size=self.batch_size)
        positive_int(numeric_bins=self.numeric_bins, fine_cells=self.fine_cells,
                     max_categories=self.max_categories, version=self.version)
        if not self.hidden or len(self.hidden) > 8:
            raise ConfigError("hidden must list 1 to 8 layer widths")
        positive_int(**{f"hidden[{i}]": h for i, h in enumerate(self.hidden)})
        if self.max_minutes is not None:
            positive(max_minutes=self.max_minutes)
        if self.expires_days is not None:
            positive(expires_days=self.expires_days)
        if self.seed is not None and self.privacy.enabled:
            raise ConfigError(
                "a seed makes DP noise predictable; seeds are only allowed with DP off"
            )

    def replace(self, **changes: Any) -> TrainConfig:
        privacy = changes.pop("privacy", None) or {}
        if isinstance(privacy, dict):
            privacy = dataclasses.replace(self.privacy, **privacy)
        return dataclasses.replace(self, privacy=privacy, **changes)

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        data = read_capped(path, limit=TEXT_FILE_LIMIT, what="config", error=ConfigError)
        try:
            plain = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        return cls.from_plain(plain, str(path))

    @classmethod
    def from_plain(cls, plain: dict[str, Any], source: str = "config") -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        privacy_known = {f.name for f in dataclasses.fields(PrivacyConfig)}
        privacy = plain.get("privacy", {})
        unknown = sorted(set(plain) - known) + sorted(
            f"privacy.{k}" for k in set(privacy) - privacy_known)
        if unknown:
            raise ConfigError(f"{source}: unknown setting(s) {unknown}")
        fields = {k: v for k, v in plain.items() if k != "privacy"}
        if "hidden" in fields:
            fields["hidden"] = tuple(fields["hidden"])
        try:
            return cls(privacy=PrivacyConfig(**privacy), **fields)
        except TypeError as exc:
            raise ConfigError(f"{source}: {exc}") from None


def default_batch_size(rows: float) -> int:
    """About rows / 13 (sampling rate ~0.077), the recipe measured on adult."""
    return max(1, int(math.ceil(rows / 13)))
