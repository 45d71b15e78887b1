"""Empirical DP audit of the real trainer in one training run.

Steinke, Nasr and Jagielski (NeurIPS 2023, "Privacy auditing with one (1)
training run"): insert m canaries, each included independently with
probability ½, train once, score every canary, guess "in" for the highest
scores and "out" for the lowest, and turn the number of correct guesses into
an ε that the run cannot have had at 95% confidence. If the trainer keeps its
(ε, δ) claim the lower bound stays below ε (with probability ≥ 95% over the
randomness of the run); a broken trainer shows a lower bound above it.

Two families of canaries, each half of the significance (Bonferroni):

* **gradient canaries** (white-box, the worst case for DP-SGD): slot k of
  the training data holds either a row whose gradient is ``canary_norm ·
  e_k`` in a block of parameters nothing else touches, or (canary out) a row
  whose gradient is zero, which adds nothing to any released sum. The block
  is trained by plain SGD with rate 1, so reading it after each step reads
  the step's privatised (noised, clipped) gradient sum, exactly what the
  accountant accounts for. A canary's score is the Neyman–Pearson
  likelihood ratio of its coordinate under the *claimed* plan,
  ``Σ_t log(1 − q + q·exp((u_t − ½)/σ²))`` (u_t in units of C), or, when the
  batch order is public (a seeded shuffle), the sum of u_t over the steps
  that hold its slot.
* **row canaries** (black-box on the bundle's metadata): real rows with a
  value of their own in one categorical column; the score is whether that
  value appears in the released column schema.

The guessing rule (how many guesses) is fixed before the run from public
parameters: a simulation of the claimed mechanism picks the count that
maximises the expected bound; row canaries are all guessed.

Negative controls are the same run with one field of the plan replaced
(``CONTROLS``); each must be flagged (lower bound above the claimed ε):

* ``no-clipping``: ``DPExecutionPlan.clip = False``;
* ``noise/10``: ``noise_multiplier / 10``;
* ``shuffled``: ``batch_selection = ShuffledBatches`` (fixed-size batches of
  a seeded shuffle, as reproducible data loaders make them; each row seen as
  often as under Poisson sampling);
* ``raw-metadata``: the metadata noise replaced by none (vocabularies and
  ranges read from the raw data).

The run is seeded (``trainer.fit.Randomness``) so that the audit is
reproducible; the auditor's scores never use the Poisson sampler's draws.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from provisioner.errors import ConfigError

__all__ = (
    "CONTROLS",
    "AuditResult",
    "AuditSettings",
    "Family",
    "epsilon_lower_bound",
    "guess_count",
    "p_value",
    "planned_guesses",
    "run_audit",
)

CONTROLS = ("honest", "no-clipping", "noise/10", "shuffled", "raw-metadata")
PUBLIC_SHUFFLE_SEED = 1234  # the "reproducible data loader" seed, known to anyone


# --- the bound ------------------------------------------------------------------


def p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P[≥ v of r guesses right] for an (ε, δ)-DP run with m canaries (Steinke et al.).

    ``β + α·δ·2m`` where β is the upper tail of Binomial(r, e^ε/(1 + e^ε))
    at v and ``α = max_i (P[Bin ≥ v − i] − β) / i``.
    """
    from scipy.special import expit
    from scipy.stats import binom

    if not 0 <= v <= r <= m:
        raise ConfigError(f"need 0 <= v={v} <= r={r} <= m={m}")
    q = expit(epsilon)
    beta = float(binom.sf(v - 1, r, q))
    if delta == 0 or v == 0:
        return min(beta, 1.0)
    i = np.arange(1, v + 1)
    alpha = float(np.max((binom.sf(v - i - 1, r, q) - beta) / i, initial=0.0))
    return min(beta + alpha * delta * 2 * m, 1.0)


def epsilon_lower_bound(m: int, r: int, v: int, delta: float, significance: float) -> float:
    """The largest ε whose p-value for (r guesses, v right) is below ``significance``.

    0 when even ε = 0 is not rejected.
    """
    from scipy.optimize import brentq

    def objective(eps: float) -> float:
        return significance - p_value(m, r, v, eps, delta)

    if objective(0.0) <= 0:
        return 0.0
    hi = 1.0
    while objective(hi) > 0:
        hi *= 2
        if hi > 1e3:
            return math.inf
    return float(brentq(objective, hi / 2 if hi > 1 else 0.0, hi, xtol=1e-6))


def guess_count(scores: np.ndarray, included: np.ndarray, guesses: int,
                rng: np.random.Generator) -> tuple[int, int]:
    """(guesses made, right): "in" for the guesses//2 highest scores, "out" for
    the guesses//2 lowest (ties broken at random)."""
    half = min(guesses // 2, len(scores) // 2)
    order = np.lexsort((rng.random(len(scores)), -np.asarray(scores, dtype=float)))
    right = int(included[order[:half]].sum() + (~included[order[len(scores) - half:]]).sum())
    return 2 * half, right


def planned_guesses(m: int, sampling_prob: float, noise_multiplier: float, steps: int,
                    delta: float, significance: float, *, seed: int = 7,
                    fractions: Sequence[float] = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
                                                  0.5, 1.0)) -> int:
    """How many guesses to make, chosen from public parameters only.

    Simulates the claimed mechanism on ideal gradient canaries (Poisson at
    rate q, Gaussian noise σ, the likelihood-ratio score) and returns the
    count whose bound is largest; where counts tie (e.g. every bound is 0,
    as with few canaries), the one that detects best a mechanism with half
    the noise. Fixing it before the run keeps the test at its significance.
    """
    def simulate(sigma: float) -> list[float]:
        rng = np.random.default_rng(seed)
        included = rng.random(m) < 0.5
        score = np.zeros(m)
        for _ in range(steps):
            u = (rng.random(m) < sampling_prob) * included + sigma * rng.standard_normal(m)
            score += _poisson_llr(u, sampling_prob, noise_multiplier)
        bounds = []
        for fraction in fractions:
            r, v = guess_count(score, included, max(2, int(fraction * m)), rng)
            bounds.append(epsilon_lower_bound(m, r, v, delta, significance))
        return bounds

    claimed, stronger = simulate(noise_multiplier), simulate(noise_multiplier / 2)
    best = max(range(len(fractions)), key=lambda i: (round(claimed[i], 6), stronger[i]))
    return max(2, int(fractions[best] * m))


def _poisson_llr(u: np.ndarray, q: float, sigma: float) -> np.ndarray:
    """Per-step log-likelihood ratio of "canary in" for a coordinate u (units of C)."""
    z = np.clip((u - 0.5) / sigma**2, -700, 700)
    return np.log1p(q * np.expm1(z))


# --- one audited run ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AuditSettings:
    """Attributes:
      gradient_canaries, row_canaries: m of each family.
      canary_norm: the gradient canaries' gradient norm (before clipping).
      confidence: of the lower bound (split between the two families).
      seed: of the run, the canaries' inclusion and the tie-breaking.
      canary_column: the categorical column row canaries get their value in
        (default: the one with most distinct values).
    """

    gradient_canaries: int = 1000
    row_canaries: int = 100
    canary_norm: float = 100.0
    confidence: float = 0.95
    seed: int = 0
    canary_column: str | None = None


@dataclasses.dataclass(frozen=True)
class Family:
    """One canary family's result: m canaries, r guesses, v right, the bound."""

    canaries: int
    guesses: int
    right: int
    lower_bound: float


@dataclasses.dataclass(frozen=True)
class AuditResult:
    control: str
    claimed_epsilon: float
    delta: float
    gradient: Family
    rows: Family
    steps: int
    seconds: float

    @property
    def lower_bound(self) -> float:
        return max(self.gradient.lower_bound, self.rows.lower_bound)

    @property
    def flagged(self) -> bool:
        """True when the run is shown not to be (claimed ε, δ)-DP."""
        return self.lower_bound > self.claimed_epsilon


def _canary_column(frame: Any, chosen: str | None) -> str:
    if chosen is not None:
        if chosen not in frame.columns:
            raise ConfigError(f"canary column {chosen!r} is not in the table")
        return chosen
    text = [c for c in frame.columns
            if not np.issubdtype(np.asarray(frame[c]).dtype, np.number)
            and frame[c].nunique() > 2]
    if not text:
        raise ConfigError("row canaries need a categorical column with more than 2 values")
    return max(text, key=lambda c: frame[c].nunique())


def _with_row_canaries(frame: Any, column: str, m: int, rng: np.random.Generator
                       ) -> tuple[Any, list[str], np.ndarray]:
    import pandas as pd

    values = [f"canary-{k:05d}" for k in range(m)]
    included = rng.random(m) < 0.5
    base = frame.iloc[rng.integers(len(frame), size=int(included.sum()))].copy()
    base[column] = [v for v, inc in zip(values, included) if inc]
    table = pd.concat([frame, base], ignore_index=True)
    return table.iloc[rng.permutation(len(table))].reset_index(drop=True), values, included


def _audit_clipper(model_clipper: Any, canary_norm: float, slots: int) -> Any:
    """The model's clipper, plus gradient canaries in a parameter block of their own.

    A canary row's whole gradient is ``canary_norm · e_k`` (k its slot), so
    it is clipped, like any row, to C by the same ``clip_factors``.
    """
    import jax.numpy as jnp

    from trainer.dp.clipping import ClippedSum, clip_factors

    def clip(params, batch, mask, key, l2_clip):
        model_params = {k: v for k, v in params.items() if k != "audit"}
        slot = batch["canary"]
        is_canary = slot >= 0
        real = model_clipper(model_params, batch["tokens"], mask & ~is_canary, key, l2_clip)
        live = mask & is_canary & batch["include"]
        norms = jnp.where(live, canary_norm, 0.0).astype(jnp.float32)
        factors = clip_factors(norms, live, l2_clip)
        audit = jnp.zeros((slots,), jnp.float32).at[jnp.where(is_canary, slot, 0)].add(
            factors * norms)
        return ClippedSum(dict(real.grad_sum, audit=audit),
                          jnp.where(is_canary, norms, real.norms))

    return clip


def _sized_for(plan: Any, num_rows: int) -> Any:
    """The plan with chunks big enough for the canary slots too.

    Capacity is a shape, not a privacy parameter (a larger draw is split,
    never dropped); sizing it for the rows the sampler really draws from
    keeps each step one compiled program.
    """
    from trainer.dp.sampling import batch_capacity

    selection = plan.dpsgd.batch_selection
    capacity = batch_capacity(num_rows, selection.sampling_prob,
                              num_devices=selection.num_devices)
    return dataclasses.replace(plan, dpsgd=dataclasses.replace(
        plan.dpsgd, batch_selection=dataclasses.replace(selection, capacity=capacity)))


def _control_plan(plan: Any, control: str, num_rows: int) -> Any:
    from trainer.dp.plan import ShuffledBatches

    dpsgd = plan.dpsgd
    if control in ("honest", "raw-metadata"):
        return dpsgd
    if control == "no-clipping":
        return dataclasses.replace(dpsgd, clip=False)
    if control == "noise/10":
        return dataclasses.replace(dpsgd, noise_multiplier=dpsgd.noise_multiplier / 10)
    if control == "shuffled":
        # a data loader's fixed-size batches, sized so each row is seen as
        # often as under Poisson sampling, from a seed anyone can read
        batch = max(1, round(dpsgd.sampling_prob * num_rows))
        return dataclasses.replace(dpsgd, batch_selection=ShuffledBatches(
            dpsgd.num_examples, batch, seed=PUBLIC_SHUFFLE_SEED,
            num_devices=dpsgd.num_devices))
    raise ConfigError(f"unknown control {control!r}; use one of {', '.join(CONTROLS)}")


def run_audit(table: Any, config: Any, *, control: str = "honest",
              settings: AuditSettings = AuditSettings()) -> AuditResult:
    """Train once with canaries (under ``control``) and bound ε from the guesses.

    Args:
      table: a pandas DataFrame (the real rows; canary rows are added).
      config: the :class:`~trainer.config.TrainConfig` whose claim is audited.
      control: ``"honest"`` or a negative control of ``CONTROLS``.
      settings: canary counts and seeds.
    """
    import jax
    import optax

    from trainer.fit import Randomness, dp_step, fit
    from trainer.privacy_plan import raw_metadata_noise
    from trainer.train import made_recipe, prepare_run

    if control not in CONTROLS:
        raise ConfigError(f"unknown control {control!r}; use one of {', '.join(CONTROLS)}")
    started = time.perf_counter()
    rng = np.random.default_rng([settings.seed, 1])
    column = _canary_column(table, settings.canary_column)
    frame, values, rows_in = _with_row_canaries(table, column, settings.row_canaries, rng)
    randomness = Randomness(settings.seed)
    run = prepare_run(frame, config, randomness=randomness,
                      metadata_noise=raw_metadata_noise() if control == "raw-metadata"
                      else None)
    plan = run.plan
    if plan is None:
        raise ConfigError("the audit needs a DP config (privacy.enabled)")
    honest = plan.dpsgd
    claimed = plan.first.epsilon + honest.epsilon(
        plan.main.delta, steps=plan.max_steps, accountant=plan.accountant,
        extra_events=plan.main.metadata_events)
    delta = plan.delta  # the claim's δ (all phases)

    # the training data: table rows, then one slot per gradient canary
    m = settings.gradient_canaries
    grad_in = rng.random(m) < 0.5
    n_rows = len(run.tokens)
    tokens = np.concatenate([run.tokens, np.zeros((m, run.tokens.shape[1]), np.int32)])
    data = {"tokens": tokens,
            "canary": np.concatenate([np.full(n_rows, -1, np.int32),
                                      np.arange(m, dtype=np.int32)]),
            "include": np.concatenate([np.zeros(n_rows, bool), grad_in])}
    dpsgd = _control_plan(_sized_for(plan, len(tokens)), control, len(tokens))

    recipe = made_recipe(run.model, run.config, run.derived, honest, randomness.init_key())
    params = dict(recipe.params, audit=jax.numpy.zeros((m,), jax.numpy.float32))
    def labels(tree: Any) -> Any:
        return {k: ("audit" if k == "audit" else jax.tree.map(lambda _: "model", v))
                for k, v in tree.items()}

    optimizer = optax.multi_transform({"model": recipe.optimizer, "audit": optax.sgd(1.0)},
                                      labels)
    step = dp_step(dpsgd, _audit_clipper(recipe.clipper, settings.canary_norm, m), optimizer)

    q, sigma, c = honest.sampling_prob, honest.noise_multiplier, honest.l2_clip
    scale = dpsgd.expected_batch_size / c
    score = np.zeros(m)
    previous = np.zeros(m)
    shuffled = dpsgd.batch_selection.name == "shuffled"
    selection = dpsgd.batch_selection
    per_epoch = len(tokens) // selection.batch_size if shuffled else 0
    order: list[Any] = [None, -1]

    def observe(s: Any) -> None:
        nonlocal previous
        current = np.asarray(s.params["audit"], dtype=np.float64)
        u = (previous - current) * scale  # the privatised sum of this step, in units of C
        previous = current
        if shuffled:
            # the order is public: the steps that hold each slot are known
            t = s.step - 1
            epoch, k = divmod(t, per_epoch)
            if order[1] != epoch:
                order[0], order[1] = selection.order(len(tokens), epoch), epoch
            rows = order[0][k * selection.batch_size:(k + 1) * selection.batch_size]
            slots = rows[rows >= n_rows] - n_rows
            score[slots] += u[slots]
        else:
            score[:] += _poisson_llr(u, q, sigma)

    fit(dpsgd, step, data, params, max_steps=plan.max_steps, randomness=randomness,
        init_key=randomness.init_key(), on_step=observe)

    significance = (1.0 - settings.confidence) / 2  # two families
    k = planned_guesses(m, q, sigma, plan.max_steps, delta, significance)
    r, v = guess_count(score, grad_in, k, rng)
    gradient = Family(m, r, v, epsilon_lower_bound(m, r, v, delta, significance))
    released = set()
    for col in run.derived.schema.columns:
        if col.name == column and col.categories is not None:
            released = {str(x) for x in col.categories}
    row_scores = np.array([v_ in released for v_ in values], dtype=float)
    r2, v2 = guess_count(row_scores, rows_in, settings.row_canaries, rng)
    rows = Family(settings.row_canaries, r2, v2,
                  epsilon_lower_bound(settings.row_canaries, r2, v2, delta, significance))
    return AuditResult(control, float(claimed), float(delta), gradient, rows, plan.max_steps,
                       time.perf_counter() - started)
