"""``train(table, config) -> Bundle``: a table in, a generator's bundle out.

The flow, and where privacy is spent (``trainer.privacy_plan`` fixes every
noise scale before values are read):

1. read the table's cells (``trainer.load``);
2. **phase "first"** (``trainer.intake``): a Laplace row count and the typing
   release (noisy counts of each undeclared column's cell classes); the
   column types are decided from them and every cell is parsed on its own
   under its column's type (``trainer.column_types``);
3. plan phase "main": metadata noise scales, then the DP-SGD execution plan
   (``trainer.dp.plan``) from the noisy count, its noise multiplier
   calibrated so that metadata and DP-SGD together meet the remaining
   budget (one joint PLD/RDP composition);
4. **stage A and B metadata** (``trainer.releases``, assembled into the
   column schema by ``trainer.derive``) and the token encoding;
5. **DP-SGD** (``trainer.fit``) on the MADE model: Poisson batches,
   per-example clipping on the fast dense path, one Gaussian noise draw per
   step, Adam with cosine decay; the budget tracker stops at the planned
   step count (never on the private loss), ``max_minutes`` may stop earlier;
6. declared dependencies pinned, undeclared ones found and pinned
   (``trainer.dependencies``: candidates from the model, a noisy check of
   each), one-way marginals calibrated to the released counts;
7. what was actually spent becomes the bundle's privacy statement
   (``trainer.statement``).

Steps 1 to 4 are :func:`prepare_run`, which the empirical audit reuses.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from provisioner.bundle import Bundle, GeneratorInfo, ModelSpec
from provisioner.models.made import FAMILY, MadeConfig
from provisioner.privacy import PrivacyStatement
from trainer.calibrate import calibrate_marginals
from trainer.config import TrainConfig, default_batch_size
from trainer.declarations import Declarations
from trainer.column_types import TypedTable
from trainer.dependencies import find_dependencies, pin_dependencies
from trainer.derive import derive_metadata
from trainer.encode import encode_table
from trainer.intake import MIN_ROWS, intake
from trainer.privacy_plan import PrivacyPlan, plan_main_phase, plan_privacy
from trainer.releases import MetadataNoise, MetadataOptions, Release, plan_needs
from trainer.statement import privacy_statement

# The bundle's default name: not the input file's name, which would ship a
# fact about the source that no mechanism covers (pass a name to set one).
DEFAULT_NAME = "generator"


@dataclasses.dataclass(frozen=True)
class Progress:
    """What the loop reports after each step (for progress bars)."""

    step: int
    steps: int
    epoch: float
    loss: float | None
    epsilon: float | None
    elapsed: float
    milestone: bool = False  # an epoch ended, or the last step


@dataclasses.dataclass(frozen=True)
class TrainReport:
    """Facts about a finished run, for the caller (not stored in the bundle).

    ``noise_multiplier``, ``clip_norm`` and ``expected_batch_size`` are read
    back from the DP-SGD step that ran, so that they can be checked against
    what the privacy statement says. ``notices`` are lines for the owner
    from noisy counts (a column the budget could not type, cells that did
    not parse).
    """

    steps_planned: int
    steps_taken: int
    noise_multiplier: float | None
    sampling_prob: float
    expected_batch_size: float
    compile_seconds: float
    train_seconds: float
    total_seconds: float
    stopped_early: bool
    notices: tuple[str, ...] = ()
    clip_norm: float | None = None


def _exact_noise() -> MetadataNoise:
    """Noise scales of a non-private run: none (metadata read exactly)."""
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
    show_loss: bool = False,
    encoding: str = "utf-8",
    null_values: Sequence[str] = ("",),
) -> Bundle:
    """Train a generator on ``table`` and return its (unsigned) bundle content.

    Args:
      table: a CSV/Parquet path, a pandas DataFrame, or a
        :class:`~trainer.load.RawTable`.
      config: budget and recipe (default: ε = 1, the adult-tuned recipe).
      declarations: the owner's public declarations: a schema file's path, or
        parsed :class:`~trainer.declarations.Declarations`.
      progress: called after each step with a :class:`Progress`.
      report: if given, a :class:`TrainReport` is appended to it.
      show_loss: put the training loss in :class:`Progress`. The loss is
        computed on real rows and is NOT differentially private: for the
        operator's eyes only, off by default.
      encoding, null_values: how CSV text is read.

    Returns:
      A :class:`provisioner.Bundle`; call ``bundle.save(path, signing_key)``.
    """
    from trainer.fit import Randomness, fit
    from trainer.models import made

    started = time.perf_counter()
    config = config or TrainConfig()
    randomness = Randomness(None if config.privacy.enabled else config.seed)
    run = prepare_run(table, config, declarations=declarations, randomness=randomness,
                      encoding=encoding, null_values=null_values)
    config, derived, model, dpsgd, plan = run.config, run.derived, run.model, run.dpsgd, run.plan
    dp = plan is not None

    init_key = randomness.init_key()
    params, step, loss_with_taps = made_training(model, config, derived, dpsgd, init_key)
    on_step = None if progress is None else _progress_reporter(
        progress, _loss_probe(loss_with_taps) if show_loss else None, dpsgd, plan)
    result = fit(dpsgd, step, run.tokens, params, max_steps=run.max_steps,
                 randomness=randomness, init_key=init_key,
                 max_seconds=None if config.max_minutes is None else 60 * config.max_minutes,
                 on_step=on_step)
    params, steps_taken = result.params, result.steps_taken
    q = dpsgd.sampling_prob

    tensors = made.to_tensors(model, params)
    index = {c.name: i for i, c in enumerate(derived.schema.modelled)}
    tensors = pin_dependencies(model, tensors, index, derived.dependencies)
    found = find_dependencies(
        model, tensors, run.tokens, list(index), derived.dependencies,
        checks=plan.main.dependency_checks if dp else config.privacy.dependency_checks,
        sigma=plan.main.dependency_sigma if dp else 0.0,
        rows=float(derived.schema.rows if dp else len(run.tokens)),
        noise=randomness.noise_source(), rng=np.random.default_rng(config.seed))
    tensors = pin_dependencies(model, tensors, index, found.dependencies)
    releases = run.releases + ((found.release,) if found.release is not None else ())
    statement = (privacy_statement(plan, releases, steps_taken) if dp
                 else PrivacyStatement.non_private())
    typed = run.typed
    info = GeneratorInfo(
        id=uuid.uuid4().hex,
        name=config.name or DEFAULT_NAME,
        version=config.version,
        owner=config.owner or "owner",
        created_at=int(time.time()),
        expires_at=None if config.expires_days is None
        else int(time.time() + 86_400 * config.expires_days),
    )
    provenance = {"software": "hzg 0.1.0", "versions": _versions()}
    if config.calibrate_marginals:
        tensors = calibrate_marginals(
            model, tensors, {index[name]: t for name, t in derived.marginals.items()
                             if name not in found.dependencies},
            seed=config.seed)
    bundle = Bundle(info, ModelSpec(FAMILY, model.to_plain()), derived.schema.to_plain(),
                    statement.to_plain(), provenance, tensors)
    if report is not None:
        report.append(TrainReport(
            steps_planned=dpsgd.steps, steps_taken=steps_taken,
            noise_multiplier=step.noise_multiplier if dp else None, sampling_prob=q,
            expected_batch_size=step.expected_batch_size if dp else dpsgd.expected_batch_size,
            compile_seconds=result.compile_seconds, train_seconds=result.train_seconds,
            total_seconds=time.perf_counter() - started, stopped_early=result.stopped_early,
            notices=typed.notices + derived.notices + found.notices,
            clip_norm=step.l2_clip if dp else None))
    return bundle


@dataclasses.dataclass(frozen=True)
class PreparedRun:
    """A run up to DP-SGD: the table, the metadata releases, the plan.

    Attributes:
      config: the config with δ resolved.
      typed: the typed table.
      releases: the metadata releases that ran (empty without DP).
      derived: the column schema and what training needs from the releases.
      tokens: int32 ``(rows, columns)`` training tokens.
      model: the MADE configuration.
      plan: the privacy plan (None for a non-private run).
      dpsgd: the DP-SGD execution plan (batch selection and steps only when
        not private).
      max_steps: the steps the run may take.
    """

    config: TrainConfig
    typed: TypedTable
    releases: tuple[Release, ...]
    derived: Any
    tokens: np.ndarray
    model: MadeConfig
    plan: PrivacyPlan | None
    dpsgd: Any
    max_steps: int


def prepare_run(table: Any, config: TrainConfig, *, declarations: Any = None,
                randomness: Any = None, metadata_noise: MetadataNoise | None = None,
                num_devices: int | None = None, encoding: str = "utf-8",
                null_values: Sequence[str] = ("",)) -> PreparedRun:
    """Steps 1 to 4 of the module docstring: everything before DP-SGD.

    Args:
      table, config, declarations, encoding, null_values: as for :func:`train`.
      randomness: a :class:`~trainer.fit.Randomness` (default: OS).
      metadata_noise: replaces the planned metadata noise (the audit's
        "metadata read from the raw data" control; never in training).
      num_devices: devices to shard the batch over (default: all local).
    """
    import jax

    from trainer.fit import Randomness

    randomness = randomness or Randomness()
    declared = declarations if isinstance(declarations, Declarations) else (
        Declarations.empty() if declarations is None else Declarations.load(declarations))
    dp = config.privacy.enabled
    source = randomness.noise_source()
    taken = intake(table, config, declared, source, encoding=encoding,
                   null_values=null_values)
    typed, rows_noisy, first = taken.table, taken.rows, taken.plan
    needs = plan_needs(typed, declared)
    num_devices = jax.local_device_count() if num_devices is None else num_devices
    releases: list[Release] = list(taken.first.releases)
    if dp:
        config = config.replace(privacy={"delta": taken.delta})
        main = plan_main_phase(config.privacy, first, needs)
        if metadata_noise is not None:
            main = dataclasses.replace(main, metadata_noise=metadata_noise)
        rows_noisy = max(rows_noisy, MIN_ROWS)  # post-processing keeps q sane
        noise = main.metadata_noise
    else:
        noise = _exact_noise()
    derived = derive_metadata(typed, declared, noise, _options(config), rows_noisy, source,
                              dp=dp)
    releases.extend(derived.releases if dp else ())
    tokens = np.asarray(encode_table(typed, derived.schema, derived.null_fallback),
                        dtype=np.int32)
    model = MadeConfig(token_counts=tuple(c.num_tokens for c in derived.schema.modelled),
                       hidden=tuple(config.hidden), direct=config.direct)
    # DP-SGD is planned in phase "main", jointly with the metadata releases;
    # q comes from the released row count, the sampler draws from the rows.
    if dp:
        plan = plan_privacy(config, main, rows_noisy, first=first, num_devices=num_devices)
        dpsgd, max_steps = plan.dpsgd, plan.max_steps
    else:
        plan = None
        dpsgd = _plain_plan(config, rows_noisy, num_devices)
        max_steps = dpsgd.steps
    return PreparedRun(config, typed, tuple(releases), derived, tokens, model, plan, dpsgd,
                       max_steps)


def _options(config: TrainConfig) -> MetadataOptions:
    return MetadataOptions(numeric_bins=config.numeric_bins, fine_cells=config.fine_cells,
                           max_categories=config.max_categories)


def _plain_plan(config: TrainConfig, rows: int, num_devices: int) -> Any:
    """Batch selection and steps of a non-private run (σ unused)."""
    from trainer.dp.plan import make_plan

    batch = min(config.batch_size or default_batch_size(rows), rows)
    return make_plan(rows, batch, l2_clip=config.clip_norm, epochs=config.epochs,
                     noise_multiplier=1.0, num_devices=num_devices)


@dataclasses.dataclass(frozen=True)
class MadeRecipe:
    """What DP-SGD trains: initial parameters, the clipper and the optimizer.

    The recipe: output biases at the released marginals and the weights into
    the logits at zero (training starts from independent columns), Adam with
    cosine decay over the planned steps, the dense fast clipping path.
    """

    params: Any
    clipper: Any  # ClippedSumFn: per-example gradients clipped and summed
    optimizer: Any  # optax transformation applied after the noise
    loss_with_taps: Any
    example_loss: Any


def made_recipe(model: MadeConfig, config: TrainConfig, derived: Any, plan: Any,
                init_key: Any) -> MadeRecipe:
    import optax

    from trainer.dp.dense import dense_clipper
    from trainer.models import made

    params = made.init_params(model, init_key, independent=config.init_independent)
    if config.init_from_marginals:
        params = made.with_output_bias(model, params, _bias_from_marginals(model, derived))
    optimizer = optax.adam(optax.cosine_decay_schedule(config.learning_rate,
                                                       max(plan.steps, 1)))
    loss_with_taps = made.make_loss_with_taps(model)
    return MadeRecipe(params, dense_clipper(loss_with_taps, made.layer_masks(model)),
                      optimizer, loss_with_taps, made.make_example_loss(model))


def made_training(model: MadeConfig, config: TrainConfig, derived: Any, plan: Any,
                  init_key: Any) -> tuple[Any, Any, Any]:
    """Initial MADE parameters, the step that trains them, and the taps loss."""
    from trainer.dp.step import PlainStep, masked_mean_loss
    from trainer.fit import dp_step

    recipe = made_recipe(model, config, derived, plan, init_key)
    if config.privacy.enabled:
        step = dp_step(plan, recipe.clipper, recipe.optimizer)
    else:
        step = PlainStep(masked_mean_loss(recipe.example_loss), recipe.optimizer)
    return recipe.params, step, recipe.loss_with_taps


def _progress_reporter(progress: Callable[[Progress], None], mean_loss: Any, dpsgd: Any,
                       plan: PrivacyPlan | None) -> Callable[[Any], None]:
    """Loss (when ``mean_loss`` is given) once per epoch; ε spent every 5 epochs
    and at the end (~0.1 s each)."""
    from trainer.dp.accounting import epsilon

    q = dpsgd.sampling_prob
    epoch_steps = max(1, round(1 / q))

    def report(s: Any) -> None:
        end = s.step == s.max_steps
        milestone = s.step % epoch_steps == 0 or end
        loss = float(mean_loss(s.params, *s.pairs[0])) if (
            milestone and mean_loss is not None) else None
        spent = None
        if plan is not None and (s.step % (5 * epoch_steps) == 0 or end):
            spent = plan.first.epsilon + epsilon(
                dpsgd.noise_multiplier, q, s.step, plan.main.delta,
                accountant=plan.accountant, extra_events=plan.main.metadata_events)
        progress(Progress(s.step, s.max_steps, s.step * q, loss, spent, s.elapsed,
                          milestone=milestone))

    return report


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


def _loss_probe(loss_with_taps):
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

    return mean_loss
