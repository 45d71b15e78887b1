"""The privacy statement signed into every bundle (``header.privacy``, HZG.md section 7).

It records every mechanism that touched the data, grouped in phases, and
the composed (ε, δ). Within a phase the mechanisms' parameters were fixed
before the phase saw the data, so the accountant composes them jointly;
across phases ε and δ add (basic composition), which stays valid when a
later phase's parameters depend on an earlier phase's released output.

The provisioner cannot recompute ε (it has no accountant) but it refuses a
statement that is inconsistent: phases that do not add up to the total,
or a column whose metadata is marked ``dp`` that no mechanism covers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from provisioner.bundle.fields import Fields
from provisioner.bundle.limits import LEDGER_NAME_CHARS, LIBRARY_CHARS
from provisioner.errors import MalformedHeader

# Closed lists: a reader refuses a value it does not know, even from a newer
# minor version, because it could not say what the guarantee means.
UNITS = ("row",)
NEIGHBORING = ("add_or_remove_one",)
ACCOUNTANTS = ("pld", "rdp")
_REL_TOL = 1e-9


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    epsilon: float
    delta: float

    def to_plain(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Mechanism:
    """One data access: its kind, parameters and the columns it released."""

    name: str
    phase: str
    kind: str
    params: dict[str, Any]
    columns: tuple[str, ...] = ()

    def to_plain(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "kind": self.kind, "name": self.name,
                "params": self.params, "phase": self.phase}


@dataclasses.dataclass(frozen=True)
class PrivacyStatement:
    """What the generator reveals about any one row of the training table.

    Attributes:
      dp: False for a generator trained without differential privacy.
      epsilon, delta: the composed guarantee (None when ``dp`` is False).
      unit: the privacy unit; "row" in format 1.0.
      neighboring: the neighbouring relation; "add_or_remove_one".
      accountant: "pld" or "rdp" (None when ``dp`` is False).
      accountant_library: name and version of the accounting library.
      phases: per-phase (ε, δ); their sums are the totals.
      mechanisms: every mechanism, in the order it ran.
    """

    dp: bool
    epsilon: float | None
    delta: float | None
    accountant: str | None
    accountant_library: str | None
    phases: tuple[Phase, ...] = ()
    mechanisms: tuple[Mechanism, ...] = ()
    unit: str = "row"
    neighboring: str = "add_or_remove_one"

    def to_plain(self) -> dict[str, Any]:
        return {
            "accountant": self.accountant,
            "accountant_library": self.accountant_library,
            "delta": self.delta,
            "dp": self.dp,
            "epsilon": self.epsilon,
            "mechanisms": [m.to_plain() for m in self.mechanisms],
            "neighboring": self.neighboring,
            "phases": [p.to_plain() for p in self.phases],
            "unit": self.unit,
        }

    @classmethod
    def non_private(cls) -> PrivacyStatement:
        return cls(dp=False, epsilon=None, delta=None, accountant=None,
                   accountant_library=None)

    @classmethod
    def from_plain(cls, plain: Any, *, strict: bool = True) -> PrivacyStatement:
        f = Fields(plain, "header.privacy", strict=strict)
        dp = f.boolean("dp")
        unit = f.string("unit", choices=UNITS)
        neighboring = f.string("neighboring", choices=NEIGHBORING)
        epsilon = f.float64("epsilon", nullable=True)
        delta = f.float64("delta", nullable=True)
        accountant = f.string("accountant", nullable=True, choices=ACCOUNTANTS)
        library = f.string("accountant_library", nullable=True, max_len=LIBRARY_CHARS)
        phases = tuple(_phase(Fields(p, f"header.privacy.phases[{i}]", strict=strict))
                       for i, p in enumerate(f.array("phases")))
        mechanisms = tuple(
            _mechanism(Fields(m, f"header.privacy.mechanisms[{i}]", strict=strict))
            for i, m in enumerate(f.array("mechanisms"))
        )
        f.done()
        statement = cls(dp, epsilon, delta, accountant, library, phases, mechanisms,
                        unit, neighboring)
        statement._check()
        return statement

    def _check(self) -> None:
        if not self.dp:
            if (self.epsilon is not None or self.delta is not None
                    or self.accountant is not None or self.phases or self.mechanisms):
                raise MalformedHeader(
                    "header.privacy says dp=false but records a guarantee, an accountant, "
                    "phases or mechanisms"
                )
            return
        if self.epsilon is None or not 0 < self.epsilon:
            raise MalformedHeader("header.privacy.epsilon must be a positive float")
        if self.delta is None or not (0 <= self.delta < 1):
            raise MalformedHeader("header.privacy.delta must be a float in [0, 1)")
        if self.accountant is None or not self.mechanisms or not self.phases:
            raise MalformedHeader(
                "header.privacy of a DP bundle must name its accountant, phases and mechanisms"
            )
        names = {p.name for p in self.phases}
        if len(names) != len(self.phases):
            raise MalformedHeader("header.privacy.phases has two phases with one name")
        for mechanism in self.mechanisms:
            if mechanism.phase not in names:
                raise MalformedHeader(
                    f"mechanism {mechanism.name!r} belongs to unknown phase {mechanism.phase!r}"
                )
        eps_sum = math.fsum(p.epsilon for p in self.phases)
        delta_sum = math.fsum(p.delta for p in self.phases)
        if not math.isclose(eps_sum, self.epsilon, rel_tol=_REL_TOL):
            raise MalformedHeader(
                f"header.privacy phases add up to epsilon {eps_sum}, not {self.epsilon}"
            )
        if not math.isclose(delta_sum, self.delta, rel_tol=_REL_TOL):
            raise MalformedHeader(
                f"header.privacy phases add up to delta {delta_sum}, not {self.delta}"
            )

    def covered_columns(self) -> frozenset[str]:
        """Names of every column whose metadata some mechanism released."""
        return frozenset(name for m in self.mechanisms for name in m.columns)


def _phase(f: Fields) -> Phase:
    phase = Phase(
        name=f.string("name", min_len=1, max_len=LEDGER_NAME_CHARS),
        epsilon=f.float64("epsilon"),
        delta=f.float64("delta"),
    )
    if not phase.epsilon >= 0 or not 0 <= phase.delta < 1:
        raise MalformedHeader(f"{f.where}: epsilon must be >= 0 and delta in [0, 1)")
    f.done()
    return phase


def _mechanism(f: Fields) -> Mechanism:
    columns = f.array("columns")
    if not all(isinstance(c, str) for c in columns):
        raise MalformedHeader(f"{f.path('columns')} must hold column names")
    mechanism = Mechanism(
        name=f.string("name", min_len=1, max_len=LEDGER_NAME_CHARS),
        phase=f.string("phase", min_len=1, max_len=LEDGER_NAME_CHARS),
        kind=f.string("kind", min_len=1, max_len=LEDGER_NAME_CHARS),
        params=f.mapping("params"),
        columns=tuple(columns),
    )
    f.done()
    return mechanism
