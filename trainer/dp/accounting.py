"""Privacy accounting for DP-SGD and the trainer's other mechanisms.

Pure functions over Google's ``dp-accounting`` (PLD by default, RDP as a
more conservative cross-check) and :class:`PhaseAccountant`, which composes
every mechanism that touched the data, phase by phase, into the bundle's
privacy statement.

Example (the reference setting of issue 3, Adult-sized table)::

    >>> q = 256 / 32561
    >>> round(epsilon(1.0, q, steps=1271, delta=1e-5), 3)
    1.582
    >>> sigma = calibrate_noise_multiplier(1.0, 1e-5, q, 1271)
    >>> round(sigma, 2), epsilon(sigma, q, 1271, 1e-5) <= 1.0
    (1.29, True)

The neighbouring relation everywhere is add-or-remove-one row (the
``dp-accounting`` default); the privacy unit is a row.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import dp_accounting
from dp_accounting import pld, rdp

from provisioner._checks import non_negative, positive, positive_int, probability
from provisioner.errors import ConfigError, PrivacyBudgetError

__all__ = (
    "ACCOUNTANTS",
    "AccountedMechanism",
    "NEIGHBORING_RELATION",
    "PhaseAccountant",
    "calibrate_noise_multiplier",
    "dp_accounting_version",
    "dpsgd_event",
    "epsilon",
    "event_epsilon",
    "event_from_plain",
    "event_to_plain",
    "gaussian_epsilon",
    "max_steps_within",
    "mechanism_event",
)

Accountant = Literal["pld", "rdp"]
ACCOUNTANTS: tuple[str, ...] = ("pld", "rdp")
NEIGHBORING_RELATION = "add_or_remove_one"

# Upper end of the noise-multiplier search. At σ = 1e4 a single Gaussian
# release already has ε ≈ 5e-4 at δ = 1e-5; targets below what such noise
# reaches are almost surely a typo, and we say so instead of searching on.
_MAX_NOISE_MULTIPLIER = 1e4
# Lower end: DP-SGD with σ below 0.1 gives no meaningful guarantee anyway.
_MIN_NOISE_MULTIPLIER = 0.1


def dp_accounting_version() -> str:
    """The installed ``dp-accounting`` version, recorded in every privacy statement."""
    return importlib.metadata.version("dp-accounting")


# --- validation -------------------------------------------------------------


def _check_accountant(accountant: str) -> None:
    if accountant not in ACCOUNTANTS:
        raise ConfigError(
            f"Unknown accountant={accountant!r}; use one of {', '.join(ACCOUNTANTS)}."
        )


def _check_sampling_prob(sampling_prob: float) -> None:
    positive(sampling_prob=sampling_prob)
    if sampling_prob > 1:
        raise ConfigError(f"Expected 0 < sampling_prob={sampling_prob} <= 1.")


def _check_steps(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"Expected steps={steps!r} to be an integer >= 0.")


# --- events -----------------------------------------------------------------


def dpsgd_event(
    noise_multiplier: float, sampling_prob: float, steps: int
) -> dp_accounting.DpEvent:
    """The DpEvent of ``steps`` Poisson-subsampled Gaussian DP-SGD steps.

    Args:
        noise_multiplier: σ, the noise standard deviation over the clip norm.
        sampling_prob: q, each row's independent inclusion probability.
        steps: number of noisy steps (empty draws included: they count).

    Returns:
        ``SelfComposed(PoissonSampled(q, Gaussian(σ)), steps)``, or
        ``NoOpDpEvent()`` when ``steps`` is 0.

    Privacy:
        Valid only if every step's batch is a true Poisson sample at rate
        (at most) q and each step releases the sum of per-row gradients clipped
        to C plus N(0, σ²C²) noise (sensitivity C under add/remove-one).
    """
    positive(noise_multiplier=noise_multiplier)
    _check_sampling_prob(sampling_prob)
    _check_steps(steps)
    if steps == 0:
        return dp_accounting.NoOpDpEvent()
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(
            sampling_prob, dp_accounting.GaussianDpEvent(noise_multiplier)
        ),
        steps,
    )


def _pure_epsilon(event: dp_accounting.DpEvent) -> float | None:
    """ε of an event that is pure (δ = 0) DP, or None if it is not pure.

    Accountants report ε = ∞ at δ = 0 for Laplace (PLD) or cannot take δ = 0
    at all (RDP), so pure phases (e.g. a Laplace row count) are composed here
    by basic composition, which is exact for pure DP.
    """
    if isinstance(event, dp_accounting.NoOpDpEvent):
        return 0.0
    if isinstance(event, dp_accounting.LaplaceDpEvent):
        # Laplace with scale b = noise_multiplier × sensitivity is (1/nm)-DP.
        return 1.0 / event.noise_multiplier
    if isinstance(event, dp_accounting.SelfComposedDpEvent):
        inner = _pure_epsilon(event.event)
        return None if inner is None else event.count * inner
    if isinstance(event, dp_accounting.ComposedDpEvent):
        parts = [_pure_epsilon(e) for e in event.events]
        return None if any(p is None for p in parts) else sum(parts)  # type: ignore[arg-type]
    return None


class _EventKey:
    """Hashable stand-in for a DpEvent (ComposedDpEvent holds a list).

    attrs reprs are exact (floats print round-trip), so equal reprs mean
    equal events.
    """

    __slots__ = ("event", "text")

    def __init__(self, event: dp_accounting.DpEvent) -> None:
        self.event = event
        self.text = repr(event)

    def __hash__(self) -> int:
        return hash(self.text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _EventKey) and self.text == other.text


# The PLD accountant's default value discretisation (1e-4) reproduces the
# reference figures; every ε we *report* uses it. Searches (calibration, the
# budget tracker) first narrow down with a 10x coarser grid, about ten times
# faster and within ~1e-4 relative of the fine value, then settle the
# answer with the fine one, so what they return is judged by the fine ε.
_COARSE_PLD_INTERVAL = 1e-3


@functools.lru_cache(maxsize=4096)
def _event_epsilon_cached(
    key: _EventKey, delta: float, accountant: str, coarse: bool = False
) -> float:
    # A PLD composition of thousands of steps costs about a second, so
    # repeated questions (the budget CLI, calibration brackets, tests) are
    # answered from this cache; the function is pure.
    event = key.event
    if delta == 0:
        pure = _pure_epsilon(event)
        if pure is None:
            raise ConfigError(
                "delta=0 is only possible for pure (Laplace) mechanisms; give a "
                "delta > 0 for Gaussian or subsampled mechanisms."
            )
        return pure
    if accountant == "pld":
        acct: Any = (
            pld.PLDAccountant(value_discretization_interval=_COARSE_PLD_INTERVAL)
            if coarse
            else pld.PLDAccountant()
        )
    else:
        acct = rdp.RdpAccountant()
    with _quiet_absl():
        try:
            acct.compose(event)
        except dp_accounting.UnsupportedEventError as exc:
            raise ConfigError(
                f"The {accountant} accountant cannot account for this mechanism: {exc}"
            ) from None
        return float(acct.get_epsilon(delta))


@contextlib.contextmanager
def _quiet_absl() -> Iterator[None]:
    # RDP warns (via absl) when it drops a fractional order whose series did
    # not converge; the bound over the remaining orders stays valid, and the
    # warning would break the one-line output of the CLI.
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def event_epsilon(
    event: dp_accounting.DpEvent, delta: float, *, accountant: Accountant = "pld"
) -> float:
    """ε at ``delta`` of one (possibly composed) DpEvent.

    Args:
        event: any DpEvent the chosen accountant supports.
        delta: target δ; 0 is allowed only for pure (Laplace) events.
        accountant: ``"pld"`` (tight, default) or ``"rdp"`` (an upper bound).

    Returns:
        The ε such that the event is (ε, δ)-DP under add/remove-one.

    Privacy:
        Joint composition: valid when all parameters inside ``event`` were
        fixed before any of its mechanisms saw the data.
    """
    _check_accountant(accountant)
    non_negative(delta=delta)
    if delta >= 1:
        raise ConfigError(f"Expected 0 <= delta={delta} < 1.")
    return _event_epsilon_cached(_EventKey(event), float(delta), accountant)


def _main_event(
    noise_multiplier: float,
    sampling_prob: float,
    steps: int,
    extra_events: Iterable[dp_accounting.DpEvent],
) -> dp_accounting.DpEvent:
    event = dpsgd_event(noise_multiplier, sampling_prob, steps)
    extra = tuple(extra_events)
    if not extra:
        return event
    if steps == 0:
        return dp_accounting.ComposedDpEvent(list(extra))
    return dp_accounting.ComposedDpEvent([*extra, event])


def epsilon(
    noise_multiplier: float,
    sampling_prob: float,
    steps: int,
    delta: float,
    *,
    accountant: Accountant = "pld",
    extra_events: Sequence[dp_accounting.DpEvent] = (),
) -> float:
    """ε spent by DP-SGD (and any jointly composed fixed mechanisms).

    Args:
        noise_multiplier: σ of each step.
        sampling_prob: q of the Poisson sampler.
        steps: number of steps taken (or planned).
        delta: target δ, in (0, 1).
        accountant: ``"pld"`` (default) or ``"rdp"``.
        extra_events: other mechanisms whose parameters were fixed before the
            phase touched the data (e.g. ``GaussianDpEvent`` of metadata
            counts); composed jointly with DP-SGD in the same accountant.

    Returns:
        ε of the composition at ``delta``.

    Privacy:
        Add/remove-one adjacency; Poisson sampling at rate q; each step's
        sensitivity is the clip norm C and its noise N(0, σ²C²).
    """
    probability(delta=delta)
    return event_epsilon(
        _main_event(noise_multiplier, sampling_prob, steps, extra_events),
        delta,
        accountant=accountant,
    )


def _epsilon_fn(
    sampling_prob: float,
    steps: int | None,
    delta: float,
    accountant: str,
    extra_events: Sequence[dp_accounting.DpEvent],
    *,
    coarse: bool = False,
    noise_multiplier: float | None = None,
) -> Any:
    """ε as a function of σ (``steps`` given) or of steps (σ given)."""

    def of_sigma(sigma: float) -> float:
        event = _main_event(sigma, sampling_prob, steps, extra_events)  # type: ignore[arg-type]
        return _event_epsilon_cached(_EventKey(event), delta, accountant, coarse)

    def of_steps(count: int) -> float:
        event = _main_event(noise_multiplier, sampling_prob, count, extra_events)  # type: ignore[arg-type]
        return _event_epsilon_cached(_EventKey(event), delta, accountant, coarse)

    return of_sigma if noise_multiplier is None else of_steps


def gaussian_epsilon(
    noise_multiplier: float, delta: float, *, accountant: Accountant = "pld"
) -> float:
    """ε of one Gaussian release with noise std = noise_multiplier × sensitivity.

    Privacy:
        (ε, δ)-DP for a query of L2 sensitivity 1 (scale the noise with the
        sensitivity) under add/remove-one.
    """
    positive(noise_multiplier=noise_multiplier)
    probability(delta=delta)
    return event_epsilon(
        dp_accounting.GaussianDpEvent(noise_multiplier), delta, accountant=accountant
    )


def _solve_sigma(
    eps: Any, target: float, guess: float, rtol: float, first_step: float
) -> float:
    """Smallest-ish σ with ``eps(σ) <= target``, within ``rtol`` of it.

    Brackets from ``guess`` with steps growing from ``first_step`` (ratio),
    then Illinois regula falsi in (log σ, log ε), where ε(σ) is close to a
    power law. Only ever returns a σ whose ``eps`` was computed ≤ target.
    """
    ratio = first_step
    hi, e_hi = guess, eps(guess)
    if e_hi > target:
        lo, e_lo = hi, e_hi
        while e_hi > target:
            lo, e_lo = hi, e_hi
            hi = min(hi * ratio, _MAX_NOISE_MULTIPLIER)
            ratio *= ratio
            if lo >= _MAX_NOISE_MULTIPLIER:
                raise PrivacyBudgetError(
                    f"target epsilon={target} is unreachable with noise_multiplier "
                    f"<= {_MAX_NOISE_MULTIPLIER:g}; raise the target or the batch "
                    "size, or take fewer steps."
                )
            e_hi = eps(hi)
    else:
        lo, e_lo = hi, e_hi
        while e_lo <= target:
            hi, e_hi = lo, e_lo
            if e_hi >= (1.0 - rtol) * target:
                return hi
            if lo <= _MIN_NOISE_MULTIPLIER:
                # Almost no noise already meets the target (a huge ε);
                # hi is valid and searching lower has no practical use.
                return hi
            lo = max(lo / ratio, _MIN_NOISE_MULTIPLIER)
            ratio *= ratio
            e_lo = eps(lo)

    la, lb = math.log(lo), math.log(hi)
    fa = math.log(e_lo / target)  # > 0
    fb = math.log(e_hi / target)  # <= 0
    kept = 0  # -1: hi was kept last time, +1: lo was kept last time
    for iteration in range(100):
        if e_hi >= (1.0 - rtol) * target or lb - la <= 1e-12:
            break
        x = (la * fb - lb * fa) / (fb - fa) if fb != fa else 0.5 * (la + lb)
        if iteration >= 30 or not la < x < lb:
            x = 0.5 * (la + lb)  # plain bisection as a safety net
        e = eps(math.exp(x))
        f = math.log(e / target)
        if e > target:
            la, fa = x, f
            if kept == -1:
                fb /= 2.0
            kept = -1
        else:
            lb, fb, e_hi = x, f, e
            hi = math.exp(x)
            if kept == 1:
                fa /= 2.0
            kept = 1
    return hi


def calibrate_noise_multiplier(
    target_epsilon: float,
    delta: float,
    sampling_prob: float,
    steps: int,
    *,
    accountant: Accountant = "pld",
    extra_events: Sequence[dp_accounting.DpEvent] = (),
    rtol: float = 1e-3,
) -> float:
    """The smallest σ (to ``rtol`` in ε) that keeps ε ≤ ``target_epsilon``.

    A bracketing search in log σ (regula falsi on log ε, falling back to
    bisection) that only ever returns a σ whose ε, computed by the same
    accountant as :func:`epsilon`, is ≤ the target; it stops once that ε is
    within ``rtol`` of the target.

    Args:
        target_epsilon: the ε to reach.
        delta: target δ.
        sampling_prob: q.
        steps: planned number of steps.
        accountant: ``"pld"`` or ``"rdp"``.
        extra_events: mechanisms composed jointly with DP-SGD (their ε is
            part of the target).
        rtol: stop when ``(1 - rtol) * target <= ε(σ) <= target``.

    Returns:
        σ with ``epsilon(σ, ...) <= target_epsilon``.

    Raises:
        PrivacyBudgetError: the target is unreachable, e.g. ``extra_events``
            alone already spend it.

    Privacy:
        Data-independent: σ depends only on public parameters.
    """
    positive(target_epsilon=target_epsilon)
    probability(delta=delta, rtol=rtol)
    _check_accountant(accountant)
    _check_sampling_prob(sampling_prob)
    positive_int(steps=steps)
    extra = tuple(extra_events)
    if extra:
        floor = event_epsilon(
            dp_accounting.ComposedDpEvent(list(extra)), delta, accountant=accountant
        )
        if floor >= target_epsilon:
            raise PrivacyBudgetError(
                f"target epsilon={target_epsilon} is unreachable: the other "
                f"mechanisms of this phase already spend epsilon={floor:.4g}; "
                "raise the target or give them less budget."
            )

    def fn(acct: str, coarse: bool = False) -> Any:
        return _epsilon_fn(sampling_prob, steps, delta, acct, extra, coarse=coarse)

    if accountant == "rdp":
        return _solve_sigma(fn("rdp"), target_epsilon, 1.0, rtol, 2.0)
    # PLD: RDP (cheap, and an upper bound on PLD's ε) gives a slightly high
    # first guess; the coarse PLD grid narrows it down; the fine grid (the
    # one whose ε we report) settles it, usually in one or two calls.
    try:
        guess = _solve_sigma(fn("rdp"), target_epsilon, 1.0, 0.05, 2.0)
    except (ConfigError, PrivacyBudgetError):
        guess = 1.0
    guess = _solve_sigma(fn("pld", coarse=True), target_epsilon, guess, rtol / 2, 1.25)
    return _solve_sigma(fn("pld"), target_epsilon, guess, rtol, 1.005)


def _last_within(eps: Any, target: float, lo: int, hi: int) -> int:
    """Largest n in [lo, hi) with eps(n) <= target, given eps(lo) <= target < eps(hi).

    Illinois regula falsi in (log n, log ε) with integer rounding; bisection
    takes over if interpolation stalls.
    """
    e_lo, e_hi = eps(lo), eps(hi)
    fa = math.log(e_lo / target) if e_lo > 0 else -1.0
    fb = math.log(e_hi / target)
    kept = 0
    for iteration in range(200):
        if hi - lo <= 1:
            break
        la, lb = math.log(lo), math.log(hi)
        if iteration < 12 and fb != fa:
            guess = math.exp(la - fa * (lb - la) / (fb - fa))
            mid = min(max(round(guess), lo + 1), hi - 1)
        else:
            mid = (lo + hi) // 2
        e_mid = eps(mid)
        f_mid = math.log(e_mid / target) if e_mid > 0 else -1.0
        if e_mid <= target:
            lo, fa = mid, f_mid
            if kept == 1:
                fb /= 2.0
            kept = 1
        else:
            hi, fb = mid, f_mid
            if kept == -1:
                fa /= 2.0
            kept = -1
    return lo


def max_steps_within(
    target_epsilon: float,
    delta: float,
    noise_multiplier: float,
    sampling_prob: float,
    *,
    max_steps: int,
    accountant: Accountant = "pld",
    extra_events: Sequence[dp_accounting.DpEvent] = (),
) -> int:
    """The most DP-SGD steps, up to ``max_steps``, whose ε stays ≤ the target.

    Used by the budget tracker: training stops after this many steps, a
    data-independent rule (it depends only on public parameters), so stopping
    spends no privacy. ε is non-decreasing in steps, so a search over step
    counts finds the last one within budget; the answer is judged by the same
    accountant as :func:`epsilon` (for PLD the coarse grid only narrows the
    search down).

    Args:
        target_epsilon: the ε not to exceed.
        delta: target δ.
        noise_multiplier: σ.
        sampling_prob: q.
        max_steps: the planned number of steps (the answer's upper end).
        accountant: ``"pld"`` or ``"rdp"``.
        extra_events: mechanisms composed jointly with DP-SGD.

    Returns:
        An integer in ``[0, max_steps]``; 0 if even one step (or the extra
        events alone) would exceed the target.

    Privacy:
        Same as :func:`epsilon`.
    """
    positive(target_epsilon=target_epsilon, noise_multiplier=noise_multiplier)
    probability(delta=delta)
    _check_accountant(accountant)
    _check_sampling_prob(sampling_prob)
    _check_steps(max_steps)
    eps = _epsilon_fn(
        sampling_prob,
        None,
        delta,
        accountant,
        extra_events,
        noise_multiplier=noise_multiplier,
    )
    if eps(max_steps) <= target_epsilon:
        return max_steps
    if eps(0) > target_epsilon or eps(1) > target_epsilon:
        return 0
    if accountant == "rdp":
        return _last_within(eps, target_epsilon, 1, max_steps)
    coarse = _epsilon_fn(
        sampling_prob,
        None,
        delta,
        accountant,
        extra_events,
        coarse=True,
        noise_multiplier=noise_multiplier,
    )
    lo, hi = 1, max_steps
    if coarse(max_steps) > target_epsilon:
        guess = _last_within(coarse, target_epsilon, 1, max_steps)
        # Settle with the fine grid around the coarse answer: gallop outwards
        # from it until the fine boundary is bracketed, then close the gap.
        if eps(guess) <= target_epsilon:
            lo, stride = guess, 1
            while lo + stride < hi and eps(lo + stride) <= target_epsilon:
                lo, stride = lo + stride, stride * 2
            hi = min(hi, lo + stride)
        else:
            hi, stride = guess, 1
            while hi - stride > lo and eps(hi - stride) > target_epsilon:
                hi, stride = hi - stride, stride * 2
            lo = max(lo, hi - stride)
    if hi - lo <= 1:
        return lo
    return _last_within(eps, target_epsilon, lo, hi)


# --- plain data ---------------------------------------------------------------

_EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "NoOpDpEvent": (),
    "GaussianDpEvent": ("noise_multiplier",),
    "LaplaceDpEvent": ("noise_multiplier",),
    "PoissonSampledDpEvent": ("sampling_probability", "event"),
    "SelfComposedDpEvent": ("event", "count"),
    "ComposedDpEvent": ("events",),
}


def event_to_plain(event: dp_accounting.DpEvent) -> dict[str, Any]:
    """A msgpack-plain form of a DpEvent, so a reader can re-run the accounting.

    Supported: NoOp, Gaussian, Laplace, PoissonSampled, SelfComposed, Composed.
    """
    kind = type(event).__name__
    fields = _EVENT_FIELDS.get(kind)
    if fields is None:
        raise ConfigError(f"{kind} cannot be recorded in a privacy statement.")
    plain: dict[str, Any] = {"type": kind}
    for name in fields:
        value = getattr(event, name)
        if name == "event":
            plain[name] = event_to_plain(value)
        elif name == "events":
            plain[name] = [event_to_plain(e) for e in value]
        elif name == "count":
            plain[name] = int(value)
        else:
            plain[name] = float(value)
    return plain


def event_from_plain(plain: Mapping[str, Any]) -> dp_accounting.DpEvent:
    """Inverse of :func:`event_to_plain`."""
    kind = plain.get("type")
    if kind not in _EVENT_FIELDS:
        raise ConfigError(f"Unknown privacy event type {kind!r}.")
    cls = getattr(dp_accounting, kind)
    kwargs: dict[str, Any] = {}
    for name in _EVENT_FIELDS[kind]:
        value = plain[name]
        if name == "event":
            kwargs[name] = event_from_plain(value)
        elif name == "events":
            kwargs[name] = [event_from_plain(e) for e in value]
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _check_plain(value: Any, where: str) -> None:
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, list):
        for item in value:
            _check_plain(item, where)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(
                    f"{where}: parameter keys must be strings, got {key!r}."
                )
            _check_plain(item, where)
        return
    raise ConfigError(
        f"{where}: parameter value {value!r} of type {type(value).__name__} is not "
        "plain data (str, int, float, bool, None, list, dict)."
    )


# --- composing the phases of a run -------------------------------------------


@dataclass(frozen=True)
class AccountedMechanism:
    """One mechanism that touched the data, as the accountant composes it.

    Attributes:
        name: what was released (e.g. ``"row-count"``, ``"dp-sgd"``).
        phase: the phase it belongs to.
        event: its DpEvent.
        params: plain-data parameters (noise scales, clip norm, q, steps...).
        extra_delta: δ spent outside the accountant (e.g. the thresholding
            of open-domain partition selection).
        kind: the mechanism's kind in the privacy statement (``"laplace"``,
            ``"gaussian"``, ``"poisson_subsampled_gaussian"``).
        columns: the columns whose metadata it released.
    """

    name: str
    phase: str
    event: dp_accounting.DpEvent
    params: dict[str, Any] = field(default_factory=dict)
    extra_delta: float = 0.0
    kind: str = ""
    columns: tuple[str, ...] = ()


class PhaseAccountant:
    """Composes every DP mechanism of a run, grouped into phases.

    *Within a phase*, mechanisms compose jointly in the accountant: this is
    valid because all their parameters (noise scales, q, steps) were fixed
    before the phase touched the data, so the phase is one non-adaptive
    mechanism. *Across phases*, composition is basic (ε's add, δ's add): a
    later phase's parameters may be chosen from an earlier phase's *output*
    (e.g. the noisy row count sets q = batch / n̂), and adaptively chosen
    privacy parameters are not covered by the joint accountant composition
    (which assumes them fixed in advance), whereas basic composition holds
    for any adaptive choice.

    What it composes becomes the bundle's
    :class:`~provisioner.privacy.PrivacyStatement` through
    :meth:`statement` (the only form that ships)::

        acct = PhaseAccountant()
        acct.begin_phase("row-count")
        acct.add("row-count", dp_accounting.LaplaceDpEvent(2.0), {"scale": 2.0})
        acct.begin_phase("main")
        acct.add("bins", dp_accounting.GaussianDpEvent(8.0), {"sigma": 8.0})
        acct.add("dp-sgd", plan.dp_event, plan.to_plain())
        eps, delta = acct.total({"row-count": 0.0, "main": 1e-6})
        statement = acct.statement({"row-count": 0.0, "main": 1e-6})

    Args:
        accountant: ``"pld"`` (default) or ``"rdp"``, used for every phase.
    """

    def __init__(self, *, accountant: Accountant = "pld") -> None:
        _check_accountant(accountant)
        self._accountant: Accountant = accountant
        self._entries: list[AccountedMechanism] = []
        self._phases: list[str] = []

    @property
    def accountant(self) -> str:
        return self._accountant

    @property
    def phases(self) -> tuple[str, ...]:
        return tuple(self._phases)

    @property
    def entries(self) -> tuple[AccountedMechanism, ...]:
        return tuple(self._entries)

    def begin_phase(self, name: str) -> None:
        """Start a new phase; later :meth:`add` calls belong to it."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Expected a non-empty phase name, got {name!r}.")
        if name in self._phases:
            raise ConfigError(
                f"Phase {name!r} was already begun; phases are append-only."
            )
        self._phases.append(name)

    def add(
        self,
        name: str,
        event: dp_accounting.DpEvent,
        params: Mapping[str, Any] | None = None,
        *,
        extra_delta: float = 0.0,
        kind: str | None = None,
        columns: Sequence[str] = (),
    ) -> AccountedMechanism:
        """Record a mechanism in the current phase.

        Args:
            name: what was released.
            event: its DpEvent (checked to be recordable).
            params: plain-data parameters (str/int/float/bool/None/list/dict).
            extra_delta: δ spent outside the accountant, added to the phase δ.
            kind: its kind in the statement (default: from the event).
            columns: the columns whose metadata it released.

        Returns:
            The stored entry.
        """
        if not self._phases:
            raise ConfigError("Call begin_phase(...) before adding a mechanism.")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Expected a non-empty mechanism name, got {name!r}.")
        if not isinstance(event, dp_accounting.DpEvent):
            raise ConfigError(
                f"{name}: expected a dp_accounting.DpEvent, got {event!r}."
            )
        event_to_plain(event)  # fails now, not when the bundle is written
        plain = dict(params or {})
        _check_plain(plain, name)
        non_negative(extra_delta=extra_delta)
        entry = AccountedMechanism(
            name, self._phases[-1], event, plain, float(extra_delta),
            kind or _kind_of(event), tuple(columns))
        self._entries.append(entry)
        return entry

    def phase_entries(self, phase: str) -> tuple[AccountedMechanism, ...]:
        if phase not in self._phases:
            raise ConfigError(
                f"Unknown phase {phase!r}; phases: {', '.join(self._phases)}."
            )
        return tuple(e for e in self._entries if e.phase == phase)

    def phase_event(self, phase: str) -> dp_accounting.DpEvent:
        """All of a phase's events composed into one."""
        events = [e.event for e in self.phase_entries(phase)]
        if not events:
            return dp_accounting.NoOpDpEvent()
        if len(events) == 1:
            return events[0]
        return dp_accounting.ComposedDpEvent(events)

    def phase_epsilon(self, phase: str, delta: float) -> float:
        """ε of one phase at accountant-δ ``delta`` (joint composition).

        ``delta`` may be 0 when the phase is pure (only Laplace mechanisms).
        """
        return event_epsilon(
            self.phase_event(phase), delta, accountant=self._accountant
        )

    def phase_delta(self, phase: str, delta: float) -> float:
        """Total δ of a phase: the accountant's ``delta`` plus extra δ's."""
        return float(delta) + sum(e.extra_delta for e in self.phase_entries(phase))

    def _deltas(self, delta_by_phase: Mapping[str, float]) -> dict[str, float]:
        missing = [p for p in self._phases if p not in delta_by_phase]
        unknown = [p for p in delta_by_phase if p not in self._phases]
        if missing or unknown:
            raise ConfigError(
                f"delta_by_phase must name exactly the phases {list(self._phases)}; "
                f"missing {missing}, unknown {unknown}."
            )
        return {p: float(delta_by_phase[p]) for p in self._phases}

    def total(self, delta_by_phase: Mapping[str, float]) -> tuple[float, float]:
        """(ε, δ) of the whole run: phases add up (basic composition)."""
        deltas = self._deltas(delta_by_phase)
        eps = math.fsum(self.phase_epsilon(p, d) for p, d in deltas.items())
        delta = math.fsum(self.phase_delta(p, d) for p, d in deltas.items())
        return eps, delta

    def statement(self, delta_by_phase: Mapping[str, float]) -> Any:
        """The bundle's :class:`~provisioner.privacy.PrivacyStatement`.

        Each phase's ε is its joint composition at its accountant δ; its δ
        adds the extra δ's; the totals are the sums. A mechanism's params
        gain ``extra_delta`` when it has one.
        """
        from provisioner.privacy import Mechanism, Phase, PrivacyStatement

        deltas = self._deltas(delta_by_phase)
        phases = tuple(
            Phase(name, float(self.phase_epsilon(name, d)), float(self.phase_delta(name, d)))
            for name, d in deltas.items()
        )
        mechanisms = tuple(
            Mechanism(e.name, e.phase, e.kind,
                      dict(e.params, **({"extra_delta": e.extra_delta}
                                        if e.extra_delta else {})),
                      e.columns)
            for e in self._entries
        )
        return PrivacyStatement(
            dp=True,
            epsilon=math.fsum(p.epsilon for p in phases),
            delta=math.fsum(p.delta for p in phases),
            accountant=self._accountant,
            accountant_library=f"dp-accounting {dp_accounting_version()}",
            phases=phases,
            mechanisms=mechanisms,
            neighboring=NEIGHBORING_RELATION,
        )


def _kind_of(event: dp_accounting.DpEvent) -> str:
    if isinstance(event, dp_accounting.LaplaceDpEvent):
        return "laplace"
    if isinstance(event, dp_accounting.GaussianDpEvent):
        return "gaussian"
    return "poisson_subsampled_gaussian"


def mechanism_event(kind: str, params: Mapping[str, Any]) -> dp_accounting.DpEvent:
    """Rebuild a statement mechanism's DpEvent from its kind and params.

    This is how a reader with dp-accounting re-runs the accounting of a
    shipped :class:`~provisioner.privacy.PrivacyStatement`.
    """
    if kind == "laplace":
        return dp_accounting.LaplaceDpEvent(params["scale"] / params.get("sensitivity", 1.0))
    if kind == "gaussian":
        return dp_accounting.GaussianDpEvent(params["noise_multiplier"])
    if kind == "poisson_subsampled_gaussian":
        return dpsgd_event(params["noise_multiplier"], params["sampling_probability"],
                           int(params["steps"]))
    raise ConfigError(f"Unknown mechanism kind {kind!r} in the privacy statement.")
