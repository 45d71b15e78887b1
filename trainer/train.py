"""``train(table, config) -> Bundle``: the one stateful loop of the trainer.

The flow, and where privacy is spent:

1. read and type the table (kinds are the public domain description);
2. **phase "row-count"**: a Laplace row count (pure ε);
3. plan phase "main" from the noisy count: metadata noise scales, then the
   DP-SGD noise multiplier calibrated so that metadata and DP-SGD together
   meet the remaining budget (one joint PLD/RDP composition);
4. **stage A and B metadata** (``trainer.releases``, assembled into the
   column schema by ``trainer.derive``) and the token encoding;
5. **DP-SGD** on the MADE model: Poisson batches, per-example clipping on
   the fast dense path, one Gaussian noise draw per step, Adam with cosine
   decay; the budget tracker stops at the planned step count (never on the
   private loss), ``max_minutes`` may stop earlier;
6. the ledger of what was actually spent becomes the bundle's privacy
   statement.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from provisioner.bundle import Bundle, GeneratorInfo, ModelSpec
from provisioner.errors import ConfigError, InputDataError
from provisioner.models.made import FAMILY, MadeConfig
from provisioner.privacy import Mechanism, Phase, PrivacyStatement
from trainer.calibrate import calibrate_marginals
from trainer.config import TrainConfig, default_batch_size
from trainer.declarations import Declarations
from trainer.encode import encode_table
from trainer.column_types import TypedTable
from trainer.derive import derive_metadata
from trainer.load import read_table
from trainer.releases import (
    MetadataNoise,
    MetadataOptions,
    Needs,
    NoiseSource,
    Release,
    noisy_row_count,
    plan_needs,
)

MIN_ROWS = 10


@dataclasses.dataclass(frozen=True)
class Progress:
    """What the loop reports after each step (for progress bars)."""

    step: int
    steps: int
    epoch: float
    loss: float | None
    epsilon: float | None
    elapsed: float


@dataclasses.dataclass(frozen=True)
class TrainReport:
    """Facts about a finished run, for the caller (not stored in the bundle)."""

    steps_planned: int
    steps_taken: int
    noise_multiplier: float | None
    sampling_prob: float
    expected_batch_size: float
    compile_seconds: float
    train_seconds: float
    total_seconds: float
    stopped_early: bool


@dataclasses.dataclass(frozen=True)
class BudgetPlan:
    """How the budget is split, fixed before the main phase reads values."""

    noise: MetadataNoise
    main_epsilon: float
    main_delta: float  # the accountant's δ for the main phase
    threshold_delta: float  # δ of partition selection (outside the accountant)
    count_epsilon: float


def _gaussian_delta(epsilon: float, z: float) -> float:
    """Exact δ(ε) of the Gaussian mechanism with noise multiplier z (Balle & Wang 2018)."""
    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2))

    return cdf(-epsilon * z + 0.5 / z) - math.exp(epsilon) * cdf(-epsilon * z - 0.5 / z)


def gaussian_multiplier_for(epsilon: float, delta: float) -> float:
    """The Gaussian noise multiplier z that alone spends exactly (ε, δ).

    Only used to split the budget (in Gaussian-equivalent units); the
    accountant then composes the actual mechanisms.
    """
    lo, hi = 1e-3, 1e4
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        if _gaussian_delta(epsilon, mid) > delta:
            lo = mid
        else:
            hi = mid
    return hi


def plan_budget(config: TrainConfig, needs: Needs) -> BudgetPlan:
    """Split (ε, δ) between row count, metadata and DP-SGD.

    Privacy:
      Data-independent: uses the budget, the shares and the number of
      histograms each release holds (from column kinds and declarations).
    """
    p = config.privacy
    delta = p.delta  # resolved by the caller
    count_epsilon = p.epsilon * p.row_count_share
    main_epsilon = p.epsilon - count_epsilon
    threshold_delta = p.threshold_delta_share * delta if needs.partition else 0.0
    main_delta = delta - threshold_delta
    # Gaussian-equivalent budget of the main phase, split in squared units
    # (the way independent Gaussian mechanisms compose).
    mu = 1.0 / gaussian_multiplier_for(main_epsilon, main_delta)
    meta = p.metadata_share * mu**2
    has_a = bool(needs.vocab or needs.range_histograms)
    has_b = bool(needs.fine)
    share_a = (p.vocabulary_share if has_b else 1.0) if has_a else 0.0
    share_b = (1.0 - share_a) if has_b else 0.0
    r = p.range_noise_ratio
    vocab_sigma = range_sigma = grid_sigma = 1.0
    if has_a:
        weight = len(needs.vocab) + needs.range_histograms / r**2
        vocab_sigma = math.sqrt(weight / (share_a * meta))
        range_sigma = r * vocab_sigma
    if has_b:
        grid_sigma = math.sqrt(len(needs.fine) / (share_b * meta))
    per_column = threshold_delta / len(needs.partition) if needs.partition else 1e-12
    noise = MetadataNoise(count_scale=1.0 / count_epsilon, vocab_sigma=vocab_sigma,
                          range_sigma=range_sigma, grid_sigma=grid_sigma,
                          threshold_delta=per_column)
    return BudgetPlan(noise, main_epsilon, main_delta, threshold_delta, count_epsilon)


def _exact_noise() -> MetadataNoise:
    return MetadataNoise(count_scale=0.0, vocab_sigma=0.0, range_sigma=0.0, grid_sigma=0.0,
                         threshold_delta=0.5)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for package in ("jax", "optax", "numpy", "dp-accounting"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    return versions


def train(
    table: Any,
    config: TrainConfig | None = None,
    *,
    declarations: Declarations | str | os.PathLike[str] | None = None,
    progress: Callable[[Progress], None] | None = None,
    report: list[TrainReport] | None = None,
) -> Bundle:
    """Train a generator on ``table`` and return its (unsigned) bundle content.

    Args:
      table: a CSV/Parquet path, a pandas DataFrame, or a TypedTable.
      config: budget and recipe (default: ε = 1, the adult-tuned recipe).
      declarations: the owner's public declarations: a schema file's path, or
        parsed :class:`~trainer.declarations.Declarations`.
      progress: called after each step with a :class:`Progress`.
      report: if given, a :class:`TrainReport` is appended to it.

    Returns:
      A :class:`provisioner.Bundle`; call ``bundle.save(path, signing_key)``.
    """
    import jax
    import optax

    from trainer.dp.accounting import epsilon
    from trainer.dp.aggregate import os_random_key
    from trainer.dp.dense import dense_clipper
    from trainer.dp.plan import budget_tracker, make_plan
    from trainer.dp.sampling import gather, sample_chunks
    from trainer.dp.step import DpSgdStep, PlainStep, masked_mean_loss
    from trainer.models import made

    started = time.perf_counter()
    config = config or TrainConfig()
    declared = declarations if isinstance(declarations, Declarations) else (
        Declarations.empty() if declarations is None else Declarations.load(declarations))
    if isinstance(table, TypedTable):
        typed = table
    else:
        typed = read_table(table, kinds=declared.kinds, drop=declared.dropped)
    declared.check_columns(typed.names + declared.dropped)
    rows = typed.num_rows
    if rows < MIN_ROWS:
        raise InputDataError(f"the table has {rows} row(s); training needs at least {MIN_ROWS}")
    if not any(c.kind != "id" for c in typed.columns):
        raise InputDataError("every column is an identifier: there is nothing to learn")
    dp = config.privacy.enabled
    source = NoiseSource(None if dp or config.seed is None
                         else np.random.default_rng(config.seed))
    needs = plan_needs(typed, declared)
    options = MetadataOptions(numeric_bins=config.numeric_bins, fine_cells=config.fine_cells,
                              max_categories=config.max_categories)
    releases: list[Release] = []
    if dp:
        delta = config.privacy.resolved_delta(rows)
        config = config.replace(privacy={"delta": delta})
        budget = plan_budget(config, needs)
        rows_noisy, count_release = noisy_row_count(rows, budget.noise, source)
        releases.append(count_release)
        rows_noisy = max(rows_noisy, MIN_ROWS)  # post-processing keeps q sane
        noise = budget.noise
    else:
        rows_noisy, noise, budget = rows, _exact_noise(), None
    derived = derive_metadata(typed, declared, noise, options, rows_noisy, source, dp=dp)
    releases.extend(derived.releases if dp else ())
    tokens = encode_table(typed, derived.schema, derived.null_fallback)
    model = MadeConfig(token_counts=tuple(c.num_tokens for c in derived.schema.modelled),
                       hidden=tuple(config.hidden), direct=config.direct)

    # --- plan DP-SGD (phase "main", jointly with the metadata releases) ----------
    import dp_accounting

    batch = config.batch_size or default_batch_size(rows_noisy)
    batch = min(batch, rows_noisy)
    meta_events = [dp_accounting.GaussianDpEvent(r.noise_multiplier)
                   for r in releases if r.phase == "main"]
    if dp:
        plan = make_plan(rows_noisy, batch, l2_clip=config.clip_norm, epochs=config.epochs,
                         target_epsilon=budget.main_epsilon, delta=budget.main_delta,
                         accountant=config.privacy.accountant, extra_events=meta_events,
                         num_devices=jax.local_device_count())
        tracker = budget_tracker(plan, budget.main_epsilon, budget.main_delta,
                                 accountant=config.privacy.accountant,
                                 extra_events=meta_events)
        max_steps = tracker.max_steps
    else:
        plan = make_plan(rows_noisy, batch, l2_clip=config.clip_norm, epochs=config.epochs,
                         noise_multiplier=1.0, num_devices=jax.local_device_count())
        max_steps = plan.steps
    q = plan.sampling_prob

    # --- the model and the step ----------------------------------------------------
    init_key = os_random_key() if config.seed is None else jax.random.key(config.seed)
    params = made.init_params(model, init_key)
    if config.init_from_marginals:
        params = made.with_output_bias(model, params, _bias_from_marginals(model, derived))
    schedule = optax.cosine_decay_schedule(config.learning_rate, max(plan.steps, 1))
    optimizer = optax.adam(schedule)
    loss_with_taps = made.make_loss_with_taps(model)
    if dp:
        step = DpSgdStep(dense_clipper(loss_with_taps, made.layer_masks(model)), optimizer,
                         l2_clip=plan.l2_clip, noise_multiplier=plan.noise_multiplier,
                         expected_batch_size=plan.expected_batch_size)
    else:
        step = PlainStep(masked_mean_loss(made.make_example_loss(model)), optimizer)
    opt_state = step.init(params)
    capacity = plan.capacity
    sample_rng = None if dp else np.random.default_rng(
        config.seed if config.seed is not None else int.from_bytes(os.urandom(8), "little"))
    data = np.asarray(tokens, dtype=np.int32)

    def chunks_for_step():
        return sample_chunks(rows, q, capacity, rng=sample_rng)

    first = chunks_for_step()
    compile_start = time.perf_counter()
    compile_seconds = step.compile(params, opt_state, gather(data, first[0]), first[0].mask)
    compile_seconds = max(compile_seconds, time.perf_counter() - compile_start)
    mean_loss = _loss_probe(loss_with_taps, model)

    train_start = time.perf_counter()
    deadline = None if config.max_minutes is None else train_start + 60 * config.max_minutes
    steps_taken = 0
    pending = first
    epoch_steps = max(1, round(1 / q))
    for t in range(max_steps):
        if deadline is not None and time.perf_counter() > deadline:
            break
        chunks = pending if pending is not None else chunks_for_step()
        pending = None
        pairs = [(gather(data, c), c.mask) for c in chunks]
        key = os_random_key() if config.seed is None else jax.random.fold_in(init_key, t + 1)
        if dp:
            params, opt_state = step(params, opt_state, pairs, key)
        else:
            params, opt_state = step(params, opt_state, pairs[0][0], pairs[0][1], key)
        steps_taken = t + 1
        if progress is not None:
            report_now = steps_taken % epoch_steps == 0 or steps_taken == max_steps
            loss = float(mean_loss(params, *pairs[0])) if report_now else None
            spent = None
            # ~0.1 s per PLD evaluation: every 5 epochs and at the end
            if dp and (steps_taken % (5 * epoch_steps) == 0 or steps_taken == max_steps):
                spent = budget.count_epsilon + epsilon(
                    plan.noise_multiplier, q, steps_taken, budget.main_delta,
                    accountant=config.privacy.accountant, extra_events=meta_events)
            progress(Progress(steps_taken, max_steps, steps_taken * q, loss, spent,
                              time.perf_counter() - train_start))
    train_seconds = time.perf_counter() - train_start

    statement = (_dp_statement(releases, plan, steps_taken, budget, config) if dp
                 else PrivacyStatement.non_private())
    info = GeneratorInfo(
        id=uuid.uuid4().hex,
        name=config.name or _default_name(typed.source),
        version=config.version,
        owner=config.owner or "owner",
        created_at=int(time.time()),
        expires_at=None if config.expires_days is None
        else int(time.time() + 86_400 * config.expires_days),
    )
    provenance = {"software": "hzg 0.1.0", "versions": _versions()}
    tensors = made.to_tensors(model, params)
    if config.calibrate_marginals:
        index = {c.name: i for i, c in enumerate(derived.schema.modelled)}
        tensors = calibrate_marginals(
            model, tensors, {index[name]: t for name, t in derived.marginals.items()},
            seed=config.seed)
    bundle = Bundle(info, ModelSpec(FAMILY, model.to_plain()), derived.schema.to_plain(),
                    statement.to_plain(), provenance, tensors)
    if report is not None:
        report.append(TrainReport(
            steps_planned=plan.steps, steps_taken=steps_taken,
            noise_multiplier=plan.noise_multiplier if dp else None, sampling_prob=q,
            expected_batch_size=plan.expected_batch_size, compile_seconds=compile_seconds,
            train_seconds=train_seconds, total_seconds=time.perf_counter() - started,
            stopped_early=steps_taken < max_steps))
    return bundle


def _bias_from_marginals(model: MadeConfig, derived: Any) -> np.ndarray:
    """Output bias = log of the released marginals (uniform where none): the
    model starts at the one-way marginals and spends its steps on dependencies.
    Post-processing of DP releases."""
    bias = np.zeros(model.vocab_size, dtype=np.float32)
    offsets = model.offsets
    for c, column in enumerate(derived.schema.modelled):
        target = derived.marginals.get(column.name)
        counts = None if target is None else np.maximum(target.counts, 0.0)
        if counts is None or counts.sum() <= 0:
            continue
        p = np.maximum(counts / counts.sum(), 1e-4)
        logp = np.log(p / p.sum())
        bias[offsets[c]:offsets[c + 1]] = logp - logp.mean()
    return bias


def _loss_probe(loss_with_taps, model: MadeConfig):
    """Mean loss over a chunk's real rows, for the progress display only."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def mean_loss(params, tokens, mask):
        taps = {layer: jnp.zeros((tokens.shape[0], p["w"].shape[1]), jnp.float32)
                for layer, p in params.items()}
        losses, _ = loss_with_taps(params, tokens, taps)
        weights = mask.astype(jnp.float32)
        return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)

    del model
    return mean_loss


def _dp_statement(releases: list[Release], plan: Any, steps_taken: int, budget: BudgetPlan,
                  config: TrainConfig) -> PrivacyStatement:
    """The ledger of what was actually spent, as the bundle's privacy statement.

    Phase "row-count" holds the Laplace count (pure ε, accountant δ 0); phase
    "main" holds the metadata releases and the DP-SGD steps actually taken,
    composed jointly at the main phase's accountant δ.
    """
    import dp_accounting

    from trainer.dp.accounting import PrivacyLedger, dp_accounting_version

    ledger = PrivacyLedger(accountant=config.privacy.accountant)
    ledger.begin_phase("row-count")
    count = releases[0]
    ledger.add(count.name, dp_accounting.LaplaceDpEvent(count.noise_multiplier), count.params)
    ledger.begin_phase("main")
    for release in releases[1:]:
        ledger.add(release.name, dp_accounting.GaussianDpEvent(release.noise_multiplier),
                   release.params, extra_delta=release.extra_delta)
    ledger.add("dp-sgd", plan.event_for(steps_taken), {
        "sampler": "poisson",
        "sampling_probability": plan.sampling_prob,
        "noise_multiplier": plan.noise_multiplier,
        "clip_norm": plan.l2_clip,
        "steps": steps_taken,
        "planned_steps": plan.steps,
        "expected_batch_size": plan.expected_batch_size,
        "overflow": "split into extra chunks, never dropped",
        "clipping": "per example, whole gradient",
        "normalizer": "expected batch size",
    })
    deltas = {"row-count": 0.0, "main": budget.main_delta}
    phases = tuple(
        Phase(name, float(ledger.phase_epsilon(name, d)), float(ledger.phase_delta(name, d)))
        for name, d in deltas.items()
    )
    columns = {r.name: r.columns for r in releases}
    kinds = {r.name: r.kind for r in releases}
    mechanisms = tuple(
        Mechanism(entry.name, entry.phase, kinds.get(entry.name, "poisson_subsampled_gaussian"),
                  dict(entry.params, **({"extra_delta": entry.extra_delta}
                                        if entry.extra_delta else {})),
                  tuple(columns.get(entry.name, ())))
        for entry in ledger.entries
    )
    total_eps = math.fsum(p.epsilon for p in phases)
    total_delta = math.fsum(p.delta for p in phases)
    if total_eps > config.privacy.epsilon * (1 + 1e-9):
        raise ConfigError(f"internal: spent epsilon {total_eps} exceeds the target")
    return PrivacyStatement(
        dp=True, epsilon=total_eps, delta=total_delta, accountant=config.privacy.accountant,
        accountant_library=f"dp-accounting {dp_accounting_version()}",
        phases=phases, mechanisms=mechanisms)


def _default_name(source: str) -> str:
    base = os.path.basename(source)
    for suffix in (".gz", ".csv", ".parquet", ".pq"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base or "generator"


