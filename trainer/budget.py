"""plan a privacy budget: epsilon for a noise level, or the noise for an epsilon

``hzg budget`` answers, before training, what a run will cost. Given the
table (``--data``) or a schema file that declares every column's kind and
value type (``--schema``), it plans the whole training exactly as
``hzg train`` does (``trainer.privacy_plan``): the first phase (row count
and, for columns whose type is not declared, the typing release), the
metadata releases (their number of histograms comes from the column kinds
and declarations) and DP-SGD, whose noise multiplier is calibrated so that
they all meet the budget::

    $ hzg budget --data adult.csv --epsilon 1
    ...
    noise multiplier   5.86 (calibrated for epsilon 1)

``hzg train`` computes the sampling rate from its *noisy* row count, so its
σ can differ from this one in the third digit.

Without a table or schema it prices DP-SGD alone (a building block: the
trainer's metadata mechanisms spend budget of their own). The run is
described as the trainer will run it: Poisson sampling at q = batch / rows,
``steps = int(epochs / q)``, the Gaussian mechanism per step, composed by
Google's dp-accounting (PLD by default, RDP on request)::

    $ hzg budget --rows 32561 --batch-size 256 --epochs 10 \\
          --noise-multiplier 1.0 --delta 1e-5
    sampling rate      0.00786217
    steps              1271
    noise multiplier   1 (given)
    epsilon            1.582
    delta              1e-05
    accountant         pld (dp-accounting 0.6.0)

Default δ: 1e-6 for tables under one million rows (always below 1/rows, as
δ must be: a δ near 1/rows allows a mechanism that publishes a random row).
Larger tables must give ``--delta`` explicitly.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from provisioner._checks import positive, positive_int, probability
from provisioner.errors import ConfigError

__all__ = ("DEFAULT_DELTA", "add_arguments", "default_delta", "plan_budget", "plan_training",
           "resolve_delta", "run")

DEFAULT_DELTA = 1e-6
_DEFAULT_DELTA_MAX_ROWS = 1_000_000


def default_delta(rows: int) -> float:
    """δ when the user gives none: 1e-6 below one million rows, else an error."""
    if rows >= _DEFAULT_DELTA_MAX_ROWS:
        raise ConfigError(
            f"with {rows} rows there is no default delta; give --delta explicitly "
            f"(well below 1/rows = {1 / rows:.3g}, e.g. {_suggest_delta(rows):g})."
        )
    return DEFAULT_DELTA


def resolve_delta(delta: float | None, rows: int) -> float:
    """The given δ, or the default, checked to be below 1/rows.

    ``hzg train`` checks it on its *noisy* row count (after the first
    phase), so that the outcome is DP; ``hzg budget`` on the count it is given.
    """
    if delta is None:
        delta = default_delta(rows)
    probability(delta=delta)
    if delta >= 1.0 / rows:
        raise ConfigError(
            f"--delta {delta:g} is not below 1/rows = {1 / rows:.3g}; such a delta "
            f"allows publishing a random row. Use e.g. {_suggest_delta(rows):g}."
        )
    return delta


def _suggest_delta(rows: int) -> float:
    # The largest power of ten at most 1/(10·rows): a hint, not a default.
    return 10.0 ** math.floor(math.log10(1.0 / (10.0 * rows)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``hzg budget``."""
    parser.add_argument(
        "--data",
        metavar="TABLE",
        help="plan the whole training of this table (CSV or Parquet), as hzg train does",
    )
    parser.add_argument(
        "--schema",
        metavar="FILE",
        help="schema file of declarations; alone, it must declare every column's "
             "kind and value_type (no values are read)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file of training settings (as for hzg train)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        metavar="N",
        help="rows in the table (the privacy unit is a row); default with --data: "
             "the table's",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="B",
        help="expected batch size; sampling rate q = B / N (whole training: default "
             "about rows / 13)",
    )
    parser.add_argument(
        "--epochs",
        type=float,
        metavar="E",
        help="passes over the data; steps = int(E / q) (whole training: default 20)",
    )
    noise = parser.add_mutually_exclusive_group(required=True)
    noise.add_argument(
        "--noise-multiplier",
        type=float,
        metavar="S",
        help="noise std over clip norm; prints the epsilon spent",
    )
    noise.add_argument(
        "--epsilon",
        type=float,
        metavar="T",
        help="target epsilon; prints the noise multiplier needed",
    )
    parser.add_argument(
        "--delta",
        type=float,
        metavar="D",
        help="target delta (default 1e-6 below 1,000,000 rows; must be < 1/rows)",
    )
    parser.add_argument(
        "--accountant",
        choices=("pld", "rdp"),
        default="pld",
        help="privacy accountant (default pld; rdp is looser)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def plan_budget(
    rows: int,
    batch_size: int,
    epochs: float,
    *,
    noise_multiplier: float | None = None,
    target_epsilon: float | None = None,
    delta: float | None = None,
    accountant: str = "pld",
) -> dict[str, Any]:
    """The figures ``hzg budget`` prints, as a dict (validated inputs).

    Privacy:
        Uses only public parameters; running it touches no data.
    """
    # Imported here: the accountant pulls in dp-accounting (and SciPy).
    from trainer.dp import accounting

    positive_int(rows=rows, batch_size=batch_size)
    if batch_size > rows:
        raise ConfigError(f"--batch-size {batch_size} is larger than --rows {rows}.")
    positive(epochs=epochs)
    if (noise_multiplier is None) == (target_epsilon is None):
        raise ConfigError("give exactly one of --noise-multiplier or --epsilon.")
    delta = resolve_delta(delta, rows)
    q = batch_size / rows
    steps = int(epochs / q)
    if steps < 1:
        raise ConfigError(
            f"--epochs {epochs:g} is less than one step at sampling rate {q:.4g}; "
            "raise --epochs or --batch-size."
        )
    if noise_multiplier is not None:
        positive(noise_multiplier=noise_multiplier)
        source = "given"
        eps = accounting.epsilon(
            noise_multiplier, q, steps, delta, accountant=accountant
        )
    else:
        positive(epsilon=target_epsilon)  # type: ignore[arg-type]
        source = "calibrated"
        noise_multiplier = accounting.calibrate_noise_multiplier(
            target_epsilon,
            delta,
            q,
            steps,
            accountant=accountant,  # type: ignore[arg-type]
        )
        eps = accounting.epsilon(
            noise_multiplier, q, steps, delta, accountant=accountant
        )
    return {
        "rows": rows,
        "batch_size": batch_size,
        "epochs": epochs,
        "sampling_rate": q,
        "steps": steps,
        "noise_multiplier": noise_multiplier,
        "noise_multiplier_source": source,
        "target_epsilon": target_epsilon,
        "epsilon": eps,
        "delta": delta,
        "accountant": accountant,
        "dp_accounting_version": accounting.dp_accounting_version(),
        "sampler": "poisson",
        "neighboring_relation": accounting.NEIGHBORING_RELATION,
    }


class _DeclaredColumn:
    """A column known only from its declaration: what ``plan_needs`` reads."""

    def __init__(self, name: str, kind: str, value_type: str) -> None:
        self.name, self.kind, self.value_type = name, kind, value_type


class _DeclaredTable:
    def __init__(self, columns: list[_DeclaredColumn]) -> None:
        self.columns = columns


# the value types that change which histograms a kind needs
_VALUE_TYPES = {"categorical": ("string", "boolean", "integer"),
                "text": ("string",),
                "numeric": ("integer", "float"),
                "id": ("integer", "string"),
                "datetime": ("datetime",)}


def _declared_table(declared: Any) -> _DeclaredTable:
    """Column kinds and value types from a schema file alone (no values read)."""
    columns, problems = [], []
    for name, d in declared.columns.items():
        if d.drop:
            continue
        if d.kind is None:
            problems.append(f"{name!r} has no kind")
            continue
        value_type = d.value_type or {"datetime": "datetime", "text": "string"}.get(d.kind)
        if value_type not in _VALUE_TYPES[d.kind]:
            problems.append(f"{name!r} needs value_type = one of {_VALUE_TYPES[d.kind]}")
            continue
        columns.append(_DeclaredColumn(name, d.kind, value_type))
    if problems:
        raise ConfigError(
            f"{declared.source} cannot be planned without the table: " + "; ".join(problems)
            + " (declare them, or pass --data TABLE)")
    if not columns:
        raise ConfigError(f"{declared.source} declares no column; pass --data TABLE")
    return _DeclaredTable(columns)


def plan_training(
    config: Any,
    *,
    rows: int | None = None,
    data: Any = None,
    declarations: Any = None,
    num_devices: int = 1,
) -> Any:
    """The :class:`~trainer.privacy_plan.PrivacyPlan` ``hzg train`` would follow.

    Args:
      config: a :class:`~trainer.config.TrainConfig` (budget and recipe).
      rows: the row count (default: the table's); it stands in for the
        noisy count the trainer will release.
      data: the table (path or DataFrame), typed as the trainer types it.
      declarations: a schema file path or parsed declarations.
      num_devices: devices the trainer will shard over (sets the capacity
        only; σ and the steps do not depend on it).

    Privacy:
      With ``data`` the table is read on-prem to learn its column kinds and
      size, as ``hzg train`` does; nothing is released.
    """
    from trainer.column_types import TypingNeeds, typing_needs
    from trainer.declarations import Declarations
    from trainer.privacy_plan import plan_first_phase, plan_main_phase, plan_privacy
    from trainer.releases import plan_needs

    declared = declarations if isinstance(declarations, Declarations) else (
        Declarations.empty() if declarations is None else Declarations.load(declarations))
    typing = TypingNeeds({})
    if data is not None:
        from trainer.intake import exact_types
        from trainer.load import read_table

        raw = read_table(data, drop=declared.dropped)
        declared.check_columns(raw.names + declared.dropped)
        # the types train would decide under DP, here read exactly (on-prem)
        table: Any = exact_types(raw, declared)
        typing = typing_needs(raw, declared)
        rows = raw.num_rows if rows is None else rows
    else:
        table = _declared_table(declared)
    if rows is None:
        raise ConfigError("give --rows N (or --data TABLE to count them)")
    positive_int(rows=rows)
    if not config.privacy.enabled:
        raise ConfigError("a non-private run spends no budget; there is nothing to plan")
    config = config.replace(privacy={"delta": resolve_delta(config.privacy.delta, rows)})
    first = plan_first_phase(config.privacy, typing)
    main = plan_main_phase(config.privacy, first, plan_needs(table, declared))
    return plan_privacy(config, main, rows, first=first, num_devices=num_devices)


def _training_figures(plan: Any) -> dict[str, Any]:
    from trainer.dp import accounting

    dpsgd = plan.dpsgd
    spent = plan.first.epsilon + dpsgd.epsilon(
        plan.main.delta, steps=plan.max_steps, accountant=plan.accountant,
        extra_events=plan.main.metadata_events)
    return {
        "plan": "training",
        "rows": dpsgd.num_examples,
        "batch_size": dpsgd.expected_batch_size,
        "sampling_rate": dpsgd.sampling_prob,
        "steps": plan.max_steps,
        "noise_multiplier": dpsgd.noise_multiplier,
        "noise_multiplier_source": "calibrated",
        "target_epsilon": plan.epsilon,
        "epsilon": spent,
        "delta": plan.delta,
        "accountant": plan.accountant,
        "dp_accounting_version": accounting.dp_accounting_version(),
        "sampler": dpsgd.batch_selection.name,
        "neighboring_relation": dpsgd.neighboring_relation,
        "privacy_plan": plan.to_plain(),
    }


def _render_training(figures: dict[str, Any]) -> str:
    plan = figures["privacy_plan"]
    first, main = plan["phases"]
    z = main["metadata_noise_multipliers"]
    meta = ", ".join(f"{stage.replace('_', ' ')} noise multiplier {value:.4g}"
                     for stage, value in z.items() if value is not None)
    rows = [
        ("plan", "the whole training, as hzg train runs it"),
        ("rows", f"{figures['rows']} (train uses its noisy count, so sigma may differ "
                 "in the 3rd digit)"),
        ("phase first", f"epsilon {first['epsilon']:.4g}, delta {first['delta']:.3g} "
                        "(Laplace row count" + (" and the typing release, composed jointly)"
                                                if "cell-classes" in first["releases"]
                                                else ")")),
        ("phase main", f"epsilon {main['epsilon']:.4g}, delta {main['delta']:.3g} "
                       f"({meta + ' and ' if meta else ''}DP-SGD, composed jointly)"),
        ("sampling rate", f"{figures['sampling_rate']:.6g}"),
        ("steps", str(figures["steps"])),
        ("noise multiplier",
         f"{figures['noise_multiplier']:.4g} (calibrated for epsilon "
         f"{figures['target_epsilon']:g})"),
        ("epsilon", f"{figures['epsilon']:.5g} in all (phases add up)"),
        ("delta", f"{figures['delta']:g}"),
        ("accountant",
         f"{figures['accountant']} (dp-accounting {figures['dp_accounting_version']})"),
    ]
    return "\n".join(f"{name:<18} {value}" for name, value in rows)


def _render(figures: dict[str, Any]) -> str:
    sigma = figures["noise_multiplier"]
    if figures["noise_multiplier_source"] == "given":
        sigma_line = f"{sigma:.6g} (given)"
        eps_line = f"{figures['epsilon']:.4g}"
    else:
        sigma_line = (
            f"{sigma:.4g} (calibrated for epsilon {figures['target_epsilon']:g})"
        )
        eps_line = f"{figures['epsilon']:.5g} (at the calibrated noise multiplier)"
    rows = [
        ("sampling rate", f"{figures['sampling_rate']:.6g}"),
        ("steps", str(figures["steps"])),
        ("noise multiplier", sigma_line),
        ("epsilon", eps_line),
        ("delta", f"{figures['delta']:g}"),
        (
            "accountant",
            (
                f"{figures['accountant']} "
                f"(dp-accounting {figures['dp_accounting_version']})"
            ),
        ),
    ]
    return "\n".join(f"{name:<18} {value}" for name, value in rows)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``hzg budget``."""
    if args.data or args.schema or args.config:
        figures = _run_training(args)
        text = _render_training(figures)
    else:
        missing = [flag for flag, value in (("--rows", args.rows),
                                            ("--batch-size", args.batch_size),
                                            ("--epochs", args.epochs)) if value is None]
        if missing:
            raise ConfigError(
                f"give {', '.join(missing)} (or --data TABLE / --schema FILE to plan the "
                "whole training)")
        figures = plan_budget(
            args.rows,
            args.batch_size,
            args.epochs,
            noise_multiplier=args.noise_multiplier,
            target_epsilon=args.epsilon,
            delta=args.delta,
            accountant=args.accountant,
        )
        text = _render(figures)
        print("hzg: note: these figures are DP-SGD's alone; hzg train also spends budget "
              "on the row count and metadata (give --data or --schema to plan it all)",
              file=sys.stderr)
    if args.json:
        json.dump(figures, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print(text)
    return 0


def _run_training(args: argparse.Namespace) -> dict[str, Any]:
    from trainer.config import TrainConfig

    if args.noise_multiplier is not None:
        raise ConfigError("hzg train calibrates the noise for an epsilon; plan the whole "
                          "training with --epsilon, not --noise-multiplier")
    positive(epsilon=args.epsilon)
    config = TrainConfig.from_toml(args.config) if args.config else TrainConfig()
    privacy: dict[str, Any] = {"epsilon": args.epsilon, "accountant": args.accountant}
    if args.delta is not None:
        privacy["delta"] = args.delta
    changes: dict[str, Any] = {}
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    try:
        config = config.replace(privacy=privacy, **changes)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
    plan = plan_training(config, rows=args.rows, data=args.data, declarations=args.schema)
    return _training_figures(plan)
