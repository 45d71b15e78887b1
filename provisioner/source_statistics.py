"""Non-DP statistics of the source: an optional header section (format 1.1).

A data owner may choose to ship a short summary of how the generator
compares with the real data (``hzg evaluate --embed-summary``). Those
figures were computed on the real rows, so they are **not** differentially
private; the format keeps them in a section of their own,
``header.source_statistics``, which says so in its fields (``dp`` is
always false, ``notice`` says it in words) and which no reader mixes with
the privacy statement. Readers show it under its notice and act on nothing
in it. HZG.md, section 7.1.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

from provisioner.bundle.fields import Fields

__all__ = ("MAX_METRICS", "NOTICE", "SourceStatistics")

NOTICE = ("NOT differentially private: computed by the owner on the real source rows; "
          "the privacy statement does not cover these figures.")
MAX_METRICS = 64
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")
_TEXT = 1024


@dataclasses.dataclass(frozen=True)
class SourceStatistics:
    """The section's content.

    Attributes:
      evaluator: what computed the figures, e.g. ``"hzg evaluate 0.1.0"``.
      computed_at: Unix time in seconds (UTC).
      metrics: name -> float (or None when undefined), at most 64.
      notice: the warning a reader shows above them.
    """

    evaluator: str
    computed_at: int
    metrics: dict[str, float | None]
    notice: str = NOTICE

    def to_plain(self) -> dict[str, Any]:
        return {"computed_at": self.computed_at, "dp": False, "evaluator": self.evaluator,
                "metrics": dict(self.metrics), "notice": self.notice}

    @classmethod
    def from_plain(cls, plain: Any, *, strict: bool = True) -> SourceStatistics:
        f = Fields(plain, "header.source_statistics", strict=strict)
        if f.boolean("dp") is not False:
            raise f.error("header.source_statistics.dp must be false: these figures are "
                          "not differentially private")
        notice = f.string("notice", max_len=_TEXT)
        if not notice.strip():
            raise f.error("header.source_statistics.notice must not be empty")
        evaluator = f.string("evaluator", max_len=256)
        computed_at = f.integer("computed_at", minimum=0, maximum=2**63 - 1)
        metrics = f.mapping("metrics")
        f.done()
        if len(metrics) > MAX_METRICS:
            raise f.error(f"header.source_statistics.metrics has {len(metrics)} entries; "
                          f"at most {MAX_METRICS}")
        for name, value in metrics.items():
            if not METRIC_NAME.match(name):
                raise f.error(f"header.source_statistics.metrics key {name[:80]!r} is not "
                              "a lowercase metric name")
            if value is not None and not (isinstance(value, float) and math.isfinite(value)):
                raise f.error(f"header.source_statistics.metrics.{name} must be a finite "
                              "float or nil")
        return cls(evaluator, computed_at, dict(metrics), notice)

    @classmethod
    def of(cls, metrics: Mapping[str, float | None], *, evaluator: str,
           computed_at: int) -> SourceStatistics:
        """Build and check (through the reader's own rules) a section."""
        plain = cls(evaluator, computed_at,
                    {k: None if v is None else float(v) for k, v in metrics.items()}).to_plain()
        return cls.from_plain(plain)
